"""Field types several wire modules share (a rule said once, named where it applies).

The validators are exported too, so a field can stack them: ``Annotated[str, NOT_BLANK, NO_NUL]``
(an ``Annotated`` type nested as another's metadata would be ignored).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = ["EMPTY_IS_ABSENT", "NOT_BLANK", "NO_NUL", "NoNul", "NonBlank", "NonBlankPath"]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("nul", "must not contain NUL characters")
    return value


NOT_BLANK = AfterValidator(_not_blank)
NO_NUL = AfterValidator(_no_nul)
#: a string with something besides whitespace ("" and "  " are a 400 naming the field)
NonBlank = Annotated[str, NOT_BLANK]
#: a string without NUL (the file system cannot hold one)
NoNul = Annotated[str, NO_NUL]
#: a path or a file-name query: something to look for, that a file system can hold
NonBlankPath = Annotated[str, NOT_BLANK, NO_NUL]
#: a query parameter sent empty (``?kind=``) means "not given", as forms and clients send it
EMPTY_IS_ABSENT = BeforeValidator(lambda value: None if value == "" else value)

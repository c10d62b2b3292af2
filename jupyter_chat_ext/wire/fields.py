"""Field types several wire modules share (a rule said once, named where it applies)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

__all__ = ["NonBlank"]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    return value


#: a string with something besides whitespace ("" and "  " are a 400 naming the field)
NonBlank = Annotated[str, AfterValidator(_not_blank)]

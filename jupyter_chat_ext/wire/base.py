"""The two bases of every wire shape, and the one place a ValidationError becomes a 400.

``Body`` is what a client sends: strict types (``"1"`` is not an integer, ``true`` is not a
number), unknown fields refused, string lengths and ranges declared on the field. ``Query`` is a
query string: values arrive as text, so it converts them, and ignores parameters it does not
declare (Jupyter's own ``token`` and ``_xsrf`` ride along). ``Answer`` is what the server sends:
it names the fields clients rely on and allows more, so adding a field never breaks a client or
the fuzzer's schema check.

What JSON parsing already refuses before a model sees the data (depth past 64, lone surrogates,
NaN/Infinity, oversized bodies) stays in ``server/bodies.py``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jupyter_chat_ext.errors import InvalidInput, PayloadTooLarge

M = TypeVar("M", bound=BaseModel)

#: pydantic error types that mean "too big" (413) rather than "malformed" (400)
_TOO_LARGE = {"string_too_long", "too_long"}
#: the house wording for the common type errors (the messages clients and tests already know)
_MUST_BE = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "model_type": "must be an object",
}


class Body(BaseModel):
    """A request body: strict types, no unknown fields."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def given(self) -> dict[str, Any]:
        """The fields the client sent (PATCH tells "not given" from null with this)."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class Query(BaseModel):
    """Query-string parameters: text converted to the declared types, undeclared ones ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Answer(BaseModel):
    """A response shape: the fields clients rely on; more may come."""

    model_config = ConfigDict(extra="allow")


def field_path(loc: tuple[Any, ...]) -> str:
    """``("context", 0, "label")`` -> ``context[0].label``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def describe(exc: ValidationError, where: str = "") -> InvalidInput:
    """The first error of a ValidationError as our typed 400 (413 for a too-long value).

    The code is ``invalid_input``, as the hand-written checks answered before the wire models.
    """
    err = exc.errors(include_url=False)[0]
    path = field_path(tuple(err["loc"]))
    name = f"{where} {path!r}".strip() if where else repr(path)
    kind = err["type"]
    if kind == "extra_forbidden":
        return InvalidInput(f"{name} is not a known field")
    if kind == "missing":
        return InvalidInput(f"{name} is required")
    if kind in _MUST_BE:
        return InvalidInput(f"{name} {_MUST_BE[kind]}")
    message = f"{name}: {err['msg'][0].lower()}{err['msg'][1:]}"
    if kind in _TOO_LARGE:
        return PayloadTooLarge(message)
    return InvalidInput(message)


def parse(model: type[M], data: Any, *, where: str = "", context: dict[str, Any] | None = None) -> M:
    """``data`` validated as ``model``; InvalidInput (400) naming the field path otherwise."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise describe(exc, where) from None


class ErrorBody(Answer):
    code: str = Field(description="a stable machine-readable code (errors.py)")
    message: str


class Error(Answer):
    """Every error of /chat-ext: ``{"error": {"code", "message"}}``."""

    error: ErrorBody

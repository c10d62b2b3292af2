"""Generation options: one validated object shared by every door.

Their names and ranges are declared once, in ``wire/chat.py``'s ``GenerationParams`` (the HTTP
bodies embed it and the OpenAPI document describes it); every door that reaches the engine
without HTTP (the kernel, the widgets, ``/v1`` after translation) is checked here against that same
model, so a bad option is the same 400 ``invalid_option`` naming it, whichever door it came by.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pydantic import ValidationError

from ..errors import InvalidInput
from ..wire.base import describe, field_path
from ..wire.chat import MAX_INT_OPTION, MAX_STOP_LENGTH, MAX_STOP_SEQUENCES, GenerationParams

__all__ = ["MAX_INT_OPTION", "MAX_STOP_LENGTH", "MAX_STOP_SEQUENCES", "GenerationOptions", "checked"]


@dataclass
class GenerationOptions:
    max_tokens: int | None = None  # None -> Settings.default_max_tokens
    temperature: float = 0.0  # 0 -> greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 -> off
    repetition_penalty: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None

    @classmethod
    def from_any(cls, value: GenerationOptions | dict[str, Any] | None) -> GenerationOptions:
        if value is None:
            return cls()
        if isinstance(value, GenerationOptions):
            value.validate()
            return value
        given = {k: v for k, v in checked(value).given().items() if v is not None}
        if isinstance(given.get("stop"), str):
            given["stop"] = [given["stop"]]
        return cls(**given)

    def validate(self) -> None:
        checked(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checked(value: Any) -> GenerationParams:
    """``value`` as GenerationParams; InvalidInput ``invalid_option`` naming the option otherwise."""
    if isinstance(value, GenerationParams):  # validated at a door already
        return value
    if not isinstance(value, dict):
        raise InvalidInput("generation options must be an object", code="invalid_option")
    try:
        return GenerationParams.model_validate(value)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        if err["type"] == "extra_forbidden":
            known = ", ".join(sorted(f.name for f in fields(GenerationOptions)))
            name = field_path(tuple(err["loc"]))
            raise InvalidInput(
                f"unknown generation option {name!r} (known: {known})", code="invalid_option"
            ) from None
        raise InvalidInput(_said(exc, err), code="invalid_option") from None


#: pydantic's range errors, said the way the options' messages always were ("top_p must be > 0")
_RANGES = {"greater_than_equal": ("ge", ">="), "less_than_equal": ("le", "<="), "greater_than": ("gt", ">")}
_RANGES["less_than"] = ("lt", "<")


def _said(exc: ValidationError, err: Any) -> str:
    """The first error, the option named first and unquoted: ``temperature must be >= 0``."""
    name = field_path(tuple(err["loc"]))
    if err["type"] in _RANGES:
        key, sign = _RANGES[err["type"]]
        bound = err["ctx"][key]
        return (
            f"{name} must be {sign} {bound:g}"
            if isinstance(bound, float)
            else f"{name} must be {sign} {bound}"
        )
    message = describe(exc).message  # the wire's wording: "'top_k' must be an integer"
    return name + message[len(repr(name)) :] if message.startswith(repr(name)) else message

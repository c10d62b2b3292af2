"""Generation options: one validated object shared by every door."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import InvalidInput

MAX_STOP_SEQUENCES = 8
MAX_STOP_LENGTH = 200
#: the largest integer option a backend takes: llama.cpp and torch read them as C ints
MAX_INT_OPTION = 2**31 - 1


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
        if not isinstance(value, dict):
            raise InvalidInput("generation options must be an object")
        known = {f.name for f in fields(cls)}
        aliases = {"max_new_tokens": "max_tokens", "max_completion_tokens": "max_tokens"}
        data: dict[str, Any] = {}
        for key, val in value.items():
            key = aliases.get(key, key)
            if key not in known:
                raise InvalidInput(
                    f"unknown generation option '{key}' (known: {', '.join(sorted(known))})",
                    code="invalid_option",
                )
            if val is not None:
                data[key] = val
        if isinstance(data.get("stop"), str):
            data["stop"] = [data["stop"]]
        opts = cls(**data)
        opts.validate()
        return opts

    def validate(self) -> None:
        def bad(msg: str) -> InvalidInput:
            return InvalidInput(msg, code="invalid_option")

        def shown(val: Any) -> str:  # a 10**309 in an error message would be 310 digits long
            text = repr(val)
            return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"

        def number(name: str, val: Any) -> float:
            if isinstance(val, bool) or not isinstance(val, (int, float)):
                raise bad(f"{name} must be a finite number, got {shown(val)}")
            # an int past float's range (10**309) raises OverflowError in math.isfinite / float()
            if isinstance(val, int) and abs(val) > 2**53:
                raise bad(f"{name} is out of range, got {shown(val)}")
            if not math.isfinite(val):
                raise bad(f"{name} must be a finite number, got {shown(val)}")
            return float(val)

        def integer(name: str, val: Any) -> int:
            if isinstance(val, bool) or not isinstance(val, int):
                raise bad(f"{name} must be an integer, got {shown(val)}")
            return val

        if self.max_tokens is not None and not 1 <= integer("max_tokens", self.max_tokens) <= MAX_INT_OPTION:
            raise bad(f"max_tokens must be in [1, {MAX_INT_OPTION}], got {shown(self.max_tokens)}")
        if number("temperature", self.temperature) < 0:
            raise bad(f"temperature must be >= 0, got {self.temperature}")
        if self.temperature > 5:
            raise bad(f"temperature must be <= 5, got {self.temperature}")
        if not 0 < number("top_p", self.top_p) <= 1:
            raise bad(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= integer("top_k", self.top_k) <= MAX_INT_OPTION:
            raise bad(f"top_k must be in [0, {MAX_INT_OPTION}], got {shown(self.top_k)}")
        if not 0 < number("repetition_penalty", self.repetition_penalty) <= 10:
            raise bad(f"repetition_penalty must be in (0, 10], got {self.repetition_penalty}")
        if not isinstance(self.stop, list) or not all(isinstance(s, str) and s for s in self.stop):
            raise bad("stop must be a list of non-empty strings")
        if len(self.stop) > MAX_STOP_SEQUENCES or any(len(s) > MAX_STOP_LENGTH for s in self.stop):
            raise bad(f"at most {MAX_STOP_SEQUENCES} stop sequences of <= {MAX_STOP_LENGTH} chars")
        if self.seed is not None and not (0 <= integer("seed", self.seed) < 2**63):
            raise bad(f"seed must be in [0, 2**63), got {shown(self.seed)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

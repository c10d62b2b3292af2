"""schemathesis hooks for fuzzing our API (loaded with SCHEMATHESIS_HOOKS=st_hooks).

Negative-mode generation turns ``max_tokens: {maximum: 8}`` into values such as 2**40, which the
server rightly accepts (the answer then runs to the end of the model's context): a few minutes of
decoding per case on a CPU and no new coverage. Every generation length in a request body is
clamped to 8 just before the call; invalid types and values below 1 are left as generated, so the
validation paths are still fuzzed.
"""

from __future__ import annotations

from typing import Any

import schemathesis

CAP = 8
KEYS = ("max_tokens", "max_new_tokens", "max_completion_tokens")


def clamp(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in KEYS and isinstance(item, (int, float)) and not isinstance(item, bool) and item > CAP:
                item = CAP
            out[key] = clamp(item)
        return out
    if isinstance(value, list):
        return [clamp(item) for item in value]
    return value


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    if isinstance(case.body, (dict, list)):
        case.body = clamp(case.body)

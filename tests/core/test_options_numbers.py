"""Every numeric generation option takes only finite values in range (issue 19): 10**309 raised
OverflowError inside math.isfinite (a 500 on sessions create/patch, chat, regenerate, continue)."""

from __future__ import annotations

import math

import pytest

from jupyter_chat_ext.chat import inputs
from jupyter_chat_ext.engine.options import GenerationOptions
from jupyter_chat_ext.errors import InvalidInput

HUGE = 10**309

BAD = [
    ("temperature", HUGE),
    ("temperature", -HUGE),
    ("temperature", math.nan),
    ("temperature", math.inf),
    ("temperature", True),
    ("top_p", HUGE),
    ("top_p", -math.inf),
    ("repetition_penalty", HUGE),
    ("repetition_penalty", math.nan),
    ("top_k", HUGE),
    ("top_k", 2**31),
    ("top_k", 1.5),
    ("max_tokens", HUGE),
    ("max_tokens", 2**31),
    ("max_tokens", False),
    ("seed", HUGE),
    ("seed", -1),
]


@pytest.mark.parametrize(("field", "value"), BAD)
def test_a_bad_number_is_a_400_naming_the_field(field, value):
    with pytest.raises(InvalidInput) as err:
        GenerationOptions.from_any({field: value})
    assert err.value.status == 400 and err.value.code == "invalid_option"
    assert err.value.message.startswith(field)
    assert len(err.value.message) < 200  # 10**309 is not printed in full
    with pytest.raises(InvalidInput):  # the door every turn and session write goes through
        inputs.params({field: value})


def test_numbers_in_range_still_pass():
    opts = GenerationOptions.from_any(
        {
            "temperature": 5,
            "top_p": 1,
            "repetition_penalty": 10.0,
            "top_k": 2**31 - 1,
            "max_tokens": 1,
            "seed": 2**63 - 1,
        }
    )
    assert opts.temperature == 5 and opts.top_k == 2**31 - 1

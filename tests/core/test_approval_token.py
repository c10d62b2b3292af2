"""Approvals are bound to the turn (issue 19): a reply must carry the per-call secret that only the
asking stream's ``tool_call`` event holds; the call id alone (visible in the messages listing
while it waits) is not enough on a shared server."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_chat_ext.chat.approvals import ApprovalBroker
from jupyter_chat_ext.errors import Conflict, Forbidden


async def test_a_reply_needs_the_calls_own_token() -> None:
    broker = ApprovalBroker()
    first = broker.open("call_a", session_id="s1", name="calc__add", executor="server")
    other = broker.open("call_b", session_id="s2", name="calc__add", executor="server")
    assert first.token != other.token and len(first.token) >= 24
    for token in (None, "", "guess", other.token):  # another call's token does not fit either
        with pytest.raises(Forbidden) as err:
            broker.reply("call_a", "approve", token=token)
        assert (err.value.status, err.value.code) == (403, "approval_token_mismatch")
    assert not first.future.done()  # a refused reply decided nothing
    assert broker.reply("call_a", "approve", token=first.token)["accepted"]
    with pytest.raises(Conflict):
        broker.reply("call_a", "deny", token=first.token)
    reply = await asyncio.wait_for(first.future, 5)
    assert reply.decision == "approve"

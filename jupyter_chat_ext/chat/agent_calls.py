"""One tool call of an agent step: check it, get the user's approval, run it, store its result.

Everything the model did wrong becomes a result it can read (an unknown tool, arguments that are
not JSON or do not match the schema), and so does the user's "no" (denied, or no answer in time):
the loop goes on and the model may answer in words. Only a stopped turn ends a call without a
result row; the history then shows the model "the call was not run" (agent_prompt.NOT_RUN).

Who runs a call: server tools (built-in, MCP) run here through the ToolRegistry once approved;
notebook tools run in the client, which answers with the result (after asking its user for a
write/execute tool). Read tools and tools in ``Settings.tool_allowlist`` (or approved "always" in
this session) need no approval.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ChatExtError
from ..tools.limits import argument_errors, limited
from ..tools.spec import ToolResult
from .approvals import ApprovalBroker, Pending, Reply
from .turn_state import Event

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..store.store import Store
    from ..tools.registry import ToolRegistry

DENIED = "the user denied this call"
TIMED_OUT = "the user did not answer within {s:g} s, so the call was not run"


@dataclass
class CallResult:
    """What a call left: the tool message for the next step, and whether the model erred."""

    message: dict[str, Any]
    invalid: bool


@dataclass
class CallContext:
    store: Store
    engine: Engine
    registry: ToolRegistry
    approvals: ApprovalBroker
    session_id: str
    model_id: str
    specs: dict[str, Any]  # the tools offered this turn, by name
    allowlist: frozenset[str]
    timeout_s: float  # a server tool's run
    approval_timeout_s: float
    max_result_chars: int


async def run_call(
    ctx: CallContext, step: dict[str, Any], call: dict[str, Any], out: list[CallResult]
) -> AsyncIterator[Event]:
    """Yield the call's ``tool_call`` and ``tool_result`` events; append its CallResult to ``out``."""
    call_id = str(call.get("id") or "")
    fn = call.get("function") or {}
    name, arguments = str(fn.get("name") or ""), fn.get("arguments")
    spec = ctx.specs.get(name)
    executor = "client" if spec is not None and spec.source == "notebook" else "server"
    problem = _problem(spec, name, arguments, ctx)
    allowed = problem is None and spec.needs_approval and _allowed(ctx, name)
    needs = problem is None and spec.needs_approval and not allowed
    # the call waits for the client from BEFORE its event goes out: a client that answers at once
    # (the kernel denies in the same breath) must find it waiting, not get a 404
    pending = None
    if problem is None and (executor == "client" or needs):
        pending = ctx.approvals.open(call_id, session_id=ctx.session_id, name=name, executor=executor)
    try:
        yield {
            "type": "tool_call",
            "message_id": step["id"],
            "call_id": call_id,
            "name": name,
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
            "source": spec.source if spec is not None else "unknown",
            "effect": spec.effect if spec is not None else "unknown",
            "approval": "required" if needs else "auto",
            # a write/execute tool the allow-list lets run unasked (a client runs it at once; a
            # bad call is "auto" too, and is not allowed: its error result follows)
            "allowed": bool(allowed),
            "executor": executor,
            # the secret a reply must carry (chat/approvals.py): only this stream's reader has it
            **({"approval_token": pending.token} if pending is not None else {}),
        }
        if problem is not None:
            result, approval = ToolResult.error(problem), "auto"
        elif pending is not None:
            result, approval = await _ask_client(ctx, pending, needs, json.loads(arguments or "{}"))
        else:
            args = json.loads(arguments or "{}")
            result, approval = await _run_server_tool(ctx, name, args), "auto"
    finally:
        if pending is not None:  # answered, timed out or the turn stopped: a late reply gets 404
            ctx.approvals.close(call_id)
    meta = {
        "tool_call_id": call_id,
        "name": name,
        "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        "is_error": result.is_error,
        "approval": approval,
        "source": spec.source if spec is not None else "unknown",
        "effect": spec.effect if spec is not None else "unknown",
    }
    if result.truncated:
        meta["truncated"] = True

    def write() -> dict[str, Any]:
        tokens = ctx.engine.count_tokens(ctx.model_id, result.content)
        return ctx.store.add_message(
            ctx.session_id, "tool", result.content, parent_id=step["id"], metadata=meta, tokens=tokens
        )

    row = await asyncio.to_thread(write)
    out.append(
        CallResult({"role": "tool", "tool_call_id": call_id, "content": result.content}, problem is not None)
    )
    yield {
        "type": "tool_result",
        "message_id": row["id"],
        "call_id": call_id,
        "name": name,
        "content": result.content,
        "is_error": result.is_error,
        "approval": approval,
    }


async def _run_server_tool(ctx: CallContext, name: str, arguments: dict[str, Any]) -> ToolResult:
    """The registry's result; a tool that vanished meanwhile (its MCP server died and came back
    without it) is a result the model reads too, not the end of the turn."""
    try:
        return await ctx.registry.call(name, arguments, timeout_s=ctx.timeout_s)
    except ChatExtError as exc:
        return ToolResult.error(f"{name} could not run: {exc.message}")


def _allowed(ctx: CallContext, name: str) -> bool:
    return name in ctx.allowlist or ctx.approvals.always_allowed(ctx.session_id, name)


def _problem(spec: Any, name: str, arguments: Any, ctx: CallContext) -> str | None:
    """Why the call cannot run as the model wrote it (the model reads this and may retry)."""
    if spec is None:
        offered = ", ".join(sorted(ctx.specs)) or "none"
        return f"unknown tool {name!r}: the tools offered are {offered}"
    if not isinstance(arguments, str):
        return "invalid arguments: they must be a JSON object as text"
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError as exc:
        return f"invalid arguments: not valid JSON ({exc})"
    errors = argument_errors(spec.parameters, parsed)
    if errors:
        return "invalid arguments: " + "; ".join(errors)
    return None


async def _ask_client(
    ctx: CallContext, pending: Pending, needs: bool, arguments: dict[str, Any]
) -> tuple[ToolResult, str]:
    """Wait for the client's decision (and, for a client tool, its result); run a server tool."""
    reply: Reply | None = await ctx.approvals.wait(pending, ctx.approval_timeout_s)
    if reply is None:
        return ToolResult.error(TIMED_OUT.format(s=ctx.approval_timeout_s)), "timeout"
    if reply.decision == "deny":
        return ToolResult.error(DENIED), "denied"
    approval = "always" if reply.decision == "always" else ("approved" if needs else "auto")
    if pending.executor == "client":
        result = ToolResult(reply.content or "", is_error=reply.is_error)
        return limited(result, ctx.max_result_chars), approval
    return await _run_server_tool(ctx, pending.name, arguments), approval

"""Chat messages with tool calls, and tools in the prompt.

``check_messages`` (the engine's door) accepts OpenAI's tool shapes besides plain messages:
``{"role": "assistant", "content": str | None, "tool_calls": [...]}`` and
``{"role": "tool", "tool_call_id": str, "content": str}``.

``prompt_messages`` prepares them for a local chat template:
- a template that knows tools (its source mentions ``tools``: Qwen, Hermes, Llama 3.1, SmolLM3...)
  gets the tools as ``tools=`` and the messages as they are (arguments as objects, as HF templates
  expect);
- any other template (the packaged SmolLM2's ChatML among them) gets a short system block listing
  the tools and the answer format, assistant tool calls written as ``<tool_call>{json}</tool_call>``
  and tool results as user messages, since such templates know only system/user/assistant.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InvalidInput
from .structured import TOOL_END, TOOL_MARKER, Structured, dumps_compact

Messages = list[dict[str, Any]]


def _check_tool_calls(calls: Any, i: int) -> list[dict[str, Any]]:
    if not isinstance(calls, list) or not calls:
        raise InvalidInput(f"messages[{i}].tool_calls must be a non-empty list", code="invalid_messages")
    out = []
    for j, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidInput(
                f"messages[{i}].tool_calls[{j}] needs function.name and function.arguments",
                code="invalid_messages",
            )
        args = fn.get("arguments", "{}")
        if not isinstance(args, str):
            args = dumps_compact(args)
        call_id = call.get("id") or f"call_{i}_{j}"
        if not isinstance(call_id, str):
            raise InvalidInput(f"messages[{i}].tool_calls[{j}].id must be a string", code="invalid_messages")
        out.append({"id": call_id, "type": "function", "function": {"name": fn["name"], "arguments": args}})
    return out


def check_messages(messages: Any) -> Messages:
    """Validate chat messages once, at the engine's door; keep only the fields a prompt uses."""
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("messages must be a non-empty list")
    out: Messages = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "user", "assistant", "tool"):
            raise InvalidInput("each message needs a role of system, user, assistant or tool")
        content = m.get("content")
        if role == "assistant" and m.get("tool_calls") is not None:
            if content is not None and not isinstance(content, str):
                raise InvalidInput("each message needs string content")
            calls = _check_tool_calls(m["tool_calls"], i)
            out.append({"role": "assistant", "content": content or "", "tool_calls": calls})
            continue
        if not isinstance(content, str):
            raise InvalidInput("each message needs string content")
        if role == "tool":
            call_id = m.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise InvalidInput(f"messages[{i}] (role tool) needs a tool_call_id", code="invalid_messages")
            entry = {"role": "tool", "tool_call_id": call_id, "content": content}
            if isinstance(m.get("name"), str):
                entry["name"] = m["name"]
            out.append(entry)
            continue
        out.append({"role": role, "content": content})
    return out


def has_tool_messages(messages: Messages) -> bool:
    return any(m["role"] == "tool" or m.get("tool_calls") for m in messages)


def tools_block(structured: Structured) -> str:
    """The fallback system text: the tools and how to call one."""
    lines = ["You can call these tools (arguments are JSON matching the schema):"]
    for fn in structured.allowed_tools():
        desc = f": {fn['description']}" if fn.get("description") else ""
        lines.append(f"- {fn['name']}{desc}. Arguments schema: {dumps_compact(fn['parameters'])}")
    call = '{"name": <tool name>, "arguments": {...}}'
    if structured.mode == "auto":
        lines.append(
            f"To call a tool, answer with {TOOL_MARKER} followed by {call} and nothing else; "
            "otherwise answer in plain text."
        )
    else:
        lines.append(f"Answer with one JSON object {call} that calls one of these tools.")
    return "\n".join(lines)


def _plain_history(messages: Messages) -> Messages:
    """Tool calls and results spelled for a template that knows only system/user/assistant."""
    names = {c["id"]: c["function"]["name"] for m in messages for c in m.get("tool_calls") or []}
    out: Messages = []
    for m in messages:
        if m.get("tool_calls"):
            calls = "".join(
                f"{TOOL_MARKER}"
                f"{dumps_compact({'name': c['function']['name'], 'arguments': _args(c)})}{TOOL_END}"
                for c in m["tool_calls"]
            )
            text = f"{m['content']}\n{calls}" if m["content"] else calls
            out.append({"role": "assistant", "content": text})
        elif m["role"] == "tool":
            name = m.get("name") or names.get(m["tool_call_id"], "tool")
            out.append({"role": "user", "content": f"Result of the tool {name}:\n{m['content']}"})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


def _args(call: dict[str, Any]) -> Any:
    """Arguments as an object (templates serialise them themselves); kept as text if not JSON."""
    try:
        return json.loads(call["function"]["arguments"])
    except ValueError:
        return call["function"]["arguments"]


def prompt_messages(
    messages: Messages, structured: Structured | None, template_tools: bool
) -> tuple[Messages, list[dict[str, Any]] | None]:
    """Messages (and the ``tools=`` argument) for a local template; see the module docstring."""
    wants_tools = structured is not None and structured.mode in ("call", "auto")
    if template_tools:
        msgs = [
            {
                **m,
                "tool_calls": [
                    {**c, "function": {**c["function"], "arguments": _args(c)}} for c in m["tool_calls"]
                ],
            }
            if m.get("tool_calls")
            else m
            for m in messages
        ]
        tools = (
            [{"type": "function", "function": f} for f in structured.allowed_tools()] if wants_tools else None
        )
        return msgs, tools
    msgs = _plain_history(messages) if has_tool_messages(messages) else list(messages)
    if wants_tools:
        assert structured is not None
        block = tools_block(structured)
        if msgs and msgs[0]["role"] == "system":
            msgs[0] = {"role": "system", "content": f"{msgs[0]['content']}\n\n{block}"}
        else:
            msgs.insert(0, {"role": "system", "content": block})
    return msgs, None

"""Agent turns: the packaged model calls a tool of a real stdio MCP server (written here with the
official ``mcp`` SDK), each call and result is stored as a row, approvals go through the broker.

One registry (one started "calc" server) serves the module; every turn is short (a named
tool_choice makes step 1 a call of ``calc__add`` under the engine's grammar, max_steps 1-2).
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections.abc import Iterator
from contextlib import aclosing
from typing import Any

import pytest

from jupyter_chat_ext.chat.agent import _stop_reason
from jupyter_chat_ext.chat.agent_calls import DENIED, CallContext, run_call
from jupyter_chat_ext.chat.agent_prompt import NOT_RUN, history_messages
from jupyter_chat_ext.chat.service import ChatService
from jupyter_chat_ext.engine.structured import Structured
from jupyter_chat_ext.errors import Conflict, InvalidInput, NotFound
from jupyter_chat_ext.rag.service import RagService
from jupyter_chat_ext.settings import Settings
from jupyter_chat_ext.store.store import Store
from jupyter_chat_ext.tools import ToolRegistry

CALC = textwrap.dedent(
    '''
    from mcp.server.mcpserver import MCPServer

    app = MCPServer("calc")

    @app.tool()
    def add(a: int, b: int) -> int:
        """Add two integers and return the sum."""
        return a + b

    app.run()
    '''
)
ADD = {"type": "function", "function": {"name": "calc__add"}}
PARAMS = {"temperature": 0, "seed": 7, "max_tokens": 48}
QUESTION = "What is 2 + 3? Use the add tool."


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[ToolRegistry]:
    script = tmp_path_factory.mktemp("calc") / "calc.py"
    script.write_text(CALC, encoding="utf-8")
    reg = ToolRegistry(
        root=tmp_path_factory.mktemp("root"),
        mcp_servers={"calc": {"command": sys.executable, "args": [str(script)]}},
        timeout_s=30,
    )
    yield reg
    reg.close()


@pytest.fixture
def make_service(tmp_path, engine, registry) -> Iterator[Any]:
    made: list[ChatService] = []

    def make(**overrides: Any) -> ChatService:
        settings = Settings(data_dir=tmp_path / f"data{len(made)}", **overrides)
        svc = ChatService(Store(settings.db_path), engine, settings, tools=registry)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.close(close_engine=False)


async def run_turn(
    svc: ChatService, tools: dict[str, Any], reply: Any = None, **extra: Any
) -> list[dict[str, Any]]:
    """All events of one agent turn; ``reply(event)`` answers each tool_call (or None: no answer)."""
    s = svc.create_session()
    events = []
    async with aclosing(svc.chat(s["id"], QUESTION, PARAMS, tools=tools, **extra)) as stream:
        async for event in stream:
            events.append(event)
            if event["type"] == "tool_call" and reply is not None:
                reply(event)
    return events


def by_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def expected_sum(call: dict[str, Any]) -> str:
    args = json.loads(call["arguments"])
    return str(args["a"] + args["b"])


async def test_approved_call_is_stored_and_the_answer_follows(make_service) -> None:
    svc = make_service()
    events = await run_turn(
        svc,
        {"names": ["calc__add"], "tool_choice": ADD, "max_steps": 2},
        reply=lambda e: svc.reply_tool_call(e["call_id"], "approve", token=e["approval_token"]),
    )
    assert events[0]["type"] == "start"
    (call,) = by_type(events, "tool_call")[:1]
    assert (call["name"], call["source"], call["effect"]) == ("calc__add", "mcp:calc", "execute")
    assert (call["approval"], call["executor"]) == ("required", "server")
    result = by_type(events, "tool_result")[0]
    assert result["content"] == expected_sum(call) and not result["is_error"]
    assert result["approval"] == "approved"
    (step,) = by_type(events, "step")
    done = events[-1]
    assert (
        done["type"] == "done" and done["steps"] == 2 and done["message_id"] == step["assistant_message_id"]
    )
    assert done["finish_reason"] in ("stop", "length", "max_steps")

    rows = svc.list_messages(done["session_id"])
    roles = [m["role"] for m in rows]
    assert roles[:4] == ["user", "assistant", "tool", "assistant"]
    user, first, tool, second = rows[:4]
    assert first["metadata"]["tool_calls"][0]["id"] == call["call_id"]
    assert first["metadata"]["finish_reason"] == "tool_calls" and first["status"] == "complete"
    assert tool["parent_id"] == first["id"] and tool["content"] == result["content"]
    assert tool["metadata"] == {
        "tool_call_id": call["call_id"],
        "name": "calc__add",
        "arguments": call["arguments"],
        "is_error": False,
        "approval": "approved",
        "source": "mcp:calc",
        "effect": "execute",
    }
    # the next step hangs off the step before (rows sharing a parent are versions of one answer)
    assert second["parent_id"] == first["id"] and second["id"] == step["assistant_message_id"]
    assert second["status"] == "complete" and first["parent_id"] == user["id"]
    # the stored turn renders back as a valid OpenAI conversation for the next agent turn
    (group,) = history_messages(rows)
    assert [m["role"] for m in group][:3] == ["user", "assistant", "tool"]
    assert group[1]["tool_calls"][0]["id"] == group[2]["tool_call_id"] == call["call_id"]


async def test_allow_listed_tool_runs_without_asking_and_max_steps_ends_the_loop(make_service) -> None:
    svc = make_service(tool_allowlist=["calc__add"])
    context = [{"kind": "var", "label": "numbers", "text": "[2, 3]"}]
    events = await run_turn(svc, {"names": None, "tool_choice": ADD, "max_steps": 1}, context=context)
    call, result = by_type(events, "tool_call")[0], by_type(events, "tool_result")[0]
    assert call["approval"] == "auto" and result["approval"] == "auto"
    assert call["allowed"] is True  # a client would run such a call without a card
    assert result["content"] == expected_sum(call)
    # names null = every enabled server tool; the notebook tools need a client that runs them
    assert events[-1]["finish_reason"] == "max_steps" and events[-1]["steps"] == 1
    assert not by_type(events, "step")
    # attached context: kept with the user row (chips in the sidebar), folded in for the model
    user = svc.list_messages(events[0]["session_id"])[0]
    assert user["content"] == QUESTION and user["metadata"]["context"] == context
    (group,) = history_messages(svc.list_messages(events[0]["session_id"]))
    assert group[0]["content"].startswith("Variable: numbers") and group[0]["content"].endswith(QUESTION)


async def test_stopping_while_waiting_keeps_the_rows(make_service) -> None:
    svc = make_service()
    s = svc.create_session()
    stream = svc.chat(s["id"], QUESTION, PARAMS, tools={"names": ["calc__add"], "tool_choice": ADD})
    async for event in stream:
        if event["type"] == "tool_call":
            call = event
            break
    waiting = asyncio.ensure_future(stream.__anext__())  # the turn now waits for the user
    await asyncio.sleep(0.2)
    assert svc.approvals.is_waiting(call["call_id"])
    waiting.cancel()  # the client went away (the sidebar's stop button)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await stream.aclose()
    with pytest.raises(NotFound):
        svc.reply_tool_call(call["call_id"], "approve")
    rows = svc.list_messages(s["id"])
    assert [m["role"] for m in rows] == ["user", "assistant"]  # kept; the call never ran
    assert rows[1]["metadata"]["tool_calls"][0]["id"] == call["call_id"]
    # the next agent turn shows the model that the call was not run
    (group,) = history_messages(rows)
    assert group[-1] == {"role": "tool", "tool_call_id": call["call_id"], "content": NOT_RUN, "_tokens": None}


async def call_events(
    ctx: CallContext, step: dict[str, Any], call: dict[str, Any], out: list[Any], reply=None
):
    events = []
    async with aclosing(run_call(ctx, step, call, out)) as stream:
        async for event in stream:
            events.append(event)
            if event["type"] == "tool_call" and reply is not None:
                reply(event)
    return events


async def synthetic(
    svc: ChatService, registry: ToolRegistry, names: set[str], **limits: Any
) -> tuple[Any, Any]:
    """A CallContext over the real registry and store, and a step row to hang calls off: the
    cases the grammar keeps the packaged model from producing, or that need no model at all."""
    s = svc.create_session()
    step = svc.store.add_message(s["id"], "assistant", "")
    specs = {spec.name: spec for spec in await registry.list() if spec.name in names}
    settings = {"timeout_s": 30.0, "approval_timeout_s": 5.0, "max_result_chars": 20_000, **limits}
    ctx = CallContext(
        svc.store,
        svc.engine,
        registry,
        svc.approvals,
        s["id"],
        svc.engine.resolve(None),
        specs,
        frozenset(),
        **settings,
    )
    return ctx, step


def fn_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


async def test_no_answer_in_time_is_a_timeout_and_a_denial_a_result(make_service, registry) -> None:
    svc = make_service()
    ctx, step = await synthetic(svc, registry, {"calc__add"}, approval_timeout_s=0.2)
    out: list[Any] = []
    events = await call_events(ctx, step, fn_call("call_t", "calc__add", '{"a": 1, "b": 2}'), out)
    assert events[0]["approval"] == "required" and events[0]["allowed"] is False
    result = events[-1]
    assert result["approval"] == "timeout" and result["is_error"] and "did not answer" in result["content"]
    with pytest.raises(NotFound):  # the call is finished: a late reply finds nothing
        svc.reply_tool_call("call_t", "approve")
    # denied: the result the model reads next, stored like any other (the HTTP test denies one
    # the model made; the kernel test shows the model answering the denial)
    events = await call_events(
        ctx,
        step,
        fn_call("call_d", "calc__add", '{"a": 1, "b": 2}'),
        out,
        lambda e: svc.reply_tool_call(e["call_id"], "deny", token=e["approval_token"]),
    )
    result = events[-1]
    assert (result["content"], result["is_error"], result["approval"]) == (DENIED, True, "denied")
    tool = next(m for m in svc.list_messages(ctx.session_id) if m["metadata"].get("tool_call_id") == "call_d")
    assert tool["metadata"]["approval"] == "denied" and tool["content"] == DENIED
    assert [r.invalid for r in out] == [False, False]  # a "no" is not the model's mistake


async def test_client_tool_waits_for_the_clients_result(make_service, registry) -> None:
    svc = make_service()
    ctx, step = await synthetic(svc, registry, {"list_cells", "insert_cell"})
    replies: list[Any] = []

    def reply(event: dict[str, Any]) -> None:
        for decision, result in (("approve", None), ("maybe", None), ("deny", {})):
            with pytest.raises(InvalidInput):  # 400: a client tool is approved with its result
                svc.reply_tool_call(event["call_id"], decision, result, token=event["approval_token"])
        ok = {"content": "0: code `print(1)`", "is_error": False}
        replies.append(svc.reply_tool_call(event["call_id"], "always", ok, token=event["approval_token"]))
        with pytest.raises(Conflict):  # 409: decided already
            svc.reply_tool_call(event["call_id"], "deny", token=event["approval_token"])

    out: list[Any] = []
    events = await call_events(ctx, step, fn_call("call_l", "list_cells", "{}"), out, reply)
    call, result = events
    assert (call["executor"], call["approval"], call["effect"]) == ("client", "auto", "read")
    assert replies[0]["accepted"] and result["content"] == "0: code `print(1)`"
    assert result["approval"] == "always" and not result["is_error"]
    # a write tool in the client asks; "always" then lets the next call of it through unasked
    args = json.dumps({"index": 1, "source": "x = 1", "cell_type": "code"})
    events = await call_events(
        ctx,
        step,
        fn_call("call_i", "insert_cell", args),
        out,
        lambda e: svc.reply_tool_call(
            e["call_id"], "always", {"content": "inserted", "is_error": False}, token=e["approval_token"]
        ),
    )
    assert events[0]["approval"] == "required" and events[-1]["approval"] == "always"
    events = await call_events(
        ctx,
        step,
        fn_call("call_j", "insert_cell", args),
        out,
        lambda e: svc.reply_tool_call(
            e["call_id"], "approve", {"content": "inserted", "is_error": False}, token=e["approval_token"]
        ),
    )
    assert events[0]["approval"] == "auto"  # the client still runs it: it answers with the result
    with pytest.raises(NotFound):
        svc.reply_tool_call("call_nope", "deny")


async def test_bad_tool_requests_write_nothing(make_service) -> None:
    svc = make_service()
    s = svc.create_session()
    bad: list[tuple[Any, type[Exception]]] = [
        ({"names": ["no_such_tool"]}, NotFound),
        ({"names": ["insert_cell"]}, InvalidInput),  # a notebook tool the client did not offer
        ({"names": "calc__add"}, InvalidInput),
        ({"max_steps": 0}, InvalidInput),
        (
            {"tool_choice": {"type": "function", "function": {"name": "read_file"}}, "names": ["calc__add"]},
            InvalidInput,
        ),
        ({"colour": "blue"}, InvalidInput),
    ]
    for tools, error in bad:
        with pytest.raises(error):
            await svc.chat(s["id"], QUESTION, PARAMS, tools=tools).__anext__()
    # the one budget check (Engine.budget), as for a plain turn: an answer that cannot fit the context
    with pytest.raises(InvalidInput, match="above the model's context") as err:
        await svc.chat(s["id"], QUESTION, {**PARAMS, "max_tokens": 10**6}, tools={}).__anext__()
    assert err.value.code == "invalid_option"
    assert svc.list_messages(s["id"]) == []


async def test_model_mistakes_become_results(make_service, registry) -> None:
    """An unknown tool name and arguments that miss the schema are results the model reads (the
    grammar keeps the packaged model from writing them, so the calls are written here)."""
    svc = make_service()
    ctx, step = await synthetic(svc, registry, {"calc__add"})
    calls = [
        fn_call("call_a", "calc__sub", "{}"),
        fn_call("call_b", "calc__add", '{"a": "two", "b": 3}'),
        fn_call("call_c", "calc__add", "{not json"),
    ]
    out: list[Any] = []
    events = []
    for call in calls:
        events += await call_events(ctx, step, call, out)
    results = by_type(events, "tool_result")
    assert "unknown tool 'calc__sub'" in results[0]["content"] and "calc__add" in results[0]["content"]
    assert results[1]["content"].startswith("invalid arguments: a: 'two' is not of type 'integer'")
    assert results[2]["content"].startswith("invalid arguments: not valid JSON")
    assert all(r["is_error"] and r["approval"] == "auto" for r in results)  # nothing was asked or run
    assert [r.invalid for r in out] == [True, True, True]
    rows = [m for m in svc.list_messages(ctx.session_id) if m["role"] == "tool"]
    assert [m["metadata"]["tool_call_id"] for m in rows] == ["call_a", "call_b", "call_c"]
    # a tool offered at the start of the turn that its server no longer has: a result, not a crash
    from jupyter_chat_ext.tools.spec import ToolSpec

    gone = ToolSpec("calc__gone", "gone", {"type": "object"}, source="mcp:calc", effect="read")
    ctx.specs["calc__gone"] = gone
    events = await call_events(ctx, step, fn_call("call_g", "calc__gone", "{}"), out)
    assert events[-1]["is_error"] and events[-1]["content"].startswith("calc__gone could not run:")
    assert not out[-1].invalid
    # one retry, then stop
    assert _stop_reason(1, 8, 1) is None and _stop_reason(2, 8, 2) == "invalid_tool_call"
    assert _stop_reason(8, 8, 0) == "max_steps"


def test_a_long_result_is_cut_to_fit_the_next_prompt(engine) -> None:
    """A tool result larger than the model's context is cut (with a note) for the next step; the
    stored row keeps it whole. Tokenizes only: no generation."""
    from jupyter_chat_ext.chat.agent_prompt import shrink_results

    model = engine.resolve(None)
    spec = {"name": "calc__add", "description": "Add", "parameters": {"type": "object"}}
    structured = Structured.from_openai({"tools": [{"type": "function", "function": spec}]})
    call = fn_call("call_x", "calc__add", "{}")
    big = "word " * 20_000
    messages = [
        {"role": "user", "content": "add them"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_x", "content": big},
    ]

    def count(msgs: list[dict[str, Any]]) -> int:
        return len(engine.prompt_ids(model, msgs, structured=structured))

    budget = engine.context_length(model) - 256
    out = shrink_results(messages, 1, count, budget)
    assert count(out) <= budget < count(messages)
    assert out[:2] == messages[:2] and messages[2]["content"] == big
    assert (
        out[2]["content"].startswith("word word")
        and "[cut to fit the model's context: showing" in out[2]["content"]
    )


async def test_tools_with_a_rag_collection_in_one_turn(tmp_path, engine, registry) -> None:
    """A sidebar user with a default collection and Tools on: retrieval once before the first step,
    the passages in the prompt every step reads, the citations on the row the turn ends on."""
    settings = Settings(data_dir=tmp_path / "data", tool_allowlist=["calc__add"])
    svc = ChatService(
        Store(settings.db_path), engine, settings, rag=RagService(settings, engine.embedder), tools=registry
    )
    try:
        docs = tmp_path / "docs"
        docs.mkdir()
        (docs / "zorblax.md").write_text("# Zorblax\n\nThe planet Zorblax has three purple moons.\n")
        (docs / "bread.md").write_text("# Bread\n\nBread is baked from flour, water, salt and yeast.\n")
        svc.rag.create_collection("notes")
        assert svc.rag.ingest("notes", [str(docs)]).files_done == 2
        question = "How many moons does Zorblax have? Add 1 + 2 with the add tool too."
        s = svc.create_session()
        rag = {"collection": "notes", "k": 1}
        tools = {"names": ["calc__add"], "tool_choice": ADD, "max_steps": 2}
        async with aclosing(svc.chat(s["id"], question, PARAMS, tools=tools, rag=rag)) as stream:
            events = [event async for event in stream]
        call, result, done = by_type(events, "tool_call")[0], by_type(events, "tool_result")[0], events[-1]
        assert call["approval"] == "auto" and result["content"] == expected_sum(call)
        assert done["type"] == "done" and done["steps"] == 2
        assert [c["source"] for c in done["citations"]] == [str(docs / "zorblax.md")]
        rows = svc.list_messages(s["id"])
        user, first, tool = rows[:3]
        assert tool["role"] == "tool" and tool["parent_id"] == first["id"]
        assert user["metadata"]["rag"] == {"collection": "notes", "k": 1, "mode": "hybrid"}
        # the sources sit on the row the turn ended on (a plain answer, or the last call at
        # max_steps), never on a step that called tools and was followed by another step
        cited = [m["id"] for m in rows if m["role"] == "assistant" and "citations" in m["metadata"]]
        assert cited == [done["message_id"]] and rows[-1]["id"] >= done["message_id"]
        final = next(m for m in rows if m["id"] == done["message_id"])
        assert final["metadata"]["citations"] == done["citations"] and first["metadata"]["tool_calls"]
        # the passage was in the first step's prompt: it outgrew the same prompt without it
        model = engine.resolve(None)
        spec = registry.get("calc__add").openai()
        structured = Structured.from_openai({"tools": [spec], "tool_choice": ADD})
        bare = engine.prompt_ids(model, [{"role": "user", "content": question}], structured=structured)
        passage = engine.count_tokens(model, "The planet Zorblax has three purple moons.")
        assert first["metrics"]["prompt_tokens"] >= len(bare) + passage
        # bad input: an unknown collection is 404 before anything is written
        before = len(svc.list_messages(s["id"]))
        with pytest.raises(NotFound):
            await svc.chat(s["id"], question, PARAMS, tools=tools, rag={"collection": "nope"}).__anext__()
        assert len(svc.list_messages(s["id"])) == before
    finally:
        svc.close(close_engine=False)

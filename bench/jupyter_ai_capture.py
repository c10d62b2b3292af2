#!/usr/bin/env python
"""Capture the chat completion requests jupyter-ai's Jupyternaut persona really sends (issue 21).

Runs in a scratch venv with jupyter-ai, NOT the project's (jupyter-ai pins its own langchain/litellm):

    python3 -m venv /tmp/jai && /tmp/jai/bin/pip install "jupyter-ai[jupyternaut]==3.2.*"
    # a Jupyter server of that venv: its jupyter_server_mcp extension serves the built-in MCP tools
    # on localhost:3001 (what the persona adds to its own 14 tools: 31 in all)
    (cd /tmp/jai_run && /tmp/jai/bin/jupyter server --allow-root --port 18888 &)
    LITELLM_LOCAL_MODEL_COST_MAP=True /tmp/jai/bin/python bench/jupyter_ai_capture.py \
        --out bench/data/jupyter_ai_request.json \
        [--upstream http://127.0.0.1:PORT/chat-ext/v1 --api-key TOKEN]

What runs is Jupyternaut's own code path for one chat message, minus the chat document: the
system prompt from its template (``JupyternautPersona.get_system_prompt``: the username line as
``process_attachments`` leaves it without attachments), its tools (``JupyternautPersona.get_tools``:
the notebook / JupyterLab / code-execution toolkits plus the built-in MCP server's tools, loaded
with langchain-mcp-adapters as the persona does), its agent (``JupyternautPersona.get_agent``:
langchain ``create_agent`` over its ``ChatLiteLLM`` with ``streaming=True``, the tool-error
middleware, an in-memory checkpointer) and ``agent.astream_events(..., version="v3")`` as
``process_message`` calls it. The model is ``openai/<name>`` with ``api_base`` pointing at a
recording HTTP server on 127.0.0.1: every POST body (and the non-secret headers) is kept.

Without ``--upstream`` the recorder answers itself: the first request with a streamed call of
``get_active_notebook`` (no arguments), the next ones with a short text, so the follow-up request
the agent sends after a tool call (with the tool's result) is captured too. With ``--upstream`` it
forwards each request to a real server (ours) and streams its answer back, timing each request
(first byte, first content or tool-call delta, end): jupyter-ai's whole turn against our server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from typing import Any

MODEL = "smollm2-135m-instruct"
PACKAGES = ("jupyter-ai", "jupyter-ai-jupyternaut", "jupyter-ai-persona-manager", "jupyter-server-mcp",
            "langchain", "langchain-litellm", "litellm", "openai")  # fmt: skip
MESSAGE = "Add a cell to my notebook that loads data/sites.csv with pandas and plots the monthly means."
KEEP_HEADERS = ("content-type", "user-agent", "x-stainless-lang", "x-stainless-package-version")


def canned(index: int) -> list[dict[str, Any]]:
    """OpenAI stream chunks: a get_active_notebook call first, then text."""
    base = {"id": f"cap-{index}", "object": "chat.completion.chunk", "created": 0, "model": MODEL}
    if index == 0:
        call = {"index": 0, "id": "call_0", "type": "function",
                "function": {"name": "get_active_notebook", "arguments": "{}"}}  # fmt: skip
        deltas = [({"role": "assistant", "tool_calls": [call]}, None), ({}, "tool_calls")]
    else:
        deltas = [({"role": "assistant", "content": "Done."}, None), ({}, "stop")]
    return [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": f}]} for d, f in deltas]


class Recorder(ThreadingHTTPServer):
    def __init__(self, upstream: str | None, api_key: str | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.upstream, self.api_key = upstream, api_key
        self.records: list[dict[str, Any]] = []


class Handler(BaseHTTPRequestHandler):
    server: Recorder
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: no chunk framing

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # /models, should a client ask
        self._send_json({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    def _send_json(self, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        record: dict[str, Any] = {
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items() if k.lower() in KEEP_HEADERS},
            "body": body,
        }
        index = len(self.server.records)
        self.server.records.append(record)
        if self.server.upstream:
            record["timing"] = self._forward(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in canned(index):
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _forward(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = self.server.upstream.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {self.server.api_key}"}
        t0 = time.perf_counter()
        timing: dict[str, Any] = {"first_byte_s": None, "first_delta_s": None}
        with httpx.stream("POST", url, json=body, headers=headers, timeout=1800) as resp:
            self.send_response(resp.status_code)
            self.send_header("Content-Type", resp.headers.get("content-type", "text/event-stream"))
            self.end_headers()
            answer = {"content": "", "tool_calls": {}, "finish_reason": None, "usage": None}
            for line in resp.iter_lines():
                now = time.perf_counter() - t0
                timing["first_byte_s"] = timing["first_byte_s"] or now
                self.wfile.write(line.encode() + b"\n")
                self.wfile.flush()
                if line.startswith("data: {"):
                    chunk = json.loads(line[6:])
                    answer["usage"] = chunk.get("usage") or answer["usage"]
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        if delta.get("content") or delta.get("tool_calls"):
                            timing["first_delta_s"] = timing["first_delta_s"] or now
                        answer["content"] += delta.get("content") or ""
                        for call in delta.get("tool_calls") or []:
                            empty = {"name": "", "arguments": ""}
                            got = answer["tool_calls"].setdefault(call["index"], empty)
                            fn = call.get("function") or {}
                            got["name"] += fn.get("name") or ""
                            got["arguments"] += fn.get("arguments") or ""
                        answer["finish_reason"] = choice.get("finish_reason") or answer["finish_reason"]
                elif not line.startswith("data:") and line.strip():
                    answer.setdefault("other", []).append(line[:500])
        timing["total_s"] = time.perf_counter() - t0
        timing["status"] = resp.status_code
        timing["answer"] = answer
        return timing


class FakeParent:
    """What JupyternautPersona.get_tools asks of its persona manager: the built-in MCP server."""

    def __init__(self, mcp_url: str) -> None:
        self.mcp_url = mcp_url

    def get_mcp_settings(self) -> Any:
        from jupyter_ai_persona_manager import McpServerHttp
        from jupyter_ai_persona_manager.persona_manager import McpSettings

        server = McpServerHttp(type="http", name="Jupyter MCP Server", url=self.mcp_url, headers=[])
        return McpSettings(mcp_servers=[server])


async def turn(args: argparse.Namespace, api_base: str) -> dict[str, Any]:
    """One chat message through Jupyternaut's agent, as process_message runs it."""
    import logging
    import types

    from jupyter_ai_jupyternaut.jupyternaut.jupyternaut import JupyternautPersona
    from jupyter_ai_jupyternaut.jupyternaut.prompt_template import (
        JUPYTERNAUT_SYSTEM_PROMPT_TEMPLATE,
        JupyternautSystemPromptArgs,
    )

    model_id = f"openai/{MODEL}"
    persona = types.SimpleNamespace(name="Jupyternaut", log=logging.getLogger("jupyternaut"))
    persona.parent = FakeParent(args.mcp_url)
    persona.get_mcp_settings = persona.parent.get_mcp_settings  # (no identity headers: no chat)
    for meth in ("get_tools", "get_agent", "get_memory_store", "_create_memory_store",
                 "_create_tool_error_handler"):  # fmt: skip
        setattr(persona, meth, types.MethodType(getattr(JupyternautPersona, meth), persona))
    # get_system_prompt with process_attachments() returning nothing (a message without attachments)
    context = f"User's username is '{args.username}'\n\n"
    prompt_args = JupyternautSystemPromptArgs(model_id=model_id, persona_name="Jupyternaut", context=context)
    system_prompt = JUPYTERNAUT_SYSTEM_PROMPT_TEMPLATE.render(**prompt_args.model_dump())
    model_args = {"api_base": api_base, "api_key": args.api_key or "none"}
    agent = await persona.get_agent(model_id=model_id, model_args=model_args, system_prompt=system_prompt)
    tools = await persona.get_tools()
    texts: list[str] = []
    t0 = time.perf_counter()
    first_text = None
    stream = await agent.astream_events(
        {"messages": [{"role": "user", "content": args.message}]},
        {"configurable": {"thread_id": "capture", "username": args.username}},
        version="v3",
    )
    async for event in stream:  # the text process_message would stream into the chat
        if event["method"] != "messages":
            continue
        data = event["params"]["data"][0]
        if isinstance(data, dict) and data.get("event") == "content-block-delta":
            block = data.get("delta") or {}
            if block.get("type") == "text-delta" and block.get("text"):
                first_text = first_text or time.perf_counter() - t0
                texts.append(block["text"])
    return {
        "tool_names": [getattr(t, "name", None) or t.__name__ for t in tools],
        "chat_text": "".join(texts),
        "first_chat_text_s": first_text,
        "turn_s": time.perf_counter() - t0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--mcp-url", default="http://localhost:3001/mcp")
    ap.add_argument("--upstream", default=None, help="forward to this /v1 base URL (ours) and time it")
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--username", default="jovyan")
    ap.add_argument("--message", default=MESSAGE)
    args = ap.parse_args()
    recorder = Recorder(args.upstream, args.api_key)
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    api_base = f"http://127.0.0.1:{recorder.server_address[1]}/v1"
    got = asyncio.run(turn(args, api_base))
    recorder.shutdown()
    out = {
        "captured_with": {pkg: version(pkg) for pkg in PACKAGES},
        "how": "bench/jupyter_ai_capture.py: Jupyternaut's agent path (get_system_prompt's template, "
        "get_tools incl. the built-in MCP server's tools, get_agent, astream_events v3) against a recorder"
        + (f" forwarding to {args.upstream}" if args.upstream else " with canned answers"),
        "user_message": args.message,
        **got,
        "requests": recorder.records,
    }
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    summary = [
        {"n_tools": len(r["body"].get("tools") or []), "n_messages": len(r["body"]["messages"]),
         "keys": sorted(r["body"]), "timing": {k: v for k, v in r.get("timing", {}).items() if k != "answer"}}
        for r in recorder.records
    ]  # fmt: skip
    print(json.dumps({"tools": len(got["tool_names"]), "requests": summary, "turn_s": got["turn_s"]}))


if __name__ == "__main__":
    main()

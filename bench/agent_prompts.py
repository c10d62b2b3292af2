"""The prompts agent clients send, made to a token size: tool schemas and filler messages.

``agent_tools`` makes ~30 function tools of the kind an agent persona carries; ``tool_set`` picks
synthetic ones or the schemas jupyter-ai 3.2 really sends (bench/data/jupyter_ai_request.json,
bench/jupyter_ai_capture.py) to fill most of a prompt; ``messages_of`` writes a system + user pair
whose rendered prompt is about a given number of tokens, with a nonce up front so no two share a
cached prefix. Used by bench_prompt_read.py and bench_tool_stream.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: prompt tokens one of agent_tools() adds (measured on the SmolLM2 vocabulary: 30 tools ~3.7k)
TOKENS_PER_TOOL = 123
#: jupyter-ai 3.2's Jupyternaut tools as its agent sent them (bench/jupyter_ai_capture.py)
JUPYTER_AI = Path(__file__).resolve().parent / "data" / "jupyter_ai_request.json"
#: prompt tokens one of those adds (20 tools: 3,393 tokens on the SmolLM2 vocabulary)
TOKENS_PER_JUPYTER_AI_TOOL = 170
FILLER = (
    "The notebook loads a table of measurements, cleans the missing values, groups them by site "
    "and plots the monthly means; the reviewer asks why two sites disagree in the spring. "
)


def agent_tools(n: int = 30) -> list[dict[str, Any]]:
    """~30 function tools of the kind an agent persona carries (files, notebook cells, kernels)."""
    verbs = ["read", "write", "list", "delete", "rename", "search", "run", "insert", "update", "summarize"]
    things = ["file", "notebook cell", "directory"]
    tools = []
    for i in range(n):
        verb, thing = verbs[i % len(verbs)], things[(i // len(verbs)) % len(things)]
        name = f"{verb}_{thing.replace(' ', '_')}_{i}"
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": f"{verb.capitalize()} a {thing} of the user's workspace. Use it when "
                    f"the user asks to {verb} a {thing}; paths are relative to the server root.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "path": {"type": "string", "description": f"the {thing}'s path"},
                            "content": {"type": "string", "description": "text to write or look for"},
                            "index": {"type": "integer", "description": "cell index, from 0"},
                            "recursive": {"type": "boolean", "description": "include sub-folders"},
                        },
                        "required": ["path"],
                    },
                },
            }
        )
    return tools


def tool_set(kind: str, size: int) -> list[dict[str, Any]]:
    """Tools filling ~80 % of a ``size``-token prompt: ``synthetic`` (agent_tools, up to 30) or
    ``jupyter-ai`` (the captured request's 20 real schemas, the first n of them)."""
    if kind == "jupyter-ai":
        real = json.loads(JUPYTER_AI.read_text())["requests"][0]["body"]["tools"]
        return real[: max(1, min(len(real), int(size * 0.8 / TOKENS_PER_JUPYTER_AI_TOOL)))]
    return agent_tools(max(1, min(30, int(size * 0.8 / TOKENS_PER_TOOL))))


def messages_of(eng: Any, model: str, target: int, nonce: int, structured: Any) -> list[dict[str, str]]:
    """System + user messages whose prompt is about ``target`` tokens (tools included when given)."""
    system = {"role": "system", "content": f"Session {nonce}. You are a helpful notebook assistant."}
    base = len(eng.prompt_ids(model, [system, {"role": "user", "content": "Hi"}], structured=structured))
    per = len(eng.prompt_ids(model, [{"role": "user", "content": FILLER * 20}])) / 20
    repeats = max(0, int((target - base) / per))
    return [system, {"role": "user", "content": f"{nonce}: " + FILLER * repeats + "What should I check?"}]

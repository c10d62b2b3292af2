"""Will this model call tools? A hint shown where the Tools switch is (GET /models ``tools_hint``).

Unlikely when:
- its chat template does not mention tools: the model was not trained to see tool definitions
  (the engine then describes the tools in a system block, engine/structured_prompt.py, which
  small models mostly ignore);
- it has fewer than ``MIN_TOOL_PARAMETERS`` parameters: the packaged SmolLM2-135M, asked twice to
  add a cell with the Tools switch on, answered in prose both times (issue 18); sub-1B models
  rarely produce a valid call even with a tool-aware template (Qwen2.5-0.5B's calls are often
  malformed), while 1.5B+ instruct models with such templates call tools usefully.
Remote models are not judged: the endpoint's own template and parser decide.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

MIN_TOOL_PARAMETERS = 1_000_000_000


@lru_cache(maxsize=256)
def _template_text(path: str, fmt: str, mtime_ns: int) -> str | None:
    """The model's chat template text (GGUF header or the folder's files), None when it has none."""
    try:
        if fmt == "gguf":
            from ..engine.gguf_header import read_gguf_header

            value = read_gguf_header(path).get("tokenizer.chat_template")
            return value if isinstance(value, str) else None
        folder = Path(path)
        jinja = folder / "chat_template.jinja"
        if jinja.is_file():
            return jinja.read_text(encoding="utf-8", errors="replace")
        for name in ("chat_template.json", "tokenizer_config.json"):
            f = folder / name
            if f.is_file():
                value = json.loads(f.read_text(encoding="utf-8")).get("chat_template")
                if isinstance(value, list):  # named templates: [{"name", "template"}]
                    value = " ".join(str(t.get("template", "")) for t in value if isinstance(t, dict))
                if isinstance(value, str):
                    return value
    except Exception:
        return None
    return None


def template_mentions_tools(model: dict[str, Any]) -> bool | None:
    """True/False from the template text; None when it cannot be read."""
    path, fmt = str(model.get("path") or ""), str(model.get("format") or "")
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return None
    text = _template_text(path, fmt, mtime)
    if text is None:
        return False if model.get("chat_template") is False else None
    return "tools" in text


def tools_hint(model: dict[str, Any]) -> dict[str, Any]:
    """``{"likely": bool, "reason": str}`` for one ``list_models`` entry."""
    if model.get("kind") not in (None, "chat"):
        return {"likely": False, "reason": f"a {model.get('kind')} model does not chat"}
    if model.get("source") == "remote" or model.get("format") == "remote":
        return {"likely": True, "reason": "remote model: the endpoint's template decides"}
    if not model.get("chat_template"):
        return {"likely": False, "reason": "no chat template: tool calls are unlikely"}
    mentions = template_mentions_tools(model)
    if mentions is False:
        return {"likely": False, "reason": "its chat template takes no tools: tool calls are unlikely"}
    params = model.get("parameters")
    if isinstance(params, int) and 0 < params < MIN_TOOL_PARAMETERS:
        return {
            "likely": False,
            "reason": f"{params / 1e6:.0f}M parameters: models under 1B rarely make valid tool calls; "
            "pull a larger model (see the catalog)",
        }
    return {"likely": True, "reason": "its chat template takes tools"}


def with_tools_hint(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``list_models`` entries with ``tools_hint`` added to the chat models."""
    for m in models:
        if m.get("kind") == "chat":
            m["tools_hint"] = tools_hint(m)
    return models

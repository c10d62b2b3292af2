"""Parts of bench/bench_gpu.py that take what they need as arguments (structured output, the
embedder's speed, a transformers version shim), kept apart so the script stays readable."""

from __future__ import annotations

import json
import shutil
import time
import traceback
from pathlib import Path
from typing import Any


def structured_answer(engine: Any, model_id: str) -> dict[str, Any]:
    """One JSON-schema-constrained answer (the llguidance mask on the device's logits): valid?"""
    try:
        from jupyter_chat_ext.engine.structured import Structured

        schema = {
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 99}, "ok": {"type": "boolean"}},
            "required": ["n", "ok"],
            "additionalProperties": False,
        }
        named = {"name": "r", "schema": schema, "strict": True}
        spec = Structured.from_openai({"response_format": {"type": "json_schema", "json_schema": named}})
        started = time.perf_counter()
        question = [{"role": "user", "content": "Answer in JSON."}]
        done = engine.generate(model_id, question, {"max_tokens": 48}, structured=spec)
        return {
            "text": done.get("text"),
            "valid": isinstance(json.loads(done.get("text") or "null"), dict),
            "s": round(time.perf_counter() - started, 2),
        }
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:]}


def embedder_speed(source: Path, folder: Path, texts: list[str], devices: tuple[str, ...]) -> dict[str, Any]:
    """texts/s of our Embedder on each device: all-MiniLM-L6-v2's shape with random weights (the
    shape is what costs), its tokenizer and pooling files copied from ``source``."""
    import torch
    from transformers import AutoConfig, AutoModel

    from jupyter_chat_ext.engine.embeddings import Embedder

    shutil.copytree(source, folder)
    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.from_pretrained(str(folder))).save_pretrained(str(folder))
    out = {}
    for device in devices:
        emb = Embedder(folder, device=device)
        emb.load()
        emb.embed(texts[:64])  # warm-up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        vecs = emb.embed(texts)
        wall = time.perf_counter() - started
        out[device] = {"texts_s": round(len(texts) / wall, 1), "dim": int(vecs.shape[1]), "dtype": emb.dtype}
        emb.unload()
    return out

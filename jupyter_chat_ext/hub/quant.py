"""What a Hub file listing means: the quantization in a GGUF file's name, split files grouped.

GGUF repos name files ``<model>-<QUANT>.gguf`` or ``<model>.<QUANT>.gguf`` (llama.cpp's
``llama-quantize`` type names: Q4_K_M, Q8_0, IQ4_XS, F16, BF16, ...), and a file too large for one
upload is split as ``<name>-00001-of-00003.gguf`` (``llama-gguf-split``): llama.cpp loads the
first part and finds the others, so the parts are one entry whose size is their sum.
"""

from __future__ import annotations

import re
from typing import Any

#: quantization names, most specific first (IQ4_XS before Q4, Q4_K_M before Q4_K)
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])("
    r"IQ[1-4]_(?:XXS|XS|S|M|NL)|IQ4_NL|"
    r"Q4_0_[48]_[48]|Q[2-8]_K(?:_[SMLX]L?)?|Q[2-8]_[01]|"
    r"TQ[12]_0|MXFP4|"
    r"BF16|F16|FP16|F32|FP32"
    r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)
#: files a transformers folder needs besides weights (pulled with ``allow_patterns``)
FOLDER_SIDECARS = ("config.json", "tokenizer*", "special_tokens_map.json", "generation_config.json")


def parse_quant(filename: str) -> str | None:
    """``"Qwen2.5-7B-Instruct-Q4_K_M.gguf"`` -> ``"Q4_K_M"``; None when the name says none."""
    name = filename.rsplit("/", 1)[-1]
    found = _QUANT.findall(name)
    if not found:
        return None
    quant = found[-1].upper()  # the last one: "Q8_0-F16" style names end with the weights' type
    return {"FP16": "F16", "FP32": "F32"}.get(quant, quant)


def split_part(filename: str) -> tuple[str, int, int] | None:
    """``"x-00002-of-00003.gguf"`` -> ``("x", 2, 3)``; None for a file that is not a part."""
    m = _SPLIT.match(filename)
    if m is None:
        return None
    return m.group("stem"), int(m.group("part")), int(m.group("total"))


def gguf_entries(siblings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per loadable GGUF: ``{"file", "size_bytes", "quant", "parts"}`` (``file`` is the
    first part of a split model; ``parts`` lists every part). ``siblings``: ``{"rfilename", "size"}``.

    A split model with a part missing from the listing is left out (it could not load).
    """
    singles: list[dict[str, Any]] = []
    groups: dict[str, list[tuple[int, int, str, int]]] = {}
    for s in siblings:
        name = str(s.get("rfilename") or "")
        if not name.lower().endswith(".gguf"):
            continue
        size = int(s.get("size") or 0)
        part = split_part(name)
        if part is None:
            singles.append({"file": name, "size_bytes": size, "quant": parse_quant(name), "parts": [name]})
        else:
            stem, index, total = part
            groups.setdefault(stem, []).append((index, total, name, size))
    for _stem, parts in groups.items():
        parts.sort()
        total = parts[0][1]
        if [p[0] for p in parts] != list(range(1, total + 1)):
            continue
        first = parts[0][2]
        singles.append(
            {
                "file": first,
                "size_bytes": sum(p[3] for p in parts),
                "quant": parse_quant(first.replace(f"-00001-of-{total:05d}", "")),
                "parts": [p[2] for p in parts],
            }
        )
    singles.sort(key=lambda e: (e["size_bytes"], e["file"]))
    return singles


def safetensors_entry(siblings: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The transformers folder of a repo as one entry (``file`` None), or None when it has none."""
    weights = [s for s in siblings if str(s.get("rfilename") or "").endswith(".safetensors")]
    if not weights:
        return None
    # a repo with weights in sub-folders (e.g. "onnx/", "1_Pooling/") pulls the top-level ones
    top = [s for s in weights if "/" not in str(s["rfilename"])] or weights
    size = sum(int(s.get("size") or 0) for s in siblings if _in_folder(str(s.get("rfilename") or ""), top))
    return {"file": None, "size_bytes": size, "quant": None, "parts": [str(s["rfilename"]) for s in top]}


def _in_folder(name: str, weights: list[dict[str, Any]]) -> bool:
    if any(name == s["rfilename"] for s in weights):
        return True
    if "/" in name:
        return False
    return name.endswith(".json") or name.startswith("tokenizer") or name.endswith(".model")

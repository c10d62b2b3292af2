"""``n_gpu_layers``: the layer arithmetic of "auto" with fed-in VRAM figures (any GPU, no GPU needed).

The CPU-build path runs for real in test_backend_llamacpp.py (the packaged model loads with
``gpu_layers`` 0 and ``device`` cpu).
"""

from __future__ import annotations

import pytest

from jupyter_chat_ext.engine.backends.llamacpp_offload import (
    MARGIN_BYTES,
    parse_setting,
    plan_layers,
)
from jupyter_chat_ext.engine.gguf_header import kv_bytes_per_cell
from jupyter_chat_ext.settings import Settings

GIB = 1024**3
# a 1.7B Q4_K_M-like model: 24 layers, 1.0 GiB of weights, 1.5 GiB of KV at its context
SHAPE = {"n_layers": 24, "weights_bytes": 1 * GIB, "kv_bytes": GIB + GIB // 2}


def test_all_layers_when_model_and_kv_fit() -> None:
    plan = plan_layers("auto", gpu_offload=True, vram_free=8 * GIB, **SHAPE)
    assert plan.n_gpu_layers == -1 and plan.device == "cuda"
    assert "all layers" in (plan.note or "")


def test_as_many_layers_as_fit() -> None:
    # 1.5 GiB free: minus the margin (0.1 GiB + 300 MiB) leaves ~1.1 GiB; a layer costs 2.5/25 GiB
    plan = plan_layers("auto", gpu_offload=True, vram_free=GIB + GIB // 2, **SHAPE)
    per_layer = (SHAPE["weights_bytes"] + SHAPE["kv_bytes"]) / 25
    expected = int((GIB + GIB // 2 - int(0.1 * GIB) - MARGIN_BYTES) // per_layer)
    assert plan.n_gpu_layers == expected and 0 < expected < 24
    assert plan.device == "cuda (partial)" and f"{expected} of 24 layers" in (plan.note or "")


def test_no_layer_fits_in_a_tiny_gpu() -> None:
    plan = plan_layers("auto", gpu_offload=True, vram_free=200 * 1024 * 1024, **SHAPE)
    assert plan.n_gpu_layers == 0 and plan.device == "cpu" and "not one layer" in (plan.note or "")


def test_cpu_build_and_no_gpu_offload_nothing() -> None:
    quiet = plan_layers("auto", gpu_offload=False, vram_free=80 * GIB, **SHAPE)
    assert quiet.n_gpu_layers == 0 and quiet.device == "cpu" and quiet.note is None
    none_found = plan_layers("auto", gpu_offload=True, vram_free=None, **SHAPE)
    assert none_found.n_gpu_layers == 0 and "no NVIDIA GPU" in (none_found.note or "")


def test_an_explicit_count_is_taken_as_given() -> None:
    assert plan_layers(-1, gpu_offload=True, vram_free=None, **SHAPE).n_gpu_layers == -1
    assert plan_layers(10, gpu_offload=True, vram_free=None, **SHAPE).device == "cuda (partial)"
    assert plan_layers(0, gpu_offload=True, vram_free=80 * GIB, **SHAPE).device == "cpu"
    refused = plan_layers(10, gpu_offload=False, vram_free=None, **SHAPE)
    assert refused.n_gpu_layers == 0 and "no GPU support" in (refused.note or "")


def test_setting_parses_auto_and_integers() -> None:
    assert (
        parse_setting("auto") == "auto" and parse_setting(" AUTO ") == "auto" and parse_setting("") == "auto"
    )
    assert parse_setting("-1") == -1 and parse_setting(12) == 12
    with pytest.raises(ValueError):
        parse_setting("many")
    assert Settings().n_gpu_layers == "auto" and Settings(n_gpu_layers="20").n_gpu_layers == 20
    with pytest.raises(ValueError):
        Settings(n_gpu_layers="lots")


def test_kv_bytes_per_cell_from_a_gguf_header() -> None:
    # SmolLM2-135M: 30 layers, 9 heads of 64, 3 KV heads: 30 x 3 x (64 + 64) x 2 bytes
    header = {
        "general.architecture": "llama",
        "llama.block_count": 30,
        "llama.attention.head_count": 9,
        "llama.attention.head_count_kv": 3,
        "llama.embedding_length": 576,
    }
    assert kv_bytes_per_cell(header) == 30 * 3 * 128 * 2
    assert kv_bytes_per_cell({"general.architecture": "llama"}) == 0

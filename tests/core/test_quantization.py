"""bitsandbytes 4-bit (NF4) and 8-bit (LLM.int8) on the CPU, through the transformers backend.

The packaged SmolLM2-135M loads quantized from the conversion cache, answers through the engine,
says in its notes and load result that it is quantized, and its measured weight bytes (parameters,
buffers and bitsandbytes' quantization state) are a fraction of the bf16 load's: a check that fails
when quantization silently does not happen. bitsandbytes is in the ``[test]`` extra; where it is
missing these tests skip with that reason. None needs a GPU: ``device="cpu"`` throughout.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_chat_ext.engine.backends.transformers.loader import (
    LoadedModel,
    bnb_load_kwargs,
    load_chat_model,
    weight_footprint,
)
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID, ModelRegistry
from jupyter_chat_ext.errors import ModelError
from jupyter_chat_ext.settings import Settings

needs_bnb = pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is None,
    reason="bitsandbytes is not installed (it is in the [test] extra: pip install -e '.[test]')",
)

Q = [{"role": "user", "content": "What is the capital of France?"}]


def cpu_settings(shared_settings: Settings, quantization: str | None) -> Settings:
    return dataclasses.replace(
        shared_settings, backend="transformers", device="cpu", dtype="bfloat16", quantization=quantization
    )


def load(shared_settings: Settings, quantization: str | None) -> LoadedModel:
    settings = cpu_settings(shared_settings, quantization)
    return load_chat_model(ModelRegistry(settings).get(PACKAGED_CHAT_ID), settings)


@pytest.fixture(scope="module")
def bf16(shared_settings: Settings) -> LoadedModel:
    return load(shared_settings, None)


def decoder_bytes(loaded: LoadedModel) -> int:
    """The bytes of the decoder layers: the part bitsandbytes quantizes (the embedding stays bf16)."""
    return weight_footprint(loaded.model.model.layers)


RATIOS = [("4bit", 0.40, 0.45), ("8bit", 0.60, 0.65)]  # decoder layers, whole model, of bf16's


@needs_bnb
@pytest.mark.parametrize(("bits", "layers_at_most", "total_at_most"), RATIOS)
def test_quantized_weights_are_a_fraction_of_bf16(
    shared_settings: Settings, bf16: LoadedModel, bits: str, layers_at_most: float, total_at_most: float
) -> None:
    import bitsandbytes.nn as bnb_nn

    loaded = load(shared_settings, bits)
    assert (bf16.quantization, loaded.quantization) == (None, bits)
    layer_class = bnb_nn.Linear4bit if bits == "4bit" else bnb_nn.Linear8bitLt
    assert isinstance(loaded.model.model.layers[0].self_attn.q_proj, layer_class)
    assert bf16.weight_bytes == weight_footprint(bf16.model) > 250_000_000  # 134.5 M params in bf16
    assert loaded.weight_bytes == weight_footprint(loaded.model)
    # the quantization state (4-bit absmax per 64 weights, 8-bit row scales) is counted too
    assert loaded.weight_bytes > loaded.model.get_memory_footprint()
    assert decoder_bytes(loaded) < layers_at_most * decoder_bytes(bf16)
    # the tied 49152 x 576 embedding (21 % of the weights) stays bf16, so the whole model is above
    # the layers' ratio at this size
    assert loaded.weight_bytes < total_at_most * bf16.weight_bytes
    assert any(f"quantized {bits} by bitsandbytes" in note for note in loaded.notes)
    # no weight left a view of the mmapped bf16 checkpoint (that kept the whole file resident)
    assert not [name for name, ptr in plain_weight_pointers(loaded) if in_mapped_checkpoint(ptr)]


def checkpoint_mappings() -> list[tuple[int, int]]:
    ranges = []
    maps = Path("/proc/self/maps")  # Linux; elsewhere the check has nothing to look at
    for line in maps.read_text().splitlines() if maps.exists() else []:
        if line.endswith(".safetensors"):
            start, end = line.split()[0].split("-")
            ranges.append((int(start, 16), int(end, 16)))
    return ranges


def in_mapped_checkpoint(ptr: int) -> bool:
    return any(start <= ptr < end for start, end in checkpoint_mappings())


def plain_weight_pointers(loaded: LoadedModel) -> list[tuple[str, int]]:
    import torch

    named = loaded.model.named_parameters()
    return [(name, p.data_ptr()) for name, p in named if type(p) is torch.nn.Parameter]


@pytest.fixture(scope="module", params=["4bit", "8bit"])
def quantized_engine(request: pytest.FixtureRequest, shared_settings: Settings) -> Iterator[Engine]:
    settings = cpu_settings(shared_settings, request.param)
    eng = Engine(settings)
    eng.load(PACKAGED_CHAT_ID)
    yield eng
    eng.close()


@needs_bnb
def test_quantized_model_answers_and_reports_it(quantized_engine: Engine) -> None:
    bits = quantized_engine.settings.quantization
    options = {"max_tokens": 12, "temperature": 0}
    done: dict[str, Any] = quantized_engine.generate(PACKAGED_CHAT_ID, Q, options)
    assert "Paris" in done["text"]
    rt = quantized_engine.runtime(PACKAGED_CHAT_ID)
    assert rt.loaded.quantization == bits and rt.device == "cpu"
    described = quantized_engine.get_model(PACKAGED_CHAT_ID)
    assert described["state"] == "loaded"
    # GET /chat-ext/models names what the weights loaded as, and what they hold
    assert described["quantization"] == bits and described["weight_bytes"] == rt.loaded.weight_bytes > 0
    import bitsandbytes

    said = f"quantized {bits} by bitsandbytes {bitsandbytes.__version__} on cpu"
    assert any(said in note for note in described["notes"])


@needs_bnb
def test_quantization_settings_are_checked_and_explained() -> None:
    import torch

    with pytest.raises(ModelError, match="unknown quantization '3bit'"):
        bnb_load_kwargs("3bit", "cpu", torch.bfloat16)
    kwargs, why_not = bnb_load_kwargs("4bit", "cpu", torch.bfloat16)
    assert why_not is None and kwargs["device_map"] == {"": "cpu"}
    assert kwargs["quantization_config"].bnb_4bit_quant_type == "nf4"
    kwargs, why_not = bnb_load_kwargs("8bit", "meta", torch.bfloat16)
    assert kwargs == {} and why_not is not None
    assert "does not run on 'meta'" in why_not and "loaded unquantized in bfloat16 on meta" in why_not


def test_without_bitsandbytes_the_model_loads_unquantized_and_says_why(
    shared_settings: Settings, bf16: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import bitsandbytes -> ImportError
    loaded = load(shared_settings, "4bit")
    assert loaded.quantization is None
    assert loaded.weight_bytes == bf16.weight_bytes
    assert len(loaded.notes) == 1
    assert "quantization '4bit' needs bitsandbytes" in loaded.notes[0]
    assert "loaded unquantized in bfloat16 on cpu" in loaded.notes[0]

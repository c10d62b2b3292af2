"""bitsandbytes on a model folder of a given shape: every byte of a quantized load accounted for.

The weight-memory goal of issue 21 ("4-bit < 40 % of bf16's weight memory") is measured at real
shapes by ``bench/bench_quant.py --shape``, on random-weight Hugging Face folders loaded from
``model_dirs``. This checks that path on a small shape (seconds, no GPU): a random-weight folder,
the embedding tied or not, loads through the ``Engine`` in bf16 and quantized, answers, and the
loader's ``weight_bytes`` holds, for each quantized linear layer, at least what its format must
store (4-bit NF4: two weights a byte plus one absmax byte per 64; 8-bit: a byte a weight plus a
float32 scale per output row) and not more than a few KiB beside it, while what bitsandbytes
leaves alone (the embedding, an untied output matrix, the norms) weighs exactly what it does in
bf16, a tied embedding counted once.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from jupyter_chat_ext.engine.backends.transformers.loader import weight_footprint
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is None,
    reason="bitsandbytes is not installed (it is in the [test] extra: pip install -e '.[test]')",
)

TOKENS = 4
HIDDEN, INTERMEDIATE, LAYERS = 256, 512, 2
#: what a quantized weight may hold beside its packed values and per-block scales: bitsandbytes'
#: 256-entry float32 code books (the NF4 one and the double quantization's) and small scalars
SLACK_BYTES = 4096


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory, shared_settings: Settings) -> Any:
    """The packaged model's tokenizer (from the transformers backend's conversion cache)."""
    settings = dataclasses.replace(shared_settings, backend="transformers", device="cpu", dtype="bfloat16")
    eng = Engine(settings)
    eng.load(settings.default_model)
    tok = eng.runtime(settings.default_model).loaded.tokenizer
    eng.close()
    return tok


def random_model_folder(root: Path, tokenizer: Any, tied: bool) -> Path:
    """A random-weight Llama of a small shape saved as a Hugging Face folder, EOS rows zeroed so
    greedy decoding runs its full length (as bench/shapes.py makes the real shapes)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=tied,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    with torch.no_grad():
        for token in {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}:
            model.lm_head.weight[token].zero_()
    folder = root / ("tied" if tied else "untied")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def load_and_answer(shared_settings: Settings, folder: Path, quantization: str | None) -> tuple[Engine, dict]:
    settings = dataclasses.replace(
        shared_settings,
        data_dir=folder.parent / f"data-{folder.name}-{quantization}",
        model_dirs=[folder.parent],
        scan_hf_cache=False,
        backend="transformers",
        device="cpu",
        dtype="bfloat16",
        quantization=quantization,
    )
    eng = Engine(settings)
    eng.load(folder.name)
    question = [{"role": "user", "content": "Hello"}]
    return eng, eng.generate(folder.name, question, {"max_tokens": TOKENS, "temperature": 0})


def quantized_linear_floor(module: Any, bits: str) -> int:
    """The bytes a quantized ``nn.Linear`` of this shape must hold at the least."""
    n = module.in_features * module.out_features
    if bits == "4bit":
        return n // 2 + n // 64  # NF4 nibbles, one (double-quantized) absmax byte per 64 weights
    return n + 4 * module.out_features  # int8 weights, a float32 scale (SCB) per output row


@pytest.mark.parametrize("bits", ["4bit", "8bit"])
@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_quantized_folder_weight_bytes_hold_every_weight_once(
    tmp_path: Path, shared_settings: Settings, tokenizer: Any, tied: bool, bits: str
) -> None:
    import bitsandbytes.nn as bnb_nn

    folder = random_model_folder(tmp_path, tokenizer, tied)
    bf16_engine, _ = load_and_answer(shared_settings, folder, None)
    engine, done = load_and_answer(shared_settings, folder, bits)
    bf16, quantized = (e.runtime(folder.name).loaded for e in (bf16_engine, engine))
    assert (bf16.quantization, quantized.quantization) == (None, bits)
    assert done["metrics"]["completion_tokens"] == TOKENS  # it answers, and runs its full length
    # counted at load, still true after an answer: bitsandbytes repacks 4-bit weights for its CPU
    # kernel on their first forward, which the loader runs itself
    assert quantized.weight_bytes == weight_footprint(quantized.model)

    layer_class = bnb_nn.Linear4bit if bits == "4bit" else bnb_nn.Linear8bitLt
    linears = [m for m in quantized.model.model.layers.modules() if isinstance(m, layer_class)]
    assert len(linears) == 7 * LAYERS  # q, k, v, o, gate, up, down: every one quantized
    for linear in linears:
        floor = quantized_linear_floor(linear, bits)
        assert floor <= weight_footprint(linear) <= floor + SLACK_BYTES

    def untouched(loaded: Any) -> int:
        return loaded.weight_bytes - weight_footprint(loaded.model.model.layers)

    # the embedding (and an untied output matrix) and the final norm stay bf16, tied weights once;
    # the rotary tables are the model's only buffers
    embedding_weights = len(tokenizer) * HIDDEN * (1 if tied else 2)
    buffers = sum(b.nbytes for b in bf16.model.buffers())
    assert untouched(quantized) == untouched(bf16) == 2 * (embedding_weights + HIDDEN) + buffers
    norms = 2 * HIDDEN * (2 * LAYERS)  # two RMSNorms a layer
    assert weight_footprint(quantized.model.model.layers) == norms + sum(map(weight_footprint, linears))
    assert bf16.weight_bytes == 2 * sum(p.numel() for p in bf16.model.parameters()) + buffers
    bf16_engine.close()
    engine.close()

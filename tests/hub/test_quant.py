"""Quantization names parsed from GGUF file names; split files grouped; a safetensors folder as one entry."""

from __future__ import annotations

import pytest

from jupyter_chat_ext.hub.quant import gguf_entries, parse_quant, safetensors_entry, split_part


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("qwen2.5-0.5b-instruct-q8_0.gguf", "Q8_0"),
        ("Llama-3.2-3B-Instruct-IQ4_XS.gguf", "IQ4_XS"),
        ("Llama-3.2-1B-Instruct-Q6_K_L.gguf", "Q6_K_L"),
        ("model-IQ3_XXS.gguf", "IQ3_XXS"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("nomic-embed-text-v1.5.f16.gguf", "F16"),
        ("gemma-2-2b-it-BF16.gguf", "BF16"),
        ("phi-3-mini-fp16.gguf", "F16"),
        ("model-Q4_0_4_4.gguf", "Q4_0_4_4"),
        ("sub/dir/x-Q5_K_S.gguf", "Q5_K_S"),
        ("qwen2.5-7b-instruct-q4_k_m-00001-of-00002.gguf", "Q4_K_M"),
        ("ggml-model.gguf", None),
        ("Q4K-is-not-a-quant.gguf", None),
    ],
)
def test_parse_quant(name, quant):
    assert parse_quant(name) == quant


def test_split_parts_are_one_entry_sized_as_their_sum():
    siblings = [
        {"rfilename": "m-Q8_0-00002-of-00003.gguf", "size": 20},
        {"rfilename": "m-Q8_0-00001-of-00003.gguf", "size": 10},
        {"rfilename": "m-Q8_0-00003-of-00003.gguf", "size": 5},
        {"rfilename": "m-Q4_K_M.gguf", "size": 12},
        {"rfilename": "README.md", "size": 1},
    ]
    entries = gguf_entries(siblings)
    assert [(e["file"], e["size_bytes"], e["quant"]) for e in entries] == [
        ("m-Q4_K_M.gguf", 12, "Q4_K_M"),
        ("m-Q8_0-00001-of-00003.gguf", 35, "Q8_0"),
    ]
    assert entries[1]["parts"] == [f"m-Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert split_part("m-Q8_0-00002-of-00003.gguf") == ("m-Q8_0", 2, 3)


def test_a_split_model_with_a_missing_part_is_left_out():
    siblings = [{"rfilename": "m-00001-of-00002.gguf", "size": 1}]
    assert gguf_entries(siblings) == []


def test_a_safetensors_folder_is_one_entry_with_its_config_and_tokenizer():
    siblings = [
        {"rfilename": "model-00001-of-00002.safetensors", "size": 100},
        {"rfilename": "model-00002-of-00002.safetensors", "size": 50},
        {"rfilename": "config.json", "size": 2},
        {"rfilename": "tokenizer.json", "size": 3},
        {"rfilename": "onnx/model.onnx", "size": 1000},
        {"rfilename": "1_Pooling/config.json", "size": 1},
    ]
    entry = safetensors_entry(siblings)
    assert entry["file"] is None and entry["size_bytes"] == 155
    assert safetensors_entry([{"rfilename": "x.gguf", "size": 1}]) is None

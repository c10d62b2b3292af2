"""Fill-in-the-middle: which tokens a model has for it, and the prompt layout.

A model can do FIM when its vocabulary has the three control tokens (prefix, suffix, middle).
They are found where each format keeps them: GGUF metadata (``tokenizer.ggml.fim_pre_token_id``
... as llama.cpp reads them, which also recognises the spellings below in the vocabulary), and in a
Hugging Face vocabulary by spelling. The packaged SmolLM2-135M-Instruct has none (its control
tokens are ChatML's and StarCoder-style repository markers), so it completes from the prefix only.

The layout is PSM, the one StarCoder, Qwen-Coder, DeepSeek-Coder and llama-server use:
``[BOS] <pre> prefix <suf> suffix <mid>``; the model writes the middle next. Prefix and suffix are
tokenized as plain text: code that happens to contain ``<|im_end|>`` must not become a control token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: FIM token spellings in the vocabularies we know (StarCoder/SmolLM-style, then Qwen-style)
FIM_SPELLINGS = (
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
)
_GGUF_KEYS = tuple(f"tokenizer.ggml.fim_{k}_token_id" for k in ("pre", "suf", "mid"))

FimIds = tuple[int, int, int]


def fim_ids_from_gguf(path: str | Path) -> FimIds | None:
    """The FIM token ids a GGUF file declares in its metadata (None when it declares none)."""
    from .gguf_header import read_gguf_header

    header = read_gguf_header(path)
    ids = [header.get(key) for key in _GGUF_KEYS]
    return (int(ids[0]), int(ids[1]), int(ids[2])) if all(isinstance(i, int) for i in ids) else None


def fim_ids_from_vocab(vocab: dict[str, int]) -> FimIds | None:
    """The FIM token ids of a Hugging Face vocabulary, by their known spellings."""
    for spelling in FIM_SPELLINGS:
        if all(token in vocab for token in spelling):
            return (vocab[spelling[0]], vocab[spelling[1]], vocab[spelling[2]])
    return None


def psm_layout(
    fim: FimIds, prefix_ids: list[int], suffix_ids: list[int], bos: int | None = None
) -> list[int]:
    """``[BOS] <pre> prefix <suf> suffix <mid>`` as token ids."""
    pre, suf, mid = fim
    head: list[Any] = [bos] if bos is not None and bos >= 0 else []
    return [*head, pre, *prefix_ids, suf, *suffix_ids, mid]

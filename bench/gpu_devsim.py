"""A dry run of bench/bench_gpu.py with only the Python packages the device machine has.

The device machine ('cuda' image) reaches nothing, so a package the engine imports that it lacks
fails the paid call. ``GPU_DEVSIM=1`` (with ``GPU_DRY=1``) makes bench_gpu.py call ``install()``
first: an installed distribution that is neither in the image's package list (``DEVICE_PACKAGES``,
as the device tool's KINDS.md read it on 2026-11-17) nor carried as a wheel (``CARRIED``, the
recipe in bench_gpu.py's docstring) is found by no finder: importing it raises ModuleNotFoundError
and ``importlib.util.find_spec`` gives None, as there. Optional imports and availability probes
(transformers' ``is_kernels_available``) take their fallback, as there. Each name refused, import
or probe, is recorded in ``BLOCKED`` (the dry run's JSON shows it).

The image's transformers is 5.17.0 (huggingface_hub 1.33.0), older than this venv's; the dry run
as the device would import, those two first on PYTHONPATH (fetched once into /tmp/tf517):
    python3 -m pip download -q --no-deps -d /tmp/tf517 transformers==5.17.0 huggingface_hub==1.33.0 \
      && for w in /tmp/tf517/*.whl; do unzip -qo $w -d /tmp/tf517/site; done
    GPU_DRY=1 GPU_DEVSIM=1 GPU_TOKENS=8 OUT=$(mktemp -d) PYTHONPATH=/tmp/tf517/site \
        .venv/bin/python bench/bench_gpu.py
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import re
import sys
from typing import Any

#: the device image's Python packages (KINDS.md, "Python packages already there", 2026-11-17)
_DEVICE_IMAGE = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator
lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py
mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja
numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver
nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink
nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript opencv-python-headless
optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11
py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark
pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning pyyaml
regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy
seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore
threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq
torch-geometric torchmetrics torchvision tqdm transformers treescope triton typer
typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray
xxhash yarl zipp"""
DEVICE_PACKAGES = _DEVICE_IMAGE.split()

#: what bench_gpu.py's carry recipe installs there from wheels (the engine's imports the image lacks)
_CARRIED = """
bitsandbytes llguidance jsonschema jsonschema-specifications referencing rpds-py pydantic
pydantic-core annotated-types typing-inspection typing-extensions
"""
CARRIED = _CARRIED.split()

BLOCKED: list[str] = []


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


ALLOWED = {_norm(n) for n in [*DEVICE_PACKAGES, *CARRIED, "jupyter-chat-ext"]}


class _DeviceFinder(importlib.abc.MetaPathFinder):
    """One of ``sys.meta_path``'s finders that finds nothing the device image lacks, so that
    ``import x`` raises ModuleNotFoundError and ``importlib.util.find_spec(x)`` is None, as there."""

    def __init__(self, inner: Any, dists: dict[str, list[str]]) -> None:
        self.inner, self.dists = inner, dists

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        dists = self.dists.get(name.split(".", 1)[0])
        if dists and not any(_norm(d) in ALLOWED for d in dists):
            entry = f"{name} ({', '.join(dists)})"
            if entry not in BLOCKED:
                BLOCKED.append(entry)
            return None
        find = getattr(self.inner, "find_spec", None)
        return find(name, path, target) if find else None

    def find_distributions(self, *args: Any, **kwargs: Any) -> Any:
        """importlib.metadata asks here too: what the image lacks has no metadata either."""
        find = getattr(self.inner, "find_distributions", None)
        found = find(*args, **kwargs) if find else ()
        return (d for d in found if _norm(d.metadata["Name"] or "") in ALLOWED)

    def invalidate_caches(self) -> None:
        getattr(self.inner, "invalidate_caches", lambda: None)()


def install() -> None:
    """From now on, find only what the device machine could import (stdlib, project, its image)."""
    dists = importlib.metadata.packages_distributions()
    sys.meta_path[:] = [_DeviceFinder(finder, dists) for finder in sys.meta_path]

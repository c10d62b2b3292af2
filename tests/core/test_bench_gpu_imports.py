"""The GPU bench's device machine has only its image's packages and the wheels carried to it.

bench/bench_gpu.py runs there in one paid call: an import the image lacks fails it. Its carry
recipe once missed pydantic, which the engine imports since engine/options.py validates options
with it. This runs the engine's part of the GPU bench (the modules it imports, an Engine listing
a model folder) in a fresh interpreter where bench/gpu_devsim.py refuses every installed package
the image does not hold and the recipe does not carry, and checks that the recipe's pinned names
are the ones gpu_devsim allows. No GPU, no model load: a few seconds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

ENGINE_PART = """
import json, sys, tempfile
from pathlib import Path
sys.path.insert(0, "bench")
import gpu_devsim
gpu_devsim.install()
import jupyter_chat_ext.engine.backends.transformers.batcher
import jupyter_chat_ext.engine.backends.transformers.loader
import jupyter_chat_ext.engine.embeddings
import jupyter_chat_ext.engine.structured
import bench_hf_batching, gpu_parts, shapes
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.settings import Settings

folder = Path(tempfile.mkdtemp())
(folder / "tiny-random").mkdir()
(folder / "tiny-random" / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
engine = Engine(Settings(data_dir=folder / "data", model_dirs=[folder], scan_hf_cache=False,
                         backend="transformers", device="cpu"))
ids = [m["id"] for m in engine.list_models()]
engine.close()
print(json.dumps({"ids": ids, "blocked": gpu_devsim.BLOCKED}))
"""


def test_the_engine_part_of_the_gpu_bench_imports_only_what_the_device_holds() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", ENGINE_PART], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "tiny-random" in result["ids"]
    # the guard was on: this venv holds packages the image lacks (llama-cpp-python, the packaged
    # model's package), which the engine looked for and went on without
    assert result["blocked"]
    assert not [name for name in result["blocked"] if name.split(" ")[0].split(".")[0] == "pydantic"]


def test_the_carry_recipe_pins_what_gpu_devsim_allows() -> None:
    sys.path.insert(0, str(REPO / "bench"))
    import gpu_devsim

    doc = (REPO / "bench" / "bench_gpu.py").read_text()
    recipe = re.search(r"m\.version\(n\) for n in '([^']+)'\.split\(\)", doc.replace("\\\n", ""))
    assert recipe is not None, "bench_gpu.py's docstring no longer pins the carried wheels"
    assert sorted(recipe.group(1).split()) == sorted(gpu_devsim.CARRIED)


def test_the_kv_page_size_goes_by_the_name_transformers_takes() -> None:
    """transformers 5.17 (the device image's) names ContinuousBatchingConfig's page size
    ``block_size`` and refuses ``page_size``; newer ones take ``page_size``."""
    sys.path.insert(0, str(REPO / "bench"))
    from bench_hf_batching import page_size_arg
    from transformers import ContinuousBatchingConfig

    class Older:  # 5.17's keyword
        def __init__(self, block_size: int = 128, num_blocks: int | None = None) -> None:
            self.block_size = block_size

    assert page_size_arg(Older, 64) == {"block_size": 64}
    assert Older(**page_size_arg(Older, 64)).block_size == 64
    made = ContinuousBatchingConfig(**page_size_arg(ContinuousBatchingConfig, 64))
    assert made.page_size == 64 if hasattr(made, "page_size") else made.block_size == 64

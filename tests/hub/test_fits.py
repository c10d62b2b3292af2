"""fits: weights + KV cache at 4096 tokens + margin against VRAM, RAM, or neither."""

from __future__ import annotations

from jupyter_chat_ext.engine.gguf_header import read_gguf_header
from jupyter_chat_ext.hub.fits import MARGIN_BYTES, fits, kv_cache_bytes, needed_bytes
from jupyter_chat_ext.hub.hardware import build_profile

GIB = 1024**3
LLAMA_CUDA = {"installed": True, "version": "0.3.36", "gpu_offload": True, "backends": ["CPU", "CUDA"]}
LLAMA_CPU = {"installed": True, "version": "0.3.36", "gpu_offload": False, "backends": ["CPU"]}
Q4_7B = 4_680_000_000
PARAMS_7B = 7_620_000_000


def machine(*, ram_gib: float, vram_gib: float | None = None, llama: dict = LLAMA_CUDA) -> dict:
    gpus = []
    if vram_gib is not None:
        vram = int(vram_gib * GIB)
        gpus = [
            {"index": 0, "name": "GPU", "vram_total_bytes": vram, "vram_free_bytes": vram, "source": "nvml"}
        ]
    ram = int(ram_gib * GIB)
    meminfo = f"MemTotal: {ram // 1024} kB\nMemAvailable: {ram // 1024} kB\n"
    return build_profile("/tmp", meminfo_text=meminfo, tegra_text="", gpus=gpus, llama=llama)


def test_a_7b_q4_fits_an_8gb_gpu():
    verdict = fits(Q4_7B, machine(ram_gib=16, vram_gib=8), parameters=PARAMS_7B)
    assert verdict["verdict"] == "gpu"
    assert Q4_7B < verdict["needed_bytes"] < 8 * GIB
    assert "VRAM" in verdict["note"] and "estimated" in verdict["note"]


def test_too_big_for_the_gpu_runs_on_the_cpu_and_says_why():
    verdict = fits(Q4_7B, machine(ram_gib=32, vram_gib=4), parameters=PARAMS_7B)
    assert verdict["verdict"] == "cpu"
    assert "more than the 4.0 GiB of free VRAM" in verdict["note"]


def test_a_cpu_only_llama_build_cannot_use_the_gpu():
    verdict = fits(Q4_7B, machine(ram_gib=32, vram_gib=24, llama=LLAMA_CPU), parameters=PARAMS_7B)
    assert verdict["verdict"] == "cpu"
    assert "no GPU offload" in verdict["note"]


def test_neither_fits():
    verdict = fits(Q4_7B, machine(ram_gib=4), parameters=PARAMS_7B)
    assert verdict["verdict"] == "no"
    assert verdict["needed_bytes"] > 4 * GIB and "available RAM" in verdict["note"]


def test_kv_cache_from_the_packaged_models_header(tmp_path):
    from standin_hub import packaged_gguf

    header = read_gguf_header(packaged_gguf()).metadata
    # SmolLM2-135M: 30 layers, 3 KV heads of 64 (576 / 9 heads), K and V in f16
    assert (header["llama.block_count"], header["llama.attention.head_count_kv"]) == (30, 3)
    kv, how = kv_cache_bytes(header=header, context=4096)
    assert (kv, how) == (30 * 4096 * 3 * (64 + 64) * 2, "header")
    size = packaged_gguf().stat().st_size
    need, _ = needed_bytes(size, header=header)
    assert need == size + kv + int(size * 0.10) + MARGIN_BYTES
    assert fits(size, machine(ram_gib=2), header=header)["verdict"] == "cpu"


def test_kv_estimate_without_a_header_scales_with_parameters():
    small, how = kv_cache_bytes(parameters=500_000_000)
    big, _ = kv_cache_bytes(parameters=8_000_000_000)
    assert how == "estimate" and big == 16 * small
    # at or above the real f16 KV cache of Llama-3.1-8B at 4096 tokens (32 x 8 x 128 x 2 x 2 B a token)
    assert big >= 32 * 8 * 128 * 2 * 2 * 4096
    assert kv_cache_bytes() == (0, "unknown")


def test_a_jetson_gpu_holds_what_its_shared_ram_holds():
    meminfo = f"MemTotal: {32 * GIB // 1024} kB\nMemAvailable: {28 * GIB // 1024} kB\n"
    tegra = "# R36 (release), REVISION: 4.0, GCID: 1, BOARD: generic, EABI: aarch64\n"
    jetson = build_profile("/tmp", meminfo_text=meminfo, tegra_text=tegra, gpus=[], llama=LLAMA_CUDA)
    assert (
        fits(Q4_7B, jetson, parameters=PARAMS_7B)["verdict"] == "gpu"
    )  # unified memory: no VRAM limit of its own
    cpu_build = build_profile("/tmp", meminfo_text=meminfo, tegra_text=tegra, gpus=[], llama=LLAMA_CPU)
    assert fits(Q4_7B, cpu_build, parameters=PARAMS_7B)["verdict"] == "cpu"

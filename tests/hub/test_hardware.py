"""The hardware profile: its shape on this machine, and the parsers fed a Jetson's and a GPU box's texts."""

from __future__ import annotations

from jupyter_chat_ext.hub import hardware as hw

X86_CPUINFO = (
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    "flags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni "
    "amx_tile amx_bf16\n"
    "processor\t: 1\n"
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    "flags\t\t: fpu vme sse sse2\n"
)
# a Jetson AGX Orin (Cortex-A78AE): no "model name", ARMv8 feature names
JETSON_CPUINFO = (
    "processor\t: 0\n"
    "BogoMIPS\t: 62.50\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc "
    "dcpop asimddp uscat ilrcpc flagm paca pacg\n"
    "CPU implementer\t: 0x41\n"
    "CPU architecture: 8\n"
)
JETSON_TEGRA = (
    "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, "
    "DATE: Fri Sep 13 04:36:44 UTC 2024\n"
    "# KERNEL_VARIANT: oot\n"
    "TARGET_USERSPACE_LIB_DIR=nvidia\n"
)
MEMINFO = """MemTotal:       65536000 kB
MemFree:         1000000 kB
MemAvailable:   60000000 kB
Cached:          2000000 kB
"""
NVIDIA_SMI = """0, NVIDIA GeForce RTX 4090, 24564, 23987
1, NVIDIA A100-SXM4-80GB, 81920, 81037
"""
LLAMA_CUDA_INFO = (
    "CUDA : ARCHS = 890 | USE_GRAPHS = 1 | PEER_MAX_BATCH_SIZE = 128 | CPU : SSE3 = 1 | SSSE3 = 1 | "
    "AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | AVX512 = 1 | OPENMP = 1 | REPACK = 1 | "
)
LLAMA_CPU_INFO = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | OPENMP = 1 | REPACK = 1 | "
)


def test_profile_of_this_machine_has_the_contract_shape(tmp_path):
    profile = hw.build_profile(tmp_path / "hub" / "models")  # a folder that does not exist yet
    assert set(profile) == {"cpu", "ram", "disk", "gpus", "jetson", "llama_cpp"}
    assert profile["cpu"]["cores"] >= 1 and isinstance(profile["cpu"]["features"], list)
    assert 0 < profile["ram"]["available_bytes"] <= profile["ram"]["total_bytes"]
    assert profile["disk"]["path"] == str(tmp_path / "hub" / "models") and profile["disk"]["free_bytes"] > 0
    assert isinstance(profile["gpus"], list)
    for gpu in profile["gpus"]:
        assert {"index", "name", "vram_total_bytes", "vram_free_bytes", "source"} <= set(gpu)
    assert set(profile["jetson"]) == {"detected", "release", "unified_memory"}
    llama = profile["llama_cpp"]
    assert set(llama) == {"installed", "version", "gpu_offload", "backends"}
    if llama["installed"]:
        assert "CPU" in llama["backends"] and llama["version"]


def test_hardware_profile_is_cached_briefly(tmp_path):
    first = hw.hardware_profile(tmp_path)
    assert hw.hardware_profile(tmp_path) is first  # within CACHE_S: the same object
    assert hw.hardware_profile(tmp_path, max_age_s=0) is not first


def test_x86_cpuinfo_features_and_model():
    info = hw.parse_cpuinfo(X86_CPUINFO, machine="x86_64")
    assert info["model"] == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx2", "avx512f", "avx512_vnni", "amx_tile", "fma"} <= set(info["features"])
    assert "neon" not in info["features"]


def test_jetson_is_detected_with_neon_and_unified_memory():
    profile = hw.build_profile(
        "/nonexistent/models",
        cpuinfo_text=JETSON_CPUINFO,
        meminfo_text=MEMINFO,
        tegra_text=JETSON_TEGRA,
        gpus=[],  # JetPack 5: no nvidia-smi, NVML sees no iGPU
        llama={"installed": True, "version": "0.3.36", "gpu_offload": True, "backends": ["CPU", "CUDA"]},
    )
    assert profile["jetson"] == {"detected": True, "release": "R36.4.0", "unified_memory": True}
    assert profile["cpu"]["features"][0] == "neon" and "asimddp" in profile["cpu"]["features"]
    assert profile["ram"] == {"total_bytes": 65536000 * 1024, "available_bytes": 60000000 * 1024}
    (gpu,) = profile["gpus"]  # the integrated GPU, its memory the board's RAM
    assert gpu["vram_total_bytes"] == profile["ram"]["total_bytes"]
    assert gpu["vram_free_bytes"] == profile["ram"]["available_bytes"]


def test_jetson_nvidia_smi_without_memory_gets_the_ram():
    gpus = hw.parse_nvidia_smi("0, Orin, [N/A], [N/A]\n")
    assert gpus == [
        {"index": 0, "name": "Orin", "vram_total_bytes": 0, "vram_free_bytes": None, "source": "nvidia-smi"}
    ]
    profile = hw.build_profile("/x", meminfo_text=MEMINFO, tegra_text=JETSON_TEGRA, gpus=gpus, llama={})
    assert profile["gpus"][0]["vram_total_bytes"] == 65536000 * 1024


def test_no_tegra_release_means_no_jetson():
    assert hw.parse_tegra_release(None) == {"detected": False, "release": None, "unified_memory": False}
    assert hw.parse_tegra_release("") == {"detected": False, "release": None, "unified_memory": False}


def test_nvidia_smi_output_gives_each_gpu_in_bytes():
    gpus = hw.parse_nvidia_smi(NVIDIA_SMI)
    assert [g["name"] for g in gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA A100-SXM4-80GB"]
    assert gpus[0]["vram_total_bytes"] == 24564 * 1024 * 1024
    assert gpus[1]["vram_free_bytes"] == 81037 * 1024 * 1024
    assert {g["source"] for g in gpus} == {"nvidia-smi"}
    assert hw.parse_nvidia_smi("index, name, memory.total [MiB], memory.free [MiB]\n") == []


def test_meminfo_without_memavailable_falls_back_to_free_plus_cached():
    ram = hw.parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nCached: 200 kB\n")
    assert ram == {"total_bytes": 1000 * 1024, "available_bytes": 300 * 1024}


def test_llama_cpp_backends_from_its_system_info():
    assert hw.parse_llama_system_info(LLAMA_CUDA_INFO) == ["CPU", "CUDA"]
    assert hw.parse_llama_system_info(LLAMA_CPU_INFO) == ["CPU"]
    assert "Metal" in hw.parse_llama_system_info("Metal : EMBED_LIBRARY = 1 | CPU : NEON = 1 | ")

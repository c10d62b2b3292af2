"""The packaged catalog: its shape, fits and installed per entry, and the suggested pick per role."""

from __future__ import annotations

import json

from jupyter_chat_ext.hub.catalog import CATALOG_PATH, ROLES, catalog_view, load_catalog, suggest
from jupyter_chat_ext.hub.hardware import build_profile
from jupyter_chat_ext.hub.quant import parse_quant

GIB = 1024**3
KEYS = {
    "id",
    "role",
    "name",
    "repo",
    "file",
    "parameters",
    "quant",
    "size_bytes",
    "context_length",
    "licence",
    "fim",
    "tools",
    "notes",
}


def machine(ram_gib: float, vram_gib: float | None = None, offload: bool = True) -> dict:
    ram = int(ram_gib * GIB) // 1024
    gpus = []
    if vram_gib is not None:
        v = int(vram_gib * GIB)
        gpus = [{"index": 0, "name": "GPU", "vram_total_bytes": v, "vram_free_bytes": v, "source": "nvml"}]
    llama = {"installed": True, "version": "0.3.36", "gpu_offload": offload, "backends": ["CPU"]}
    return build_profile(
        "/tmp",
        meminfo_text=f"MemTotal: {ram} kB\nMemAvailable: {ram} kB\n",
        tegra_text="",
        gpus=gpus,
        llama=llama,
    )


def test_the_catalog_file_is_well_formed():
    data = json.loads(CATALOG_PATH.read_text())
    assert "not a promise" in data["about"]
    entries = load_catalog()
    assert len({e["id"] for e in entries}) == len(entries)
    for e in entries:
        assert set(e) == KEYS, e["id"]
        assert e["role"] in ROLES and e["repo"].count("/") == 1
        assert e["file"].endswith(".gguf") and parse_quant(e["file"]) == e["quant"]
        assert e["parameters"] > 0 and e["size_bytes"] > 0 and e["context_length"] >= 512
    assert {e["role"] for e in entries} == set(ROLES)
    assert any(e["role"] == "code" and e["fim"] for e in entries)  # inline completion has a pick


def test_the_catalog_ships_in_the_wheel():
    from pathlib import Path

    from hatchling.builders.wheel import WheelBuilder

    # the files the project's own build backend puts in the wheel (listed, not built)
    builder = WheelBuilder(str(Path(__file__).resolve().parents[2]))
    names = {f.distribution_path for f in builder.recurse_included_files()}
    assert "jupyter_chat_ext/hub/catalog.json" in names


def test_view_has_fits_installed_and_suggested():
    installed = {("Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q4_k_m.gguf"): "qwen/x:y"}
    view = catalog_view(machine(16), lambda repo, file: installed.get((repo, file)))
    assert set(view) == {"entries", "suggested", "hardware"}
    by_id = {e["id"]: e for e in view["entries"]}
    assert by_id["qwen2.5-0.5b-instruct-q4_k_m"]["installed"] is True
    assert by_id["qwen2.5-0.5b-instruct-q4_k_m"]["model_id"] == "qwen/x:y"
    assert by_id["qwen2.5-7b-instruct-q4_k_m"]["installed"] is False
    for e in view["entries"]:
        assert e["fits"]["verdict"] in ("gpu", "cpu", "no") and e["fits"]["needed_bytes"] > e["size_bytes"]
    assert set(view["suggested"]) == set(ROLES)
    assert all(s in by_id for s in view["suggested"].values() if s)


def test_suggestions_follow_the_machine():
    def picks(hw: dict) -> dict:
        return catalog_view(hw, lambda r, f: None)["suggested"]

    gpu = picks(machine(32, vram_gib=24))
    assert gpu["chat"] in ("llama-3.1-8b-instruct-q4_k_m", "qwen2.5-7b-instruct-q4_k_m")
    assert gpu["code"] in ("qwen2.5-coder-7b-q8_0", "qwen2.5-coder-7b-instruct-q4_k_m")

    laptop = picks(machine(16))  # CPU only: a responsive size, not the largest that fits
    by_id = {e["id"]: e for e in load_catalog()}
    assert by_id[laptop["chat"]]["size_bytes"] <= 2_200_000_000
    assert by_id[laptop["code"]]["fim"] and by_id[laptop["code"]]["size_bytes"] <= 1_200_000_000
    assert laptop["embedding"] is not None and laptop["rerank"] is not None

    # a CPU-only llama.cpp build does not count the GPU
    assert picks(machine(16, vram_gib=24, offload=False)) == laptop

    tiny = picks(machine(0.5))
    assert tiny["chat"] is None and tiny["code"] is None


def test_suggest_leaves_headroom_in_ram():
    entries = [
        {
            "id": "a",
            "role": "chat",
            "parameters": 3,
            "size_bytes": 10,
            "fits": {"verdict": "cpu", "needed_bytes": 600},
        },
        {
            "id": "b",
            "role": "chat",
            "parameters": 2,
            "size_bytes": 10,
            "fits": {"verdict": "cpu", "needed_bytes": 400},
        },
    ]
    assert suggest(entries, {"ram": {"available_bytes": 1000}})["chat"] == "b"

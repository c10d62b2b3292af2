"""Turn the paths a user names into the files to ingest.

Confinement: with ``root`` (the HTTP routes pass the Jupyter server root) every path, relative or
absolute, must resolve - after following symlinks - inside root; anything else is refused with
InvalidInput, and a symlink met while walking a folder that points outside root is skipped with a
reason. Folders are walked without following directory symlinks; hidden entries, dependency and
build folders are skipped, and ``.gitignore`` files plus caller ``exclude`` patterns (gitignore
syntax, via pathspec) prune the walk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from ...errors import InvalidInput, NotFound, PayloadTooLarge
from .registry import is_supported

#: folders never worth indexing (dependencies, caches, build output, virtual environments)
SKIP_DIRS = {
    "node_modules",
    "__pycache__",
    "build",
    "dist",
    "site-packages",
    "venv",
    "env",
    "target",
    "htmlcov",
    "lib64",
    "bower_components",
}
SKIP_DIR_SUFFIXES = (".egg-info", ".dist-info")
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024
#: a walk that finds more files than this stops with PayloadTooLarge (a home folder by mistake)
DEFAULT_MAX_FILES = 50_000


@dataclass
class Discovery:
    """Files to load (resolved, de-duplicated, in walk order) and what was left out and why."""

    files: list[Path] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: the folders that were walked: files once ingested under them and now gone drop out
    folders: list[Path] = field(default_factory=list)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def hidden_under(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (as named, relative to ``root``, and after following symlinks) has a
    component that starts with '.': Jupyter's contents API answers 404 for such a path unless
    ``ContentsManager.allow_hidden`` is set (its ``is_hidden``; .ssh, .env, .jupyter hold secrets)."""
    root_path = Path(root).resolve()
    raw = Path(str(path))
    named = raw if raw.is_absolute() else root_path / raw
    for candidate in (named, named.resolve()):
        try:
            parts = candidate.relative_to(root_path).parts
        except ValueError:
            continue
        if any(part.startswith(".") and part not in (".", "..") for part in parts):
            return True
    return False


def resolve_input(
    path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, *, allow_hidden: bool = False
) -> Path:
    """One user-named path -> an existing absolute path (inside ``root`` when given; not hidden
    under it unless ``allow_hidden``: NotFound, as Jupyter's contents API answers)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise InvalidInput("a path must be a non-empty string")
    if "\x00" in str(path):
        raise InvalidInput("a path must not contain NUL characters")
    raw = Path(os.path.expanduser(str(path))) if root is None else Path(str(path))
    if root is not None:
        root_path = Path(root).resolve()
        candidate = raw if raw.is_absolute() else root_path / raw
        resolved = candidate.resolve()
        if not _inside(resolved, root_path):
            raise InvalidInput(f"path {str(path)!r} is outside the allowed root folder")
        if not allow_hidden and hidden_under(path, root_path):
            raise NotFound(f"no such file or folder: {str(path)[:200]!r}")
    else:
        resolved = raw.resolve()
    try:
        exists = resolved.exists()
    except OSError as exc:  # e.g. ENAMETOOLONG: a name the file system cannot hold (found by fuzzing)
        raise InvalidInput(f"path {str(path)[:100]!r}... cannot be used: {exc.strerror}") from None
    if not exists:
        raise NotFound(f"no such file or folder: {str(path)!r}")
    return resolved


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _skip_dir(name: str) -> bool:
    return _is_hidden(name) or name in SKIP_DIRS or name.endswith(SKIP_DIR_SUFFIXES)


def _gitignore(folder: Path) -> pathspec.PathSpec | None:
    gi = folder / ".gitignore"
    if not gi.is_file():
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(
            gi.read_text(encoding="utf-8", errors="replace").splitlines()
        )
    except Exception:
        return None


def discover(
    paths: Sequence[str | os.PathLike[str]],
    *,
    root: str | os.PathLike[str] | None = None,
    exclude: Iterable[str] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    allow_hidden: bool = False,
) -> Discovery:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise InvalidInput("give at least one file or folder to ingest")
    root_path = Path(root).resolve() if root is not None else None
    user_spec = pathspec.GitIgnoreSpec.from_lines(list(exclude)) if exclude else None
    out = Discovery()
    seen: set[Path] = set()

    def display(p: Path) -> str:
        if root_path is not None and _inside(p, root_path):
            return str(p.relative_to(root_path))
        return str(p)

    def consider(file: Path, explicit: bool) -> None:
        if file.is_symlink():
            target = file.resolve()
            if root_path is not None and not _inside(target, root_path):
                out.skipped.append({"path": display(file), "reason": "symlink points outside the root"})
                return
            if root_path is not None and not allow_hidden and hidden_under(target, root_path):
                out.skipped.append({"path": display(file), "reason": "symlink points to a hidden file"})
                return
            file = target
        if file in seen:
            return
        if not file.is_file():
            if explicit:
                out.skipped.append({"path": display(file), "reason": "not a regular file"})
            return
        if not is_supported(file, sniff=explicit):
            if explicit:
                out.skipped.append({"path": display(file), "reason": "unsupported or binary file type"})
            return
        try:
            size = file.stat().st_size
        except OSError as exc:
            out.skipped.append({"path": display(file), "reason": f"cannot stat: {exc.strerror}"})
            return
        if size > max_file_bytes:
            out.skipped.append(
                {"path": display(file), "reason": f"larger than {max_file_bytes // (1024 * 1024)} MiB"}
            )
            return
        seen.add(file)
        out.files.append(file)
        if len(out.files) > max_files:
            raise PayloadTooLarge(
                f"more than {max_files} files to ingest; pick a smaller folder or add exclude patterns"
            )

    for item in paths:
        resolved = resolve_input(item, root, allow_hidden=allow_hidden)
        if resolved.is_file():
            consider(resolved, explicit=True)
            continue
        out.folders.append(resolved)
        specs: dict[Path, pathspec.PathSpec | None] = {}
        for dirpath, dirnames, filenames in os.walk(resolved, followlinks=False):
            here = Path(dirpath)
            specs[here] = _gitignore(here)
            active = [(d, specs[d]) for d in [here, *here.parents] if d in specs and specs[d] is not None]

            def ignored(p: Path, is_dir: bool, active=active, top=resolved) -> bool:
                rel_top = p.relative_to(top).as_posix() + ("/" if is_dir else "")
                if user_spec is not None and user_spec.match_file(rel_top):
                    return True
                for base, spec in active:
                    rel = p.relative_to(base).as_posix() + ("/" if is_dir else "")
                    if spec.match_file(rel):  # type: ignore[union-attr]
                        return True
                return False

            keep = []
            for d in sorted(dirnames):
                dpath = here / d
                if _skip_dir(d) or dpath.is_symlink() or ignored(dpath, True):
                    continue
                keep.append(d)
            dirnames[:] = keep
            for name in sorted(filenames):
                fpath = here / name
                if _is_hidden(name) or ignored(fpath, False):
                    continue
                consider(fpath, explicit=False)
    return out

"""Plain text, markdown and source-code files."""

from __future__ import annotations

from pathlib import Path

from .documents import Document, LoadError, Section

MARKDOWN_EXTS = {".md", ".markdown", ".mdx", ".rst"}
PROSE_EXTS = {".txt", ".text", ".log"}
#: extension -> language name for code files
CODE_EXTS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".java": "java",
    ".kt": "kotlin",
    ".scala": "scala",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".go": "go",
    ".rs": "rust",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".r": "r",
    ".jl": "julia",
    ".lua": "lua",
    ".pl": "perl",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".sql": "sql",
    ".css": "css",
    ".scss": "css",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
    ".json": "json",
}
#: extensionless files worth reading
TEXT_NAMES = {"readme", "license", "makefile", "dockerfile", "changelog", "authors", "notice"}


def read_text(path: Path) -> str:
    """Decode a text file (UTF-8, else Latin-1); refuse binary content."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise LoadError("binary content (NUL bytes), not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def load_text(path: Path) -> Document:
    ext = path.suffix.lower()
    text = read_text(path)
    if ext in MARKDOWN_EXTS:
        return Document(str(path), ext.lstrip("."), [Section(text, "markdown")])
    if ext in CODE_EXTS:
        lang = CODE_EXTS[ext]
        return Document(str(path), ext.lstrip("."), [Section(text, "code", language=lang)])
    return Document(str(path), ext.lstrip(".") or "txt", [Section(text, "prose")])

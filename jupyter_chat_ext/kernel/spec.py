"""Every argument of ``%%chat`` and ``%chat <command>``, declared once.

Like jupyter-ai's ``parsers.py``: this one declaration gives the parsers (``cell_parser``,
``parse_line``), their validation (types, choices, how many words a command takes) and the help
(``help_text`` is both the ``%%chat?`` docstring and ``%chat help``). A new option or command is
one entry here plus its handler in ``commands.py``; nothing else lists them.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from IPython.core.error import UsageError

from .render import FORMATS


@dataclass(frozen=True)
class Option:
    """An option of ``%%chat`` (and of the line commands that stream an answer)."""

    flags: tuple[str, ...]
    help: str
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    default: Any = None
    switch: bool = False  # a flag without a value (store_true)
    many: bool = False  # may be given several times (a list of values)

    @property
    def dest(self) -> str:
        return self.flags[0].lstrip("-").replace("-", "_")

    def usage(self) -> str:
        names = ", ".join(self.flags)
        if self.switch:
            return names
        return f"{names} {self.metavar or '{' + ','.join(self.choices or ()) + '}'}"


@dataclass(frozen=True)
class Arg:
    """A positional word of a line command.

    ``rest``: the raw rest of the line, quotes kept (SQL, search queries); ``many``: one or more
    words; ``optional``: may be left out.
    """

    name: str
    optional: bool = False
    many: bool = False
    rest: bool = False

    def usage(self) -> str:
        text = self.name + ("..." if self.many else "")
        if self.many and not self.optional:
            text = f"{self.name} [{self.name} ...]"
        return f"[{text}]" if self.optional else text


@dataclass(frozen=True)
class Command:
    """A ``%chat <name> ...`` line command."""

    name: str
    summary: str
    args: tuple[Arg, ...] = ()
    #: dests of OPTIONS this command also accepts (``continue`` streams an answer like ``%%chat``)
    options: tuple[str, ...] = ()

    def usage(self, with_options: bool = True) -> str:
        parts = [f"%chat {self.name}", *(a.usage() for a in self.args)]
        if with_options and self.options:
            parts.append("[OPTIONS]")
        return " ".join(parts)


OPTIONS: tuple[Option, ...] = (
    Option(("--session", "-s"), "session id or title (created when new)", metavar="SESSION"),
    Option(("--model", "-m"), "model id for this session", metavar="MODEL"),
    Option(("--system",), "system prompt for this session", metavar="TEXT"),
    Option(("--temperature", "-t"), "sampling temperature (0 = greedy)", type=float, metavar="T"),
    Option(("--max-tokens", "-n"), "most tokens to generate", type=int, metavar="N"),
    Option(("--seed",), "random seed (a seeded answer is reproducible)", type=int, metavar="N"),
    Option(("--rag",), "answer with passages retrieved from COLLECTION", metavar="COLLECTION"),
    Option(("--format", "-f"), "how to show the answer", choices=FORMATS, default="markdown"),
    Option(("--out", "-o"), "store the answer text in the notebook variable NAME", metavar="NAME"),
    Option(("--no-history",), "do not use or extend a session's history", switch=True),
    Option(
        ("--tools",),
        "let the model call the server's tools (write/execute ones only if in tool_allowlist)",
        switch=True,
    ),
    Option(
        ("--tool-choice",),
        "with --tools: 'required' makes the model call a tool first (small models rarely do unasked)",
        choices=("auto", "required"),
    ),
    Option(
        ("--cell",),
        "attach In[N] of this kernel (and Out[N]) as context; repeatable",
        type=int,
        metavar="N",
        many=True,
    ),
    Option(
        ("--var",),
        "attach a live variable: type, shape, dtypes, head(); repeatable",
        metavar="NAME",
        many=True,
    ),
)

_GENERATION = ("temperature", "max_tokens", "seed", "format", "out")

COMMANDS: tuple[Command, ...] = (
    Command("status", "server or in-process mode, where, loaded models"),
    Command("models", "available models (size, state)"),
    Command("load", "load a model (progress bar)", (Arg("MODEL"),)),
    Command("unload", "unload a model", (Arg("MODEL"),)),
    Command(
        "sessions", "sessions as a DataFrame (search titles and messages)", (Arg("QUERY", True, rest=True),)
    ),
    Command("new", "start a new default session for this kernel", (Arg("TITLE", True, rest=True),)),
    Command("history", "messages of a session (default: this kernel's)", (Arg("SESSION", True, rest=True),)),
    Command(
        "branch",
        "show the branch of an edited question (its id from %chat history) in this kernel's session",
        (Arg("MESSAGE_ID"), Arg("SESSION", True, rest=True)),
    ),
    Command(
        "continue",
        "continue the last interrupted answer (this kernel's session or --session)",
        options=("session", *_GENERATION),
    ),
    Command(
        "fix",
        "ask for a fix of this kernel's last error (its traceback and failing cell attached)",
        options=("session", *_GENERATION),
    ),
    Command("sql", "read-only SQL over the session store -> DataFrame", (Arg("QUERY", rest=True),)),
    Command(
        "ingest", "add files to a RAG collection (progress bar)", (Arg("COLLECTION"), Arg("PATH", many=True))
    ),
    Command("search", "retrieve passages -> DataFrame", (Arg("COLLECTION"), Arg("QUERY", rest=True))),
    Command("export", "write a session as .md or .json", (Arg("SESSION"), Arg("PATH"))),
    Command(
        "pull",
        "download a model from the Hugging Face Hub (progress bar): owner/name:file.gguf, "
        "owner/name (a transformers folder) or a catalog id",
        (Arg("TARGET"),),
    ),
    Command("hardware", "this machine: CPU, RAM, disk, GPUs, Jetson, the llama.cpp build"),
    Command("catalog", "recommended models by role -> DataFrame (fits here, suggested, installed)"),
    Command(
        "roles",
        "which model chats, completes inline, embeds, reranks; ROLE MODEL chooses one",
        (Arg("ROLE", True), Arg("MODEL", True)),
    ),
    Command(
        "provider",
        "OpenAI-compatible providers: list | add NAME [URL] [--preset P] [--key | --key-env VAR] "
        "[--models a,b] | edit NAME ... | test NAME | remove NAME",
        (Arg("ACTION"), Arg("ARGS", optional=True, many=True)),
    ),
    Command("help", "this text"),
)
COMMANDS_BY_NAME = {c.name: c for c in COMMANDS}

INTRO = """Chat with the local model from a notebook.

Cell magic -- the cell is the prompt; {name} / {df.shape} fill in notebook variables
(unknown braces are left alone). The answer streams into the output and is stored in the
session (one default session per kernel unless --session is given). While the model loads
the output shows its progress. Interrupt the kernel to stop generating: the partial answer
is kept ("interrupted") and `%chat continue` carries it on.

    %%chat --max-tokens 64 --out answer
    Explain {df.shape} in one sentence."""


def help_text() -> str:
    """The full help: ``%%chat?`` shows it as the magic's docstring, ``%chat help`` prints it."""
    opts = [(o.usage(), o.help + (f" (default {o.default})" if o.default else "")) for o in OPTIONS]
    cmds = [(c.usage(), c.summary) for c in COMMANDS]
    width = max(len(u) for u, _ in opts + cmds) + 2
    lines = [INTRO, "", "Options of %%chat:", ""]
    lines += [f"    {u:<{width}}{h}" for u, h in opts]
    lines += ["", "Line commands:", ""]
    lines += [f"    {u:<{width}}{h}" for u, h in cmds]
    for c in COMMANDS:
        if c.options:
            flags = ", ".join(_flag(d) for d in c.options)
            lines += ["", f"OPTIONS of %chat {c.name}: {flags} (as for %%chat)"]
    return "\n".join(lines) + "\n"


def _flag(dest: str) -> str:
    return next(o.flags[0] for o in OPTIONS if o.dest == dest)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as IPython's UsageError (one red line, no traceback)."""

    def error(self, message: str) -> Any:  # argparse would print and sys.exit
        raise UsageError(f"{message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise UsageError(message or "")


def build_parser(prog: str, dests: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """A parser of the declared options (all, or only ``dests``)."""
    parser = _Parser(prog=prog, add_help=False)
    for o in OPTIONS:
        if dests is not None and o.dest not in dests:
            continue
        if o.switch:
            parser.add_argument(*o.flags, action="store_true", help=o.help)
        elif o.many:
            parser.add_argument(*o.flags, type=o.type, metavar=o.metavar, action="append", help=o.help)
        else:
            parser.add_argument(
                *o.flags, type=o.type, metavar=o.metavar, choices=o.choices, default=o.default, help=o.help
            )
    return parser


def cell_parser() -> argparse.ArgumentParser:
    return build_parser("%%chat")


def split(line: str) -> list[str]:
    """shlex words (``--system 'Be brief.'`` gives the text without quotes)."""
    try:
        return shlex.split(line)
    except ValueError as exc:  # unbalanced quotes
        raise UsageError(f"cannot parse the command line: {exc}") from None


def parse_cell_line(line: str) -> argparse.Namespace:
    parser = cell_parser()
    return parser.parse_args(split(line))


def _usage_error(cmd: Command, problem: str) -> UsageError:
    return UsageError(f"{problem}\nusage: {cmd.usage()}")


def _head(text: str, n: int) -> tuple[list[str], str]:
    """The first ``n`` shell words of ``text`` and the raw rest (quotes in the rest are kept)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    words: list[str] = []
    try:
        for _ in range(n):
            word = lexer.get_token()
            if word is None:
                break
            words.append(word)
    except ValueError as exc:
        raise UsageError(f"cannot parse the command line: {exc}") from None
    rest = lexer.instream.read() if len(words) == n else ""
    return words, rest.strip()


def parse_line(line: str) -> tuple[Command | None, dict[str, Any]]:
    """``%chat <command> ...`` -> (the command, its values by lowercase arg name / option dest).

    ``(None, {})`` for an empty line (help). UsageError for an unknown command or a wrong number
    of words, with the command's usage.
    """
    line = line.strip()
    if not line:
        return None, {}
    name, _, tail = line.partition(" ")
    cmd = COMMANDS_BY_NAME.get(name)
    if cmd is None:
        names = ", ".join(c.name for c in COMMANDS)
        raise UsageError(f"unknown command {name!r}; commands: {names}\nSee %chat help")
    values: dict[str, Any] = {}
    if cmd.options:
        try:
            values.update(vars(build_parser(f"%chat {cmd.name}", cmd.options).parse_args(split(tail))))
        except UsageError as exc:
            raise _usage_error(cmd, str(exc).splitlines()[0]) from None
        return cmd, values
    fixed = [a for a in cmd.args if not a.rest]
    rest_arg = next((a for a in cmd.args if a.rest), None)
    if rest_arg is not None:
        words, rest = _head(tail, len(fixed))
        if rest:
            values[rest_arg.name.lower()] = rest
        elif not rest_arg.optional:
            raise _usage_error(cmd, f"{cmd.name} needs {_describe(cmd)}")
        else:
            values[rest_arg.name.lower()] = None
    else:
        words = split(tail)
    many = next((a for a in fixed if a.many), None)
    need = sum(1 for a in fixed if not a.optional)
    if len(words) < need or (many is None and len(words) > len(fixed)):
        raise _usage_error(cmd, f"{cmd.name} takes {_describe(cmd)}")
    for i, a in enumerate(fixed):
        if a.many:
            values[a.name.lower()] = words[i:]
            break
        values[a.name.lower()] = words[i] if i < len(words) else None
    return cmd, values


def _describe(cmd: Command) -> str:
    return " ".join(a.usage() for a in cmd.args) or "no arguments"

"""The ``%chat <command>`` line commands (models, sessions, history, sql, ingest, ...)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.display import Markdown, display

from ..errors import ChatExtError
from .tables import hits_frame, messages_frame, models_frame, sessions_frame, sql_frame

if TYPE_CHECKING:
    from .magics import ChatMagics

USAGE = {
    "status": "%chat status",
    "models": "%chat models",
    "load": "%chat load MODEL",
    "unload": "%chat unload MODEL",
    "sessions": "%chat sessions [QUERY]",
    "new": "%chat new [TITLE]",
    "history": "%chat history [SESSION]",
    "sql": "%chat sql QUERY",
    "ingest": "%chat ingest COLLECTION PATH [PATH ...]",
    "search": "%chat search COLLECTION QUERY",
    "export": "%chat export SESSION PATH",
    "help": "%chat help",
}


def _usage(cmd: str, problem: str) -> UsageError:
    return UsageError(f"{problem}\nusage: {USAGE[cmd]}")


def _progress_bar(desc: str, unit: str) -> tuple[Callable[[float, dict[str, Any]], None], Callable[[], None]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=100, desc=desc, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")

    def update(fraction: float, detail: dict[str, Any]) -> None:
        bar.n = round(max(0.0, min(1.0, fraction)) * 100)
        if unit == "files" and detail.get("files_total"):
            done, total = detail.get("files_done", 0), detail["files_total"]
            bar.set_postfix_str(f"{done}/{total} files, {detail.get('chunks', 0)} chunks")
        elif detail.get("state"):
            bar.set_postfix_str(str(detail["state"]))
        bar.refresh()

    return update, bar.close


def run_line(magics: ChatMagics, line: str) -> Any:
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"cannot parse the command line: {exc}") from None
    if not words:
        return cmd_help(magics, [], "")
    cmd, args = words[0], words[1:]
    rest = line.strip()[len(cmd) :].strip()
    handler = COMMANDS.get(cmd)
    if handler is None:
        raise UsageError(f"unknown command {cmd!r}; commands: {', '.join(COMMANDS)}\nSee %chat help")
    try:
        return handler(magics, args, rest)
    except ChatExtError as exc:
        from .magics import explain

        raise explain(exc) from None


def cmd_help(magics: ChatMagics, args: list[str], rest: str) -> None:
    print(magics.chat.__doc__)


def cmd_status(magics: ChatMagics, args: list[str], rest: str) -> dict[str, Any]:
    client = magics.client
    info = dict(client.describe())
    try:
        health = client.health()
    except ChatExtError as exc:
        health = {"status": "error", "error": exc.message}
    loaded = [m["id"] for m in client.list_models() if m.get("state") == "loaded"]
    lines = [f"mode: {info.pop('mode')}"]
    lines += [f"{k}: {v}" for k, v in info.items() if v is not None]
    lines.append(f"health: {health.get('status', 'unknown')}")
    lines.append(f"loaded models: {', '.join(loaded) if loaded else '(none; loads on first use)'}")
    lines.append(f"default session: {magics.default_session_id or '(created on first %%chat)'}")
    print("\n".join(lines))
    return None


def cmd_models(magics: ChatMagics, args: list[str], rest: str) -> Any:
    return models_frame(magics.client.list_models())


def cmd_load(magics: ChatMagics, args: list[str], rest: str) -> Any:
    if len(args) != 1:
        raise _usage("load", "load takes one MODEL id")
    update, close = _progress_bar(f"loading {args[0]}", "model")
    try:
        info = magics.client.load_model(args[0], progress=update)
    finally:
        close()
    print(f"{info['id']} loaded on {info.get('device') or 'cpu'} ({info.get('dtype') or 'default dtype'})")


def cmd_unload(magics: ChatMagics, args: list[str], rest: str) -> None:
    if len(args) != 1:
        raise _usage("unload", "unload takes one MODEL id")
    info = magics.client.unload_model(args[0])
    print(f"{info['id']}: {info.get('state')}")


def cmd_sessions(magics: ChatMagics, args: list[str], rest: str) -> Any:
    return sessions_frame(magics.client.list_sessions(q=rest or None, limit=200))


def cmd_new(magics: ChatMagics, args: list[str], rest: str) -> None:
    session = magics.client.create_session(title=rest or None)
    magics.default_session_id = session["id"]
    print(f"new default session {session['id']}")


def cmd_history(magics: ChatMagics, args: list[str], rest: str) -> Any:
    client = magics.client
    if rest:
        session_id = client.find_session(rest, create=False)["id"]
    elif magics.default_session_id:
        session_id = magics.default_session_id
    else:
        raise _usage("history", "no default session yet (run a %%chat cell first) and no SESSION given")
    return messages_frame(client.list_messages(session_id, limit=1000))


def cmd_sql(magics: ChatMagics, args: list[str], rest: str) -> Any:
    if not rest:
        raise _usage("sql", "sql needs a query")
    columns, rows = magics.client.sql(rest)
    return sql_frame(columns, rows)


def cmd_ingest(magics: ChatMagics, args: list[str], rest: str) -> None:
    if len(args) < 2:
        raise _usage("ingest", "ingest needs a COLLECTION and at least one PATH")
    name, paths = args[0], args[1:]
    missing = [p for p in paths if not Path(p).expanduser().exists()]
    if missing:
        raise _usage("ingest", f"no such file or folder: {', '.join(missing)}")
    update, close = _progress_bar(f"ingest {name}", "files")
    try:
        job = magics.client.ingest(
            name, [str(Path(p).expanduser().resolve()) for p in paths], progress=update
        )
    finally:
        close()
    skipped = job.get("skipped") or []
    print(
        f"{name}: {job.get('files_done', 0)} files, {job.get('chunks', 0)} chunks"
        + (f", {len(skipped)} skipped" if skipped else "")
    )
    for item in skipped[:10]:
        print(f"  skipped {item.get('path')}: {item.get('reason')}")


def cmd_search(magics: ChatMagics, args: list[str], rest: str) -> Any:
    if len(args) < 2:
        raise _usage("search", "search needs a COLLECTION and a QUERY")
    return hits_frame(magics.client.search(args[0], " ".join(args[1:]), k=5))


def cmd_export(magics: ChatMagics, args: list[str], rest: str) -> None:
    if len(args) != 2:
        raise _usage("export", "export takes a SESSION and a PATH")
    client = magics.client
    session_id = client.find_session(args[0], create=False)["id"]
    path = Path(args[1]).expanduser()
    fmt = "markdown" if path.suffix.lower() in (".md", ".markdown") else "json"
    text = client.export_session(session_id, fmt)
    path.write_text(text, encoding="utf-8")
    display(Markdown(f"exported session `{session_id}` as {fmt} to `{path}`"))


COMMANDS: dict[str, Callable[[ChatMagics, list[str], str], Any]] = {
    "status": cmd_status,
    "models": cmd_models,
    "load": cmd_load,
    "unload": cmd_unload,
    "sessions": cmd_sessions,
    "new": cmd_new,
    "history": cmd_history,
    "sql": cmd_sql,
    "ingest": cmd_ingest,
    "search": cmd_search,
    "export": cmd_export,
    "help": cmd_help,
}

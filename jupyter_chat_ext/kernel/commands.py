"""The ``%chat <command>`` handlers (models, sessions, history, sql, ingest, continue, ...).

The words each command takes are declared in ``spec.py``; a handler gets them parsed, by name.
Handlers reach the magics' state through the small ``ChatContext`` protocol, so this module never
imports ``magics.py`` (which imports this one).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from IPython.core.error import UsageError
from IPython.display import Markdown, display

from ..errors import ChatExtError
from . import spec
from .cell_answer import check_out_name, generation_params, show_model_load, stream_answer
from .client import ChatClient
from .commands_hub import HUB_HANDLERS
from .commands_providers import PROVIDER_HANDLERS
from .feedback import ChatMagicError, explain
from .tables import hits_frame, messages_frame, models_frame, sessions_frame, sql_frame


class ChatContext(Protocol):
    """What a line command may use of the magics: the client and the kernel's session state."""

    default_session_id: str | None
    last: dict[str, Any] | None
    shell: Any

    @property
    def client(self) -> ChatClient: ...

    def ask(self, args: Any, prompt: str, context: list[dict[str, Any]] | None = None) -> None: ...


Handler = Callable[[ChatContext, dict[str, Any]], Any]


def _usage(cmd: str, problem: str) -> UsageError:
    return UsageError(f"{problem}\nusage: {spec.COMMANDS_BY_NAME[cmd].usage()}")


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


def run_line(ctx: ChatContext, line: str) -> Any:
    cmd, values = spec.parse_line(line)
    handler = HANDLERS[cmd.name if cmd is not None else "help"]
    try:
        return handler(ctx, values)
    except ChatExtError as exc:
        raise explain(exc) from None


def cmd_help(ctx: ChatContext, v: dict[str, Any]) -> None:
    print(spec.help_text())


def cmd_status(ctx: ChatContext, v: dict[str, Any]) -> None:
    client = ctx.client
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
    lines.append(f"default session: {ctx.default_session_id or '(created on first %%chat)'}")
    print("\n".join(lines))


def cmd_models(ctx: ChatContext, v: dict[str, Any]) -> Any:
    return models_frame(ctx.client.list_models())


def cmd_load(ctx: ChatContext, v: dict[str, Any]) -> None:
    update, close = _progress_bar(f"loading {v['model']}", "model")
    try:
        info = ctx.client.load_model(v["model"], progress=update)
    finally:
        close()
    print(f"{info['id']} loaded on {info.get('device') or 'cpu'} ({info.get('dtype') or 'default dtype'})")


def cmd_unload(ctx: ChatContext, v: dict[str, Any]) -> None:
    info = ctx.client.unload_model(v["model"])
    print(f"{info['id']}: {info.get('state')}")


def cmd_sessions(ctx: ChatContext, v: dict[str, Any]) -> Any:
    return sessions_frame(ctx.client.list_sessions(q=v["query"], limit=200))


def cmd_new(ctx: ChatContext, v: dict[str, Any]) -> None:
    session = ctx.client.create_session(title=v["title"])
    ctx.default_session_id = session["id"]
    print(f"new default session {session['id']}")


def _session_id(ctx: ChatContext, name: str | None, cmd: str) -> str:
    if name:
        return ctx.client.find_session(name, create=False)["id"]
    if ctx.default_session_id:
        return ctx.default_session_id
    raise _usage(cmd, "no default session yet (run a %%chat cell first) and no SESSION given")


def cmd_history(ctx: ChatContext, v: dict[str, Any]) -> Any:
    session_id = _session_id(ctx, v["session"], "history")
    return messages_frame(ctx.client.list_messages(session_id, limit=1000))


def cmd_branch(ctx: ChatContext, v: dict[str, Any]) -> Any:
    """Switch the session to the branch of one edited question; the thread shown then follows it."""
    session_id = _session_id(ctx, v["session"], "branch")
    try:
        message_id = int(v["message_id"])
    except ValueError:
        raise _usage("branch", f"MESSAGE_ID must be a message number, not {v['message_id']!r}") from None
    head = ctx.client.switch_branch(session_id, message_id)
    print(f"session {session_id} now shows the branch of message {message_id} (last question {head})")
    return messages_frame(ctx.client.list_messages(session_id, limit=1000))


def cmd_continue(ctx: ChatContext, v: dict[str, Any]) -> None:
    """Carry on the newest interrupted answer of the session (Ctrl-C'd, stopped, or a crash's)."""
    from argparse import Namespace

    args = Namespace(**v)
    check_out_name(args.out)
    params = generation_params(args)
    client = ctx.client
    session_id = _session_id(ctx, args.session, "continue")
    messages = client.list_messages(session_id, limit=1000)
    target = next(
        (m for m in reversed(messages) if m.get("role") == "assistant" and m.get("status") == "interrupted"),
        None,
    )
    if target is None:
        raise ChatMagicError(f"no interrupted answer to continue in session {session_id}")
    show_model_load(client, client.get_session(session_id))
    result = stream_answer(
        lambda: client.continue_answer(session_id, target["id"], params=params or None),
        session_id,
        args.format,
        prefix=target.get("content") or "",
        out=args.out,
        user_ns=ctx.shell.user_ns if ctx.shell is not None else None,
    )
    ctx.last = result.as_dict()
    result.raise_if_failed()


def cmd_sql(ctx: ChatContext, v: dict[str, Any]) -> Any:
    columns, rows = ctx.client.sql(v["query"])
    return sql_frame(columns, rows)


def cmd_ingest(ctx: ChatContext, v: dict[str, Any]) -> None:
    name, paths = v["collection"], v["path"]
    missing = [p for p in paths if not Path(p).expanduser().exists()]
    if missing:
        raise _usage("ingest", f"no such file or folder: {', '.join(missing)}")
    update, close = _progress_bar(f"ingest {name}", "files")
    try:
        job = ctx.client.ingest(name, [str(Path(p).expanduser().resolve()) for p in paths], progress=update)
    finally:
        close()
    skipped = job.get("skipped") or []
    print(
        f"{name}: {job.get('files_done', 0)} files, {job.get('chunks', 0)} chunks"
        + (f", {len(skipped)} skipped" if skipped else "")
    )
    for item in skipped[:10]:
        print(f"  skipped {item.get('path')}: {item.get('reason')}")


def cmd_search(ctx: ChatContext, v: dict[str, Any]) -> Any:
    return hits_frame(ctx.client.search(v["collection"], v["query"], k=5))


def cmd_export(ctx: ChatContext, v: dict[str, Any]) -> None:
    client = ctx.client
    session_id = client.find_session(v["session"], create=False)["id"]
    path = Path(v["path"]).expanduser()
    fmt = "markdown" if path.suffix.lower() in (".md", ".markdown") else "json"
    text = client.export_session(session_id, fmt)
    path.write_text(text, encoding="utf-8")
    display(Markdown(f"exported session `{session_id}` as {fmt} to `{path}`"))


def cmd_fix(ctx: ChatContext, v: dict[str, Any]) -> None:
    """Ask for a fix of the kernel's last error: its traceback (ANSI stripped) and failing cell."""
    from .context import FIX_PROMPT, last_error

    args = spec.parse_cell_line("")  # every %%chat option at its default, then the line's
    for key, value in v.items():
        setattr(args, key, value)
    check_out_name(args.out)
    error, cell = last_error(ctx.shell)
    ctx.ask(args, FIX_PROMPT, [item for item in (cell, error) if item is not None])


HANDLERS: dict[str, Handler] = {
    "status": cmd_status,
    "models": cmd_models,
    "load": cmd_load,
    "unload": cmd_unload,
    "sessions": cmd_sessions,
    "new": cmd_new,
    "history": cmd_history,
    "branch": cmd_branch,
    "continue": cmd_continue,
    "fix": cmd_fix,
    "sql": cmd_sql,
    "ingest": cmd_ingest,
    "search": cmd_search,
    "export": cmd_export,
    "help": cmd_help,
    **PROVIDER_HANDLERS,  # provider add|list|edit|remove|test (commands_providers.py)
    **HUB_HANDLERS,  # pull, hardware, catalog, roles (commands_hub.py)
}
# every declared command has a handler and nothing else does (checked at import, not at first use)
if set(HANDLERS) != set(spec.COMMANDS_BY_NAME):  # pragma: no cover - a programming error
    raise RuntimeError(f"spec.COMMANDS and HANDLERS disagree: {set(HANDLERS) ^ set(spec.COMMANDS_BY_NAME)}")

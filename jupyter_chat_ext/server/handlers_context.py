"""``GET context/files?q=&limit=``: files of the server root matching what follows ``@file:``
(fuzzy, best first; chat/file_search.py), for the sidebar's menu and typed ``@file:`` references."""

from __future__ import annotations

from jupyter_chat_ext.chat.file_search import find_files
from jupyter_chat_ext.wire.complete import ContextFilesQuery, FileMatches
from jupyter_chat_ext.wire.ops import op

from .base import READ, ChatExtHandler, requires


class ContextFilesHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "Files under the server root whose path matches q (fuzzy, best first; hidden files only with"
        " allow_hidden)",
        query=ContextFilesQuery,
        answer=FileMatches,
        tag="completion",
        operation_id="contextFiles",
    )
    async def get(self, query: ContextFilesQuery) -> None:
        q, limit = query.q.strip(), query.limit
        root = self.serverapp.root_dir
        # hidden files stay out unless Jupyter's contents API may show them (allow_hidden)
        allow_hidden = bool(getattr(self.serverapp.contents_manager, "allow_hidden", False))
        files = await self.long_call(lambda: find_files(root, q, limit, allow_hidden=allow_hidden))
        self.send_json({"files": files})

"""``GET context/files?q=&limit=``: files of the server root matching what follows ``@file:``
(fuzzy, best first; chat/file_search.py), for the sidebar's menu and typed ``@file:`` references."""

from __future__ import annotations

from jupyter_chat_ext.chat.file_search import find_files, parse_query

from .base import READ, ChatExtHandler, requires


class ContextFilesHandler(ChatExtHandler):
    @requires(READ)
    async def get(self) -> None:
        q, limit = parse_query(self.query_str("q", max_len=500), self.query_str("limit", max_len=10))
        root = self.serverapp.root_dir
        # hidden files stay out unless Jupyter's contents API may show them (allow_hidden)
        allow_hidden = bool(getattr(self.serverapp.contents_manager, "allow_hidden", False))
        files = await self.long_call(lambda: find_files(root, q, limit, allow_hidden=allow_hidden))
        self.send_json({"files": files})

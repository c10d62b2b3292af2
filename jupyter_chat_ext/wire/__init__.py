"""The wire: one pydantic declaration per request body, query, answer and SSE event of the API.

Every shape that crosses HTTP is declared once, here, one module per area (``sessions``, ``chat``,
``models``, ...), on the two bases of :mod:`.base`: :class:`~.base.Body` for what a client sends
(unknown fields and wrong types refused with a 400 naming the field path) and
:class:`~.base.Answer` for what the server sends (open: a new field is not a break). Handlers name
their shapes with :func:`.ops.op`; from those declarations and the route table come the door's
validation, ``GET /chat-ext/openapi.json`` (``wire/openapi.py``) and the sidebar's TypeScript types
(``labextension/src/api/schema.ts``, generated from that document). The ``/v1`` routes reuse the
shapes the ``openai`` package ships where they fit.

This package imports pydantic and nothing of Jupyter or tornado: the kernel's in-process service
validates with the same models.
"""

"""The kernel door: ``%%chat`` magics, server discovery + HTTP/SSE client, in-process LocalService.

Nothing heavy is imported here; ``%load_ext jupyter_chat_ext`` loads ``magics``.
"""

"""URL patterns of the extension (relative to the server's base_url; ExtensionApp prepends it)."""

from __future__ import annotations

from typing import Any

from . import handlers_agent as ha
from . import handlers_complete as hc
from . import handlers_context as hcx
from . import handlers_hub as hh
from . import handlers_jobs as hj
from . import handlers_models as hm
from . import handlers_openai as ho
from . import handlers_providers as hp
from . import handlers_pull as hpl
from . import handlers_rag as hr
from . import handlers_sessions as hs
from . import handlers_store as hst
from . import handlers_tools as ht
from .openapi import OpenApiHandler

PREFIX = "/chat-ext"

#: a path segment; model ids may hold slashes ("org/name"), so they take the rest of the path
SEG = r"(?P<{}>[^/]+)"
SID = SEG.format("session_id")

ROUTES: list[tuple[str, type]] = [
    ("health", hm.HealthHandler),
    ("metrics", hm.MetricsHandler),
    ("models", hm.ModelsHandler),
    ("models/pull", hpl.ModelPullHandler),  # before models/{id}: "pull" is no model id here
    (r"models/(?P<model_id>.+)/load", hm.ModelLoadHandler),
    (r"models/(?P<model_id>.+)/unload", hm.ModelUnloadHandler),
    (r"models/(?P<model_id>.+)", hm.ModelHandler),
    ("sessions", hs.SessionsHandler),
    ("sessions/import", hs.ImportHandler),
    (f"sessions/{SID}", hs.SessionHandler),
    (f"sessions/{SID}/messages", hs.MessagesHandler),
    (f"sessions/{SID}/messages/{SEG.format('raw_id')}", hs.MessageHandler),
    (f"sessions/{SID}/messages/{SEG.format('raw_id')}/continue", hs.ContinueHandler),
    (f"sessions/{SID}/messages/{SEG.format('raw_id')}/branch", hs.BranchHandler),
    (f"sessions/{SID}/chat", hs.ChatHandler),
    (f"sessions/{SID}/regenerate", hs.RegenerateHandler),
    (f"sessions/{SID}/export", hs.ExportHandler),
    ("search", hs.HistorySearchHandler),
    (f"tool-calls/{SEG.format('call_id')}", ha.ToolCallHandler),
    ("sql", hst.SqlHandler),
    (f"cache/{SEG.format('key')}", hst.CacheHandler),
    ("collections", hr.CollectionsHandler),
    (f"collections/{SEG.format('name')}", hr.CollectionHandler),
    (f"collections/{SEG.format('name')}/documents", hr.DocumentsHandler),
    (f"collections/{SEG.format('name')}/reindex", hr.ReindexHandler),
    (f"collections/{SEG.format('name')}/upload", hr.UploadHandler),
    (f"collections/{SEG.format('name')}/search", hr.CollectionSearchHandler),
    ("jobs", hj.JobsHandler),  # every kind: ingest, upload, pull (works without RAG)
    (f"jobs/{SEG.format('job_id')}", hj.JobHandler),
    (f"jobs/{SEG.format('job_id')}/cancel", hj.JobCancelHandler),
    (f"jobs/{SEG.format('job_id')}/resume", hj.JobResumeHandler),
    ("v1/models", ho.V1ModelsHandler),
    (r"v1/models/(?P<model_id>.+)", ho.V1ModelHandler),
    ("v1/chat/completions", ho.V1ChatCompletionsHandler),
    ("v1/embeddings", ho.V1EmbeddingsHandler),
    ("v1/completions", hc.V1CompletionsHandler),
    ("inline", hc.InlineHandler),
    ("context/file", hc.ContextFileHandler),
    ("context/files", hcx.ContextFilesHandler),
    ("tools", ht.ToolsHandler),
    ("mcp", ht.McpHandler),  # our store + RAG as an MCP server (server/mcp_server.py)
    ("providers", hp.ProvidersHandler),
    (f"providers/{SEG.format('name')}", hp.ProviderHandler),
    (f"providers/{SEG.format('name')}/test", hp.ProviderTestHandler),
    ("hardware", hh.HardwareHandler),
    ("hub/search", hh.HubSearchHandler),
    ("hub/files", hh.HubFilesHandler),
    ("catalog", hh.CatalogHandler),
    ("roles", hh.RolesHandler),
    ("openapi.json", OpenApiHandler),  # every route above, described from its @op (wire/openapi.py)
    (r"(?P<rest>.*)", hm.UnknownRouteHandler),  # last: a JSON 404 for anything else
]


def build_handlers() -> list[tuple[str, type, dict[str, Any]]]:
    """(pattern, handler, kwargs) for ExtensionApp.handlers; patterns end with an optional slash."""
    return [(f"{PREFIX}/{path}/?", handler, {}) for path, handler in ROUTES]

"""anywidget widgets over the shared chat client: ChatWidget, ModelPanel, RagPanel."""

from __future__ import annotations

from .chat import ChatWidget
from .models import ModelPanel
from .rag import RagPanel

__all__ = ["ChatWidget", "ModelPanel", "RagPanel"]

"""Background jobs of every kind (ingest, upload, pull): one record, one runner per Core (runner.py),
records on disk with a liveness lock (files.py)."""

from .runner import ACTIVE, RESUMABLE, JobContext, JobKind, JobRunner

__all__ = ["ACTIVE", "RESUMABLE", "JobContext", "JobKind", "JobRunner"]

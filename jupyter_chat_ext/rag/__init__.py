"""Retrieval over LanceDB: collections, loaders, structure-aware chunkers, hybrid search, citations.

Modules: ``loaders/`` (files and folders -> sections with locations, root confinement, uploads),
``chunkers`` (token-budgeted, structure-aware), ``index`` (LanceDB tables, FTS + IVF_SQ indexes),
``ingest`` (incremental ingest), ``fusion`` (hybrid score fusion), ``rerank`` (optional step),
``context`` (prompt context + citations), ``service`` (RagService; its ingest jobs run on jobs/runner.py).
Nothing heavy is imported here.
"""

"""The Jupyter server door: ExtensionApp, tornado handlers, SSE, OpenAI-compatible routes, metrics.

Nothing here is imported at Jupyter start-up except :mod:`.app`, which stays light: the core
(engine, store, RAG) is built lazily in a worker thread.
"""

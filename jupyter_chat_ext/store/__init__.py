"""Chat history in DuckDB: ``store.Store`` (the API), ``schema`` (migrations), ``search`` (history
search), ``export`` (JSON/Markdown export and import validation), ``readonly_sql`` (the SQL door)."""

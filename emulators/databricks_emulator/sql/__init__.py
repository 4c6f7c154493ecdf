"""The SQL layer: Databricks SQL parsed with sqlglot, rewritten, executed on DuckDB."""

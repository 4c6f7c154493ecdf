"""A local emulator of the Databricks APIs the target uses, executing real SQL on DuckDB."""

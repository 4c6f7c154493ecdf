"""JSON Schema → Arrow / Delta / Databricks SQL types; name conforming and quoting (pure, no I/O)."""

from __future__ import annotations


def quote_identifier(name: str) -> str:
    """The only place an SQL identifier is quoted: backticks, an embedded backtick doubled."""
    return "`" + name.replace("`", "``") + "`"

"""Unity Catalog names: catalog aliases in DuckDB, identifier parsing, and /Volumes paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from databricks_emulator.errors import SqlError

# DuckDB reserves some database names (`main`, `system`, `temp`), so every UC catalog is
# ATTACHed under a prefixed alias; messages are mapped back before they reach a client.
CATALOG_PREFIX = "uc__"
# Emulator bookkeeping (volumes, COPY INTO ledger, table properties) lives in a hidden schema of
# each catalog database, so that it commits in the same DuckDB transaction as the data.
META_SCHEMA = "__emulator"
HIDDEN_SCHEMAS = frozenset({META_SCHEMA, "main", "information_schema", "pg_catalog"})

_PART = r"(?:`(?:[^`]|``)+`|[A-Za-z0-9_\-]+)"
NAME_PATTERN = rf"{_PART}(?:\s*\.\s*{_PART})*"


def duck_catalog(catalog: str) -> str:
    return CATALOG_PREFIX + catalog.lower()


def uc_catalog(duck_name: str) -> str | None:
    return duck_name[len(CATALOG_PREFIX) :] if duck_name.startswith(CATALOG_PREFIX) else None


def quote(name: str) -> str:
    """DuckDB identifier quoting (the emulator's own generated SQL)."""
    return '"' + name.replace('"', '""') + '"'


def meta_table(catalog: str, table: str) -> str:
    """A bookkeeping table (volumes, copy_loaded, table_properties) of a UC catalog, quoted for DuckDB."""
    return f"{quote(duck_catalog(catalog))}.{quote(META_SCHEMA)}.{quote(table)}"


def split_name(text: str) -> list[str]:
    """`a`.b.`c``d` -> ["a", "b", "c`d"], lower-cased as Unity Catalog stores names."""
    parts = re.findall(_PART, text)
    return [p[1:-1].replace("``", "`").lower() if p.startswith("`") else p.lower() for p in parts]


def unmap_message(message: str) -> str:
    return message.replace(CATALOG_PREFIX, "")


@dataclass(frozen=True)
class VolumePath:
    catalog: str
    schema: str
    volume: str
    rest: str  # path inside the volume, no leading slash ("" for the volume root)

    @property
    def full_name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.volume}"

    def local(self, volumes_root: Path) -> Path:
        base = volumes_root / self.catalog / self.schema / self.volume
        target = (base / self.rest).resolve() if self.rest else base.resolve()
        if target != base.resolve() and base.resolve() not in target.parents:
            raise ValueError("path escapes the volume")
        return target


def parse_volume_path(path: str) -> VolumePath:
    """Split `/Volumes/<catalog>/<schema>/<volume>/<path>`; raises ValueError when it is not one."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 4 or parts[0] != "Volumes" or any(p in (".", "..") for p in parts):
        raise ValueError(f"not a Unity Catalog volume path: {path}")
    return VolumePath(parts[1].lower(), parts[2].lower(), parts[3].lower(), "/".join(parts[4:]))


def volume_path_or_sql_error(path: str) -> VolumePath:
    try:
        return parse_volume_path(path)
    except ValueError as exc:
        raise SqlError("INVALID_PATH", str(exc), "42000") from exc

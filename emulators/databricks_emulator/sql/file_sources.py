"""Files in a volume as DuckDB sees them: what `read_files` and `COPY INTO` read."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from databricks_emulator.errors import SqlError

_READERS = {
    "parquet": "read_parquet({files}, union_by_name = true)",
    "json": "read_json_auto({files}, union_by_name = true)",
    "csv": "read_csv_auto({files}, union_by_name = true, header = {header})",
}


def list_files(root: Path) -> list[Path]:
    """A file, or every data file under a folder; hidden and `_`-prefixed files are skipped as Spark does."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    )


def match_pattern(files: list[Path], root: Path, pattern: str) -> list[Path]:
    return [f for f in files if fnmatch.fnmatchcase(f.relative_to(root).as_posix(), pattern)]


def reader_sql(fmt: str, files: list[Path], options: dict[str, str] | None = None) -> str:
    """DuckDB table function text reading `files` in Databricks format `fmt`."""
    key = fmt.lower()
    if key not in _READERS:
        raise SqlError(
            "EMULATOR_UNSUPPORTED_FORMAT", f"The emulator reads parquet, json and csv, not {fmt!r}.", "0A000"
        )
    if not files:
        raise SqlError("EMULATOR_NO_FILES", "No files to read.", "42000")
    listing = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    header = "true" if (options or {}).get("header", "false").lower() == "true" else "false"
    return _READERS[key].format(files=listing, header=header)

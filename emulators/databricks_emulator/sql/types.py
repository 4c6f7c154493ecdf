"""DuckDB types and values as Databricks names them and as the JSON_ARRAY format writes them."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import re
from typing import Any

_SIMPLE = {
    "BIGINT": "BIGINT",
    "INTEGER": "INT",
    "SMALLINT": "SMALLINT",
    "TINYINT": "TINYINT",
    "HUGEINT": "DECIMAL(38,0)",
    "UBIGINT": "DECIMAL(20,0)",
    "UINTEGER": "BIGINT",
    "USMALLINT": "INT",
    "UTINYINT": "SMALLINT",
    "VARCHAR": "STRING",
    "DATE": "DATE",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "TIMESTAMP_NS": "TIMESTAMP_NTZ",
    "TIMESTAMP_MS": "TIMESTAMP_NTZ",
    "TIMESTAMP_S": "TIMESTAMP_NTZ",
    "BOOLEAN": "BOOLEAN",
    "DOUBLE": "DOUBLE",
    "FLOAT": "FLOAT",
    "BLOB": "BINARY",
    "INTERVAL": "INTERVAL",
    "UUID": "STRING",
    "JSON": "STRING",
    "NULL": "VOID",
    '"NULL"': "VOID",
}

# Databricks type text -> the `type_name` enum (statement manifests, Unity Catalog columns).
_MANIFEST_NAME = {
    "BIGINT": "LONG",
    "INT": "INT",
    "SMALLINT": "SHORT",
    "TINYINT": "BYTE",
    "STRING": "STRING",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "TIMESTAMP_NTZ": "TIMESTAMP_NTZ",
    "BOOLEAN": "BOOLEAN",
    "DOUBLE": "DOUBLE",
    "FLOAT": "FLOAT",
    "BINARY": "BINARY",
    "INTERVAL": "INTERVAL",
    "VOID": "NULL",
}


def databricks_type(duck_type: str) -> str:
    """Map a DuckDB type string (from a cursor description or information_schema) to Databricks SQL."""
    t = duck_type.strip()
    upper = t.upper()
    if upper in _SIMPLE:
        return _SIMPLE[upper]
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", upper)
    if m:
        return f"DECIMAL({m.group(1)},{m.group(2)})"
    if upper.endswith("[]"):
        return f"ARRAY<{databricks_type(t[:-2])}>"
    if upper.startswith("STRUCT("):
        return "STRUCT<" + t[7:-1] + ">"
    if upper.startswith("MAP("):
        inner = t[4:-1].split(",", 1)
        return f"MAP<{databricks_type(inner[0])},{databricks_type(inner[1])}>"
    return upper


def type_mapping_sql(arg: str) -> str:
    """`databricks_type` as a SQL CASE over a DuckDB type name (for information_schema views)."""
    cases = " ".join(
        f"WHEN {arg} = '{duck}' THEN '{db}'" for duck, db in _SIMPLE.items() if not duck.startswith('"')
    )
    return f"CASE {cases} ELSE replace({arg}, ' ', '') END"


def type_name(db_type: str) -> str:
    """The `type_name` enum value of a Databricks type text: the Statement Execution API manifest's
    ColumnInfoTypeName and Unity Catalog's ColumnTypeName (BIGINT -> LONG, DECIMAL(p,s) -> DECIMAL)."""
    if db_type.startswith("DECIMAL"):
        return "DECIMAL"
    for prefix in ("ARRAY", "STRUCT", "MAP"):
        if db_type.startswith(prefix):
            return prefix
    return _MANIFEST_NAME.get(db_type, "STRING")


def decimal_precision_scale(db_type: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", db_type)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _timestamp_text(value: dt.datetime) -> str:
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    text += (
        f".{value.microsecond // 1000:03d}" if value.microsecond % 1000 == 0 else f".{value.microsecond:06d}"
    )
    return text


def json_array_value(value: Any) -> str | None:
    """One cell as the JSON_ARRAY format sends it: always a string (or null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return _timestamp_text(value.astimezone(dt.UTC)) + "Z"
        return _timestamp_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=str, separators=(",", ":"))
    return str(value)


_WIDER_INTEGERS = ("TINYINT", "SMALLINT", "INT", "BIGINT")


def type_widening_allowed(old: str, new: str) -> bool:
    """Delta type widening (`ALTER COLUMN ... TYPE` on a table with delta.enableTypeWidening):
    integers to wider integers, DECIMAL and (up to INT) DOUBLE; FLOAT to DOUBLE; DECIMAL to
    DECIMAL(p + k1, s + k2) with k1 >= k2 >= 0; DATE to TIMESTAMP_NTZ. Nothing else changes in place."""
    new_dec = decimal_precision_scale(new)
    if old in _WIDER_INTEGERS:
        if new in _WIDER_INTEGERS:
            return _WIDER_INTEGERS.index(new) > _WIDER_INTEGERS.index(old)
        if new == "DOUBLE":
            return old != "BIGINT"
        if new_dec:
            return new_dec[0] - new_dec[1] >= (20 if old == "BIGINT" else 10)
        return False
    old_dec = decimal_precision_scale(old)
    if old_dec and new_dec:
        grow_precision, grow_scale = new_dec[0] - old_dec[0], new_dec[1] - old_dec[1]
        return grow_precision >= grow_scale >= 0 and (grow_precision, grow_scale) != (0, 0)
    return (old, new) in {("FLOAT", "DOUBLE"), ("DATE", "TIMESTAMP_NTZ")}

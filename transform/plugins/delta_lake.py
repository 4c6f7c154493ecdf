"""dbt-duckdb plugin `delta_lake`: a source is the local Delta table of the same name under `root`.

dbt-duckdb's own `delta` plugin reads through DeltaTable.to_pyarrow_dataset(), whose Python
filesystem bridge intermittently aborts the interpreter at exit in deltalake 1.6; this reads with
delta-rs' own engine, as target-databricks' local engine does. Sources are copied into the DuckDB
file as tables, so the marts file stands alone. A source marked `optional` whose table is absent
becomes a relation without rows whose only column is ABSENT_MARKER.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import SourceConfig
from deltalake import DeltaTable, QueryBuilder

# The only column of an absent optional source (meta `optional: true`: the booked ledger's tables).
ABSENT_MARKER = "_ml_connector_absent"


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.root = Path(plugin_config["root"])

    def load(self, source_config: SourceConfig) -> pa.Table:
        path = self.root / source_config.identifier
        if not (path / "_delta_log").is_dir():
            if source_config.get("optional"):
                # macros/optional_source.sql reads this as "no table" (dbt-duckdb needs some relation).
                return pa.table({ABSENT_MARKER: pa.array([], pa.bool_())})
            raise FileNotFoundError(f"{path}: no Delta table here; run tap-datev target-databricks first")
        table = DeltaTable(str(path))
        schema = pa.schema(table.schema().to_arrow())
        reader = QueryBuilder().register("t", table).execute("SELECT * FROM t").read_all()
        return pa.table(reader).cast(schema)  # string_view → string, as written

    def default_materialization(self) -> str:
        return "table"

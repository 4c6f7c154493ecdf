"""Exact types reach the table: tap-datev → target-databricks (local Delta and the workspace on the
Databricks emulator), with the catalog round trip a Meltano run makes. Every money column of
booking_lines lands as DECIMAL(15,2), `kurs` as DECIMAL(10,6); read back from each engine."""

from __future__ import annotations

import io
import json
import typing as t
from pathlib import Path

import pyarrow as pa
from click.testing import CliRunner
from deltalake import DeltaTable

from databricks_emulator.auth import SERVICE_PRINCIPAL_ID, SERVICE_PRINCIPAL_SECRET
from databricks_emulator.server import start
from databricks_emulator.warehouses import DEFAULT_WAREHOUSE_ID
from tap_datev.submit import submit
from target_databricks import schema as sch
from target_databricks.engines.base import TableRef
from target_databricks.engines.workspace import WorkspaceEngine
from target_databricks.target import TargetDatabricks

from .conftest import run_tap
from .factory import Booking, buchungsstapel

BOOKINGS = (
    Booking("119,00", "S", 1200, 8400, "1503", "RE1001", "Rechnung 1001"),
    Booking("1234,56", "H", 1200, 4930, "1603", "K77", "Bürobedarf"),
)


def _declared(props: dict[str, t.Any], precision: int, scale: int) -> set[str]:
    hint = {"precision": precision, "scale": scale}
    return {name for name, prop in props.items() if prop.get("x-sql-datatype-properties") == hint}


def _land(cfg: dict[str, t.Any], messages: list[dict[str, t.Any]]) -> None:
    text = "".join(json.dumps(m) + "\n" for m in messages)
    TargetDatabricks(config=cfg).listen(io.StringIO(text))


def test_money_and_kurs_land_with_their_declared_precision(
    booking_config: dict[str, t.Any], config_file: Path, tmp_path: Path
) -> None:
    path = tmp_path / "EXTF_Maerz_2026.csv"
    path.write_bytes(buchungsstapel(BOOKINGS))
    result = CliRunner().invoke(submit, ["extf", "--config", str(config_file), str(path)])
    assert result.exit_code == 0, result.output
    run = run_tap(booking_config, streams=["booking_batches", "booking_lines"])
    # Sent with booking_batches' (so the table exists before any batch) and again per batch: all equal.
    schemas = [m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "booking_lines"]
    assert schemas and all(m == schemas[0] for m in schemas)
    schema = schemas[0]
    props = schema["schema"]["properties"]
    money = _declared(props, 15, 2)
    assert {"amount", "umsatz", "account_amount", "account_amount_eur", "basis_umsatz"} <= money
    assert _declared(props, 10, 6) == {"kurs"}
    assert len(run.records("booking_lines")) == 2

    local = {"local_path": str(tmp_path / "lake"), "catalog": "main", "schema": "datev"}
    _land(local, run.messages)
    delta = pa.schema(
        DeltaTable(str(tmp_path / "lake" / "main" / "datev" / "booking_lines")).schema().to_arrow()
    )
    local_types = {f.name: sch.sql_type_for_arrow(f.type) for f in delta}

    with start(tmp_path / "databricks") as emulator:
        workspace = {
            "engine": "workspace",
            "host": emulator.url,
            "auth_type": "oauth-m2m",
            "client_id": SERVICE_PRINCIPAL_ID,
            "client_secret": SERVICE_PRINCIPAL_SECRET,
            "http_path": f"/sql/1.0/warehouses/{DEFAULT_WAREHOUSE_ID}",
            "catalog": "main",
            "schema": "datev",
            "poll_interval_seconds": 0.05,
        }
        _land(workspace, run.messages)
        engine = WorkspaceEngine(workspace)
        columns = engine.client.tables.get("main.datev.booking_lines").columns or []
        workspace_types = {c.name or "": sch.normalize_type(c.type_text or "") for c in columns}
        amounts = sorted(
            r["account_amount"]
            for r in engine.read_table(TableRef("main", "datev", "booking_lines")).to_pylist()
        )
        engine.close()

    for types in (local_types, workspace_types):
        assert {types[name] for name in money} == {"DECIMAL(15,2)"}
        assert types["kurs"] == "DECIMAL(10,6)"
    assert [str(a) for a in amounts] == ["-1234.56", "119.00"]

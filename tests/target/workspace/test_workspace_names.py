"""Hostile stream and property names through the target into the workspace (the emulator): every
name is conformed once, backtick-quoted in SQL, and a collision is an error naming both sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from target_testlib import record_msg, run, schema_msg
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from target_databricks.engines.base import TableRef
from target_databricks.engines.workspace import WorkspaceEngine
from target_databricks.schema import NameCollisionError

HOSTILE = {
    "id": {"type": "integer"},
    "Betrag (EUR)": {"type": ["string", "null"]},
    "a`b; DROP TABLE x--": {"type": ["string", "null"]},
    "with space,comma=eq{}\t\n": {"type": ["string", "null"]},
    "Größe": {"type": ["string", "null"]},
}


def test_hostile_names_land_conformed_and_quoted(emulator: RunningEmulator, tmp_path: Path) -> None:
    cfg = settings(emulator)
    record = {
        "id": 1,
        "Betrag (EUR)": "1,00",
        "a`b; DROP TABLE x--": "tick",
        "with space,comma=eq{}\t\n": "ws",
        "Größe": "XL",
    }
    run(
        cfg,
        [schema_msg("../Buchungs`Zeilen; --", HOSTILE, ["id"]), record_msg("../Buchungs`Zeilen; --", record)],
    )
    engine = WorkspaceEngine(cfg)
    tables = {t.name for t in engine.client.tables.list("main", "datev")}
    assert "buchungs_zeilen" in tables
    row = engine.read_table(TableRef("main", "datev", "buchungs_zeilen")).to_pylist()[0]
    assert row["betrag_eur"] == "1,00"
    assert row["a_b_drop_table_x"] == "tick"
    assert row["with_space_comma_eq"] == "ws"
    assert row["groesse"] == "XL"
    # Staged under a conformed name inside the volume, and removed after the commit.
    volume = tmp_path / "databricks" / "volumes" / "main" / "datev" / "_ml_connector_staging"
    assert volume.is_dir() and not [p for p in volume.rglob("*") if p.is_file()]
    for path in tmp_path.rglob("*"):
        assert path.resolve().is_relative_to(tmp_path.resolve())


def test_colliding_names_are_an_error_naming_both(emulator: RunningEmulator) -> None:
    cfg = settings(emulator)
    props = {"id": {"type": "integer"}, "clientName": {"type": "string"}, "client_name": {"type": "string"}}
    with pytest.raises(
        NameCollisionError, match="'clientName' and 'client_name' both conform to 'client_name'"
    ):
        run(cfg, [schema_msg("lines", props, ["id"])])
    streams = [
        schema_msg("Lines", {"id": {"type": "integer"}}, ["id"]),
        schema_msg("lines", {"id": {"type": "integer"}}, ["id"]),
    ]
    with pytest.raises(NameCollisionError, match="streams 'Lines' and 'lines' both conform to table"):
        run(cfg, streams)


@pytest.mark.parametrize("key", ["1st", "null"])
def test_key_names_that_are_sql_words_or_start_with_a_digit(emulator: RunningEmulator, key: str) -> None:
    cfg = settings(emulator)
    props = {key: {"type": "integer"}, "false": {"type": ["string", "null"]}}
    schema = schema_msg("lines", props, [key])
    run(cfg, [schema, record_msg("lines", {key: 1, "false": "old"}, "2024-01-01T00:00:00Z")])
    run(cfg, [schema, record_msg("lines", {key: 1, "false": "new"}, "2024-01-02T00:00:00Z")])
    rows = WorkspaceEngine(cfg).read_table(TableRef("main", "datev", "lines")).to_pylist()
    assert [(r[key], r["false"]) for r in rows] == [(1, "new")]

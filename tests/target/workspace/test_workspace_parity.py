"""Engine parity: the same Singer input through `engine: local` and `engine: workspace` (the
emulator) leaves equal tables: same columns, same types, same rows."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pyarrow as pa
import pytest
from target_testlib import record_msg, run, schema_msg, state_msg
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from target_databricks.engines.base import TableRef
from target_databricks.engines.local import LocalEngine
from target_databricks.engines.workspace import WorkspaceEngine

MONEY = {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2}
LINES = {
    "id": {"type": "integer"},
    "amount": MONEY,
    "booked_on": {"type": "string", "format": "date"},
    "changed_at": {"type": ["string", "null"], "format": "date-time"},
    "text": {"type": ["string", "null"]},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "rate": {"type": ["number", "null"]},
    "open": {"type": ["boolean", "null"]},
}
EVENTS = {"kind": {"type": "string"}, "n": {"type": "integer"}}
# Wall-clock columns (when the target received, batched or deleted rows; singer-sdk's _sdc_sequence
# is a clock reading too), not what the input said.
VOLATILE = {"_sdc_received_at", "_sdc_batched_at", "_sdc_deleted_at", "_sdc_sequence"}


def _line(i: int, amount: str | None, extracted: str, **extra: t.Any) -> dict[str, t.Any]:
    record = {
        "id": i,
        "amount": amount,
        "booked_on": f"2024-02-{10 + i % 18:02d}",
        "changed_at": "2024-03-01T12:00:00+01:00" if i % 2 else None,
        "text": f"Buchung {i} / Überweisung 'x' \\ \"y\"",
        "tags": ["a", str(i)] if i % 3 else None,
        "rate": i / 7 if i % 4 else None,
        "open": bool(i % 2),
        **extra,
    }
    return record_msg("lines", record, extracted)


def _runs() -> list[list[dict[str, t.Any]]]:
    """Three target runs: loads, a schema change with late and newer data, versions."""
    first = [
        schema_msg("lines", LINES, ["id"]),
        schema_msg("events", EVENTS),
        *[_line(i, f"{i}.{i % 100:02d}", "2024-03-02T00:00:00Z") for i in range(1, 40)],
        _line(5, "55.55", "2024-03-02T00:00:00Z"),  # a later position of the same key wins
        *[record_msg("events", {"kind": "k", "n": n}, "2024-03-02T00:00:00Z") for n in range(5)],
        state_msg({"bookmarks": {"lines": 1}}),
    ]
    second = [
        schema_msg("lines", {**LINES, "note": {"type": ["string", "null"]}}, ["id"]),
        schema_msg("events", EVENTS),
        _line(1, "-1.00", "2024-03-01T00:00:00Z", note="late, older: must not win"),
        _line(2, "222.22", "2024-03-03T00:00:00Z", note="newer: wins"),
        _line(100, None, "2024-03-03T00:00:00Z", note="new key"),
        record_msg("events", {"kind": "k", "n": 0}, "2024-03-03T00:00:00Z"),
    ]
    accounts = {"id": {"type": "integer"}, "name": {"type": "string"}}
    third = [
        schema_msg("accounts", accounts, ["id"]),
        {"type": "ACTIVATE_VERSION", "stream": "accounts", "version": 1},
        *[
            {**record_msg("accounts", {"id": i, "name": f"v1-{i}"}, "2024-03-01T00:00:00Z"), "version": 1}
            for i in (1, 2, 3)
        ],
        {"type": "ACTIVATE_VERSION", "stream": "accounts", "version": 1},
        *[
            {**record_msg("accounts", {"id": i, "name": f"v2-{i}"}, "2024-03-02T00:00:00Z"), "version": 2}
            for i in (2, 3)
        ],
        {"type": "ACTIVATE_VERSION", "stream": "accounts", "version": 2},
    ]
    return [first, second, third]


def _comparable(table: pa.Table) -> tuple[dict[str, pa.DataType], list[tuple[t.Any, ...]]]:
    types = {f.name: f.type for f in table.schema if f.name not in VOLATILE}
    names = sorted(types)
    rows = sorted(
        ((*(row[n] for n in names), row.get("_sdc_deleted_at") is None) for row in table.to_pylist()),
        key=repr,
    )
    return types, rows


@pytest.mark.parametrize(
    ("hard_delete", "load_via"), [(False, "statements"), (True, "statements"), (False, "jobs")]
)
def test_local_and_workspace_engines_land_equal_tables(
    emulator: RunningEmulator, tmp_path: Path, hard_delete: bool, load_via: str
) -> None:
    local_cfg = {
        "engine": "local",
        "local_path": str(tmp_path / "lake"),
        "catalog": "main",
        "schema": "datev",
    }
    workspace_cfg = settings(emulator, load_via=load_via)
    for cfg in (local_cfg, workspace_cfg):
        for messages in _runs():
            run({**cfg, "hard_delete": hard_delete, "batch_size_rows": 16}, messages)

    local, workspace = LocalEngine(local_cfg), WorkspaceEngine(workspace_cfg)
    for name in ("lines", "events", "accounts"):
        ref = TableRef("main", "datev", name)
        local_types, local_rows = _comparable(local.read_table(ref))
        ws_types, ws_rows = _comparable(workspace.read_table(ref))
        assert ws_types == local_types, name
        assert ws_rows == local_rows, name
        assert local_rows  # something landed

    lines = {r["id"]: r for r in workspace.read_table(TableRef("main", "datev", "lines")).to_pylist()}
    assert str(lines[1]["amount"]) == "1.01" and lines[1]["note"] is None  # the late row lost
    assert str(lines[2]["amount"]) == "222.22" and str(lines[5]["amount"]) == "55.55"
    accounts = workspace.read_table(TableRef("main", "datev", "accounts")).to_pylist()
    live = sorted(r["id"] for r in accounts if r["_sdc_deleted_at"] is None)
    assert live == [2, 3] and len(accounts) == (2 if hard_delete else 3)
    # Both ledgers committed the same load ids.
    if load_via == "jobs":
        assert emulator.app.jobs.runs_created == len(local.ledger_read()) // 2  # one run per load
    committed = {e.load_id for e in local.ledger_read() if e.status == "committed"}
    assert committed and committed == {e.load_id for e in workspace.ledger_read() if e.status == "committed"}

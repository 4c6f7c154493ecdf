"""Load ids and the ledger's current view."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from target_databricks import audit, batches
from target_databricks import schema as sch
from target_databricks.engines.base import LedgerEntry

PROPS = {
    "id": {"type": "integer"},
    "v": {"type": "string", "format": "x-singer.decimal", "precision": 9, "scale": 2},
}
PLAN = sch.plan_stream("s", {"properties": PROPS}, ["id"], catalog="main", schema="datev")


def _table(positions: list[int], extracted: str | None = "2024-01-01T00:00:00Z") -> pa.Table:
    records = [
        {"id": i, "v": "1.50", sch.EXTRACTED_AT: extracted, sch.POSITION: p} for i, p in enumerate(positions)
    ]
    return batches.records_to_table("s", PLAN, records)


def test_load_id_is_deterministic_and_ignores_target_set_columns() -> None:
    a = _table([10, 20])
    now = dt.datetime.now(dt.UTC)
    finished = batches.add_batch_columns(PLAN, a, load_id="x", received_at=now, batched_at=now)
    later = now + dt.timedelta(hours=1)
    refinished = batches.add_batch_columns(
        PLAN, _table([10, 20]), load_id="y", received_at=later, batched_at=later
    )
    assert audit.load_id("s", a) == audit.load_id("s", _table([10, 20]))
    assert audit.load_id("s", finished) == audit.load_id("s", refinished)


def test_equal_values_at_other_positions_or_times_are_another_load() -> None:
    base = audit.load_id("s", _table([10, 20]))
    assert audit.load_id("s", _table([11, 20])) != base
    assert audit.load_id("s", _table([10, 20], "2024-01-02T00:00:00Z")) != base
    assert audit.load_id("other", _table([10, 20])) != base
    assert audit.load_id("s", _table([10, 20]), salt="run-2") != base


def _entry(load_id: str, status: str, attempt: int, second: int) -> LedgerEntry:
    return LedgerEntry(
        load_id,
        "s",
        "main.datev.s",
        "upsert",
        status,
        1,
        attempt,
        "/x",
        None,  # type: ignore[arg-type]
        dt.datetime(2024, 1, 1, 0, 0, second, tzinfo=dt.UTC),
    )


def test_current_loads_latest_attempt_and_status_wins() -> None:
    entries = [
        _entry("a", "staged", 1, 1),
        _entry("a", "failed", 1, 2),
        _entry("a", "committed", 2, 3),
        _entry("b", "staged", 1, 4),
        _entry("c", "committed", 1, 5),
        _entry("c", "staged", 1, 6),  # a stale writer after the commit does not undo it
    ]
    current = audit.current_loads(entries)
    assert {k: (v.status, v.attempt) for k, v in current.items()} == {
        "a": ("committed", 2),
        "b": ("staged", 1),
        "c": ("committed", 1),
    }
    assert [k for k, v in current.items() if audit.needs_replay(v)] == ["b"]


def test_ledger_rows_round_trip_through_arrow() -> None:
    entries = [_entry("a", "staged", 1, 1), _entry("a", "committed", 1, 2)]
    assert audit.entries_from_arrow(audit.entries_to_arrow(entries)) == entries

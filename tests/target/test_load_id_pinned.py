"""Load ids are recorded in the ledgers of earlier runs: the same rows must keep getting the same id
whatever the target does to compute it faster. The ids below were computed by the target at commit
97a3472 (the hash of an uncompressed in-memory Parquet copy of the batch) on the same fixed inputs."""

from __future__ import annotations

import datetime as dt
import gzip
import typing as t
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from target_testlib import config, engine, lines, record_msg, run, schema_msg

from target_databricks import audit, batches
from target_databricks import schema as sch

PROPS: dict[str, t.Any] = {
    "id": {"type": "integer"},
    "amount": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2},
    "rate": {"type": ["number", "null"]},
    "text": {"type": ["string", "null"]},
    "booked_on": {"type": ["string", "null"], "format": "date"},
    "changed_at": {"type": ["string", "null"], "format": "date-time"},
    "locked": {"type": ["boolean", "null"]},
}
PLAN = sch.plan_stream("lines", {"properties": PROPS}, ["id"], catalog="main", schema="datev")
TEXTS = ["Überweisung Müller GmbH", "Miete Büro", "", None, "x" * 300]


def _record(i: int) -> dict[str, t.Any]:
    return {
        "id": i,
        "amount": None if i % 7 == 3 else f"{(i * 37) % 100_000 / 100:.2f}",
        "rate": None if i % 5 == 1 else i / 8,
        "text": TEXTS[i % len(TEXTS)],
        "booked_on": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "changed_at": None if i % 11 == 0 else f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:07Z",
        "locked": None if i % 13 == 0 else i % 2 == 0,
    }


def _typed(n: int, first_position: int = 5 * batches.POSITION_STRIDE) -> pa.Table:
    rows = [
        {**_record(i), sch.EXTRACTED_AT: "2024-12-31T00:00:00Z", sch.POSITION: first_position + i}
        for i in range(n)
    ]
    return batches.records_to_table("lines", PLAN, rows)


def _finished(table: pa.Table) -> pa.Table:
    """The table as a load stages it: batch columns (volatile, not hashed) and the table's order."""
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    return batches.add_batch_columns(PLAN, table, load_id="x", received_at=now, batched_at=now)


PINNED_TABLES: list[tuple[str, t.Callable[[], pa.Table], str, str]] = [
    ("one row", lambda: _typed(1), "", "303cd5883d7f517763c8c21be5bbd97b96003ccf"),
    ("1,000 rows", lambda: _typed(1_000), "", "7b65dacd938ba8e2701d5ae52491822062732fb2"),
    (
        "1,000 rows, salted",
        lambda: _typed(1_000),
        "0123456789abcdef",
        "b1ecf877b612d5c160bf54da043a9ad3bb4ef4bc",
    ),
    (
        "1,000 rows with batch columns",
        lambda: _finished(_typed(1_000)),
        "",
        "7b65dacd938ba8e2701d5ae52491822062732fb2",
    ),
    (
        "three chunks",
        lambda: pa.concat_tables([_typed(10), _typed(20), _typed(5)]),
        "",
        "076b67416eefa3adb0e68df052435ba6c327846f",
    ),
    ("no rows", lambda: _typed(0), "", "b473515c5a90b5493554ab6c38907ae1b004ec57"),
    ("a slice", lambda: _typed(300).slice(17, 200), "", "ff6a9af06e0c67b9b5c4edda2cd83782d6bbe024"),
]


@pytest.mark.parametrize(("case", "make", "salt", "pinned"), PINNED_TABLES, ids=[c[0] for c in PINNED_TABLES])
def test_load_id_of_fixed_tables_is_pinned(
    case: str, make: t.Callable[[], pa.Table], salt: str, pinned: str
) -> None:
    assert audit.load_id("lines", make(), salt=salt) == pinned


def _tap_file(rows: range) -> pa.Table:
    """What a tap writes: decimal128 money, dates and timestamps as text, a column not in the schema."""
    records = [_record(i) for i in rows]
    table = pa.Table.from_pylist(records)
    amounts = [None if r["amount"] is None else Decimal(r["amount"]) for r in records]
    table = table.set_column(1, "amount", pa.array(amounts, pa.decimal128(15, 2)))
    return table.append_column("not_in_schema", pa.array([f"n{i}" for i in rows]))


def _ledger_ids(cfg: dict[str, t.Any]) -> list[str]:
    committed = [e for e in engine(cfg).ledger_read() if e.status == "committed"]
    return [e.load_id for e in sorted(committed, key=lambda e: e.recorded_at)]


def test_load_ids_of_a_batch_run_are_pinned(tmp_path: Path) -> None:
    """Two Parquet files (one gzip-wrapped) of one BATCH message: one load each, ids as before."""
    plain, wrapped = tmp_path / "part-0.parquet", tmp_path / "part-1.parquet.gz"
    pq.write_table(_tap_file(range(0, 700)), plain)
    pq.write_table(_tap_file(range(700, 1_000)), wrapped, row_group_size=100)
    wrapped.write_bytes(gzip.compress(wrapped.read_bytes()))
    batch = {
        "type": "BATCH",
        "stream": "lines",
        "encoding": {"format": "parquet", "compression": "gzip"},
        "manifest": [plain.as_uri(), wrapped.as_uri()],
        "time_extracted": "2024-12-31T00:00:00Z",
    }
    cfg = config(tmp_path)
    run(cfg, [schema_msg("lines", PROPS, ["id"]), batch])
    # The manifest names tmp_path, which is not hashed: only rows, positions and extraction time are.
    assert _ledger_ids(cfg) == [
        "818b5f42f6481607b0454f91bdb73701a5e4d9c6",
        "d5a92aa7e4b124b6bacb26e8461a1e2ae229069e",
    ]


def test_load_ids_of_a_record_run_are_pinned(tmp_path: Path) -> None:
    extracted = "2024-12-31T00:00:00Z"
    messages = [schema_msg("lines", PROPS, ["id"])] + [
        record_msg("lines", _record(i), extracted) for i in range(1_000)
    ]
    cfg = config(tmp_path, batch_size_rows=600)
    run(cfg, lines(messages))
    assert _ledger_ids(cfg) == [
        "2e247f268f0ee3ea33e67f38771079d8b8002650",
        "6adddee9fae45ac0a72470b1b7e81e4569bf7ae4",
    ]

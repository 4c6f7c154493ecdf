"""How the local engine applies an upsert batch, seen from the Delta table: a batch whose integer
keys lie outside every data file's statistics is appended (no join with the table), any other is
merged; both commit the load's application transaction with the rows, and what lands is the same
as a MERGE would leave: newest row per key, declared types, each load applied once."""

from __future__ import annotations

import typing as t
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable
from target_testlib import config, engine, read, rows_by, run, schema_msg

from target_databricks.engines.base import TableRef

MONEY = {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2}
PROPS = {
    "id": {"type": "integer"},
    "code": {"type": "string"},
    "amount": MONEY,
    "changed_at": {"type": "string", "format": "date-time"},
}


def _file(tmp_path: Path, name: str, rows: list[tuple[int, str, str, str]]) -> Path:
    """A tap's Parquet file: (id, code, amount, changed_at) per row, decimals as decimal128."""
    path = tmp_path / f"{name}.parquet"
    ids, codes, amounts, changed = zip(*rows, strict=True)
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "code": pa.array(codes),
            "amount": pa.array([Decimal(a) for a in amounts], pa.decimal128(15, 2)),
            "changed_at": pa.array(changed),
        }
    )
    pq.write_table(table, path)
    return path


def _batch(stream: str, files: list[Path], time_extracted: str) -> dict[str, t.Any]:
    return {
        "type": "BATCH",
        "stream": stream,
        "encoding": {"format": "parquet", "compression": "none"},
        "manifest": [f.as_uri() for f in files],
        "time_extracted": time_extracted,
    }


def _data_commits(cfg: dict[str, t.Any], table: str) -> list[str]:
    """The operations of the commits that wrote rows, oldest first."""
    path = engine(cfg).table_path(TableRef("main", "datev", table))
    history = reversed(DeltaTable(str(path)).history())
    return [c["operation"] for c in history if c["operation"] in ("WRITE", "MERGE")]


def _transactions_committed(cfg: dict[str, t.Any], table: str) -> list[int | None]:
    """For each committed load in the ledger: the attempt its table's log records for it."""
    eng = engine(cfg)
    delta = DeltaTable(str(eng.table_path(TableRef("main", "datev", table))))
    committed = [e for e in eng.ledger_read() if e.status == "committed"]
    return [delta.transaction_version(f"{e.table_id}.{e.load_id}") for e in committed]


def _row(i: int, code: str, amount: str = "1.00") -> tuple[int, str, str, str]:
    return (i, code, amount, "2024-03-01T00:00:00Z")


def test_new_integer_keys_are_appended_and_overlapping_ones_merged(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    first = _file(tmp_path, "first", [_row(1, "a", "1.10"), _row(2, "b", "2.20")])
    beyond = _file(tmp_path, "beyond", [_row(3, "c", "3.30"), _row(4, "d", "4.40")])
    newer = _file(tmp_path, "newer", [_row(2, "b2", "20.00"), _row(5, "e", "5.50")])  # id 2 again
    older = _file(tmp_path, "older", [_row(4, "d0", "0.04"), _row(6, "f", "6.60")])  # extracted earlier
    messages = [
        schema_msg("lines", PROPS, ["id"]),
        _batch("lines", [first, beyond], "2024-03-02T00:00:00Z"),
        _batch("lines", [newer], "2024-03-03T00:00:00Z"),
        _batch("lines", [older], "2024-03-01T00:00:00Z"),
    ]
    run(cfg, messages)

    # Empty table, then ids 3-4 beyond every file: appended; ids 2-5 and 4-6 overlap files: merged.
    assert _data_commits(cfg, "lines") == ["WRITE", "WRITE", "MERGE", "MERGE"]
    assert _transactions_committed(cfg, "lines") == [1, 1, 1, 1]
    rows = rows_by(cfg, "lines")
    assert {k: (r["code"], r["amount"]) for k, r in rows.items()} == {
        1: ("a", Decimal("1.10")),
        2: ("b2", Decimal("20.00")),
        3: ("c", Decimal("3.30")),
        4: ("d", Decimal("4.40")),
        5: ("e", Decimal("5.50")),
        6: ("f", Decimal("6.60")),
    }
    table = read(cfg, "lines")
    assert table.schema.field("amount").type == pa.decimal128(15, 2)
    assert table.schema.field("changed_at").type == pa.timestamp("us", tz="UTC")
    assert not table.schema.field("id").nullable

    # The same input again: every load was applied to this table, nothing is written twice.
    run(cfg, messages)
    assert _data_commits(cfg, "lines") == ["WRITE", "WRITE", "MERGE", "MERGE"]
    assert read(cfg, "lines").num_rows == 6


def test_string_keys_are_merged_once_the_table_has_rows(tmp_path: Path) -> None:
    # String statistics may be truncated: only an empty table lets a string-keyed batch be appended.
    cfg = config(tmp_path)
    first = _file(tmp_path, "first", [_row(1, "a"), _row(2, "b")])
    beyond = _file(tmp_path, "beyond", [_row(3, "x"), _row(4, "y")])
    run(cfg, [schema_msg("lines", PROPS, ["code"]), _batch("lines", [first, beyond], "2024-03-02T00:00:00Z")])
    assert _data_commits(cfg, "lines") == ["WRITE", "MERGE"]
    assert sorted(rows_by(cfg, "lines", "code")) == ["a", "b", "x", "y"]


def test_repeated_keys_in_a_file_keep_the_last_row(tmp_path: Path) -> None:
    # One time_extracted for the whole file: its row order (the input position) decides.
    cfg = config(tmp_path)
    repeated = _file(
        tmp_path, "repeated", [_row(1, "a"), _row(2, "b"), _row(1, "a2"), _row(3, "c"), _row(2, "b2")]
    )
    unique = _file(tmp_path, "unique", [_row(9, "z"), _row(7, "x"), _row(8, "y")])
    run(
        cfg, [schema_msg("lines", PROPS, ["id"]), _batch("lines", [repeated, unique], "2024-03-02T00:00:00Z")]
    )
    assert {k: r["code"] for k, r in rows_by(cfg, "lines").items()} == {
        1: "a2",
        2: "b2",
        3: "c",
        7: "x",
        8: "y",
        9: "z",
    }
    # Positions: message line 2, then the row in the file (a dropped duplicate leaves its gap).
    positions = {r["code"]: r["_ml_position"] - 2 * 10**9 for r in read(cfg, "lines").to_pylist()}
    assert positions == {"a2": 2, "c": 3, "b2": 4, "z": 5, "x": 6, "y": 7}


def test_repeated_composite_keys_keep_the_last_row(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    rows = [_row(1, "a", "1.00"), _row(1, "b", "2.00"), _row(1, "a", "3.00"), _row(2, "a", "4.00")]
    run(
        cfg,
        [
            schema_msg("lines", PROPS, ["id", "code"]),
            _batch("lines", [_file(tmp_path, "f", rows)], "2024-03-02T00:00:00Z"),
        ],
    )
    landed = {(r["id"], r["code"]): r["amount"] for r in read(cfg, "lines").to_pylist()}
    assert landed == {(1, "a"): Decimal("3.00"), (1, "b"): Decimal("2.00"), (2, "a"): Decimal("4.00")}

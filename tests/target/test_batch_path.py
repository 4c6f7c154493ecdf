"""The BATCH (Parquet) path on the local engine: what lands when files are read ahead, keys rise or
repeat, and loads are staged and applied (values, types, ledger rows)."""

from __future__ import annotations

import typing as t
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from target_testlib import config, engine, read, rows_by, run, schema_msg

from target_databricks.batches import BatchTypeError

PROPS: dict[str, t.Any] = {
    "id": {"type": "integer"},
    "code": {"type": "string"},
    "amount": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2},
}


def _file(path: Path, ids: list[int], codes: list[str], amounts: list[str]) -> Path:
    money = pa.array([Decimal(a) for a in amounts], pa.decimal128(15, 2))
    pq.write_table(pa.table({"id": ids, "code": codes, "amount": money}), path)
    return path


def _batch(stream: str, files: list[Path]) -> dict[str, t.Any]:
    return {
        "type": "BATCH",
        "stream": stream,
        "encoding": {"format": "parquet", "compression": "none"},
        "manifest": [f.as_uri() for f in files],
    }


@pytest.mark.parametrize(
    ("key", "ids", "codes", "landed"),
    [
        # rising ids with one repeated: the later row of the repeated key wins
        ("id", [1, 2, 2, 3], ["a", "b", "c", "d"], {1: "a", 2: "c", 3: "d"}),
        # falling ids, all distinct: every row lands
        ("id", [4, 3, 2, 1], ["a", "b", "c", "d"], {4: "a", 3: "b", 2: "c", 1: "d"}),
        # a text key that rises and repeats at the end
        ("code", [1, 2, 3, 4], ["a", "b", "c", "c"], {"a": 1, "b": 2, "c": 4}),
    ],
)
def test_keys_that_rise_or_repeat_in_a_file_land_once_each(
    tmp_path: Path, key: str, ids: list[int], codes: list[str], landed: dict[t.Any, t.Any]
) -> None:
    cfg = config(tmp_path)
    f = _file(tmp_path / "b.parquet", ids, codes, ["1.00"] * len(ids))
    run(cfg, [schema_msg("lines", PROPS, [key]), _batch("lines", [f])])
    other = "code" if key == "id" else "id"
    assert {k: r[other] for k, r in rows_by(cfg, "lines", key).items()} == landed


@pytest.mark.parametrize("batch_size_bytes", [None, 1], ids=["read-ahead", "one-file-at-a-time"])
def test_files_of_one_batch_message_land_in_order_one_load_each(
    tmp_path: Path, batch_size_bytes: int | None
) -> None:
    """Later files of the manifest are read while earlier ones load (unless a file's table is as
    big as batch_size_bytes): every file is one load, in manifest order, so a key repeated in a
    later file ends with that file's value."""
    cfg = config(tmp_path, **({"batch_size_bytes": batch_size_bytes} if batch_size_bytes else {}))
    files = [
        _file(
            tmp_path / f"part-{n}.parquet", [n * 10 + i for i in range(3)] + [1], ["x"] * 4, [f"{n}.25"] * 4
        )
        for n in range(1, 5)
    ]
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _batch("lines", files)])
    rows = rows_by(cfg, "lines")
    assert rows[1]["amount"] == Decimal("4.25")  # id 1 is in every file: the last file's value
    assert sorted(rows) == [1] + [n * 10 + i for n in range(1, 5) for i in range(3)]
    assert read(cfg, "lines").schema.field("amount").type == pa.decimal128(15, 2)
    entries = engine(cfg).ledger_read()
    assert [(e.status, e.rows) for e in entries] == [("staged", 4), ("committed", 4)] * 4
    assert len({e.load_id for e in entries}) == 4
    assert not list((tmp_path / "lake" / "_staging").rglob("*.parquet"))  # every staged file removed


def test_the_tables_data_files_read_the_same_in_duckdb(tmp_path: Path) -> None:
    """The Parquet files delta-rs wrote (keys and positions without dictionaries) read in DuckDB's
    own Parquet reader to the same rows and types as through delta-rs."""
    duckdb = pytest.importorskip("duckdb")
    from deltalake import DeltaTable

    cfg = config(tmp_path)
    ids = list(range(1, 2_001))
    f = _file(tmp_path / "b.parquet", ids, [f"c{i % 7}" for i in ids], [f"{i}.{i % 100:02d}" for i in ids])
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _batch("lines", [f])])
    path = tmp_path / "lake" / "main" / "datev" / "lines"
    files = [str(path / p) for p in DeltaTable(str(path)).file_uris()]
    columns = ["id", "code", "amount", "_ml_position"]
    with duckdb.connect() as con:
        query = f"SELECT {', '.join(columns)} FROM read_parquet(?) ORDER BY id"
        landed = con.execute(query, [files]).fetchall()
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [files]).fetchall()
    types = {row[0]: row[1] for row in described}
    expected = read(cfg, "lines").select(columns).sort_by("id").to_pylist()
    assert landed == [tuple(row.values()) for row in expected]
    assert types["amount"] == "DECIMAL(15,2)" and types["id"] == "BIGINT"


def test_a_bad_file_after_good_ones_stops_at_it_and_the_good_ones_stay_loaded(tmp_path: Path) -> None:
    """The file after the one loading is typed ahead, but its error is raised in manifest order:
    the files before it are committed, it and the files after it load nothing."""
    cfg = config(tmp_path)
    first = _file(tmp_path / "part-0.parquet", [1, 2], ["a", "b"], ["1.00", "2.00"])
    second = _file(tmp_path / "part-1.parquet", [3, 4], ["c", "d"], ["3.00", "4.00"])
    bad = tmp_path / "part-2.parquet"
    pq.write_table(pa.table({"id": pa.array([5, None], pa.int64()), "code": ["e", "f"]}), bad)
    last = _file(tmp_path / "part-3.parquet", [7], ["g"], ["7.00"])
    with pytest.raises(BatchTypeError) as info:
        run(cfg, [schema_msg("lines", PROPS, ["id"]), _batch("lines", [first, second, bad, last])])
    assert f"BATCH file {bad.as_uri()} row 2: key property 'id'" in str(info.value)
    assert sorted(rows_by(cfg, "lines")) == [1, 2, 3, 4]
    assert [e.status for e in engine(cfg).ledger_read()] == ["staged", "committed"] * 2

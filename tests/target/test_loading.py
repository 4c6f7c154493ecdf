"""Loading behaviour on the local engine: decimals, ordering, evolution, BATCH files, versions."""

from __future__ import annotations

import dataclasses
import gzip
import json
import typing as t
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from target_testlib import config, engine, read, record_msg, rows_by, run, schema_msg, state_msg

from target_databricks import audit
from target_databricks.engines.base import SchemaChangeError

MONEY = {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2}
PROPS = {
    "id": {"type": "integer"},
    "amount": MONEY,
    "booked_on": {"type": "string", "format": "date"},
    "changed_at": {"type": ["string", "null"], "format": "date-time"},
    "text": {"type": ["string", "null"]},
}


def _rec(i: int, amount: str, t_ex: str = "2024-03-01T00:00:00Z", **extra: t.Any) -> dict[str, t.Any]:
    record = {"id": i, "amount": amount, "booked_on": "2024-02-29", "changed_at": "2024-03-01T12:00:00+01:00"}
    return record_msg("lines", {**record, "text": f"Überweisung {i}", **extra}, t_ex)


def test_decimals_exact_to_the_cent(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    amounts = [f"{(i * 7919) % 100000 / 100:.2f}" for i in range(1, 3001)] + [
        "0.01",
        "-0.01",
        "9999999999999.99",
    ]
    messages = [schema_msg("lines", PROPS, ["id"])]
    messages += [_rec(i, a) for i, a in enumerate(amounts)]
    run(cfg, messages)
    table = read(cfg, "lines")
    assert table.schema.field("amount").type == pa.decimal128(15, 2)
    assert table.schema.field("booked_on").type == pa.date32()
    assert table.schema.field("changed_at").type == pa.timestamp("us", tz="UTC")
    landed = table.column("amount").to_pylist()
    assert sum(landed) == sum(Decimal(a) for a in amounts)
    assert sorted(landed) == sorted(Decimal(a) for a in amounts)
    row = rows_by(cfg, "lines")[0]
    assert row["text"] == "Überweisung 0"
    assert row["changed_at"].isoformat() == "2024-03-01T11:00:00+00:00"


def test_more_decimal_places_than_declared_fail_the_batch(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with pytest.raises(Exception, match="amount"):
        run(cfg, [schema_msg("lines", PROPS, ["id"]), _rec(1, "1.005")])


def test_ordered_upsert_older_never_overwrites(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _rec(1, "20.00", "2024-03-02T00:00:00Z"), _rec(2, "2.00")])
    # A late batch with older time_extracted: id 1 must keep 20.00; id 2 (newer) is updated.
    run(
        cfg,
        [
            schema_msg("lines", PROPS, ["id"]),
            _rec(1, "10.00", "2024-03-01T00:00:00Z"),
            _rec(2, "3.00", "2024-03-05T00:00:00Z"),
        ],
    )
    rows = rows_by(cfg, "lines")
    assert rows[1]["amount"] == Decimal("20.00")
    assert rows[2]["amount"] == Decimal("3.00")


def test_equal_time_extracted_orders_by_position(tmp_path: Path) -> None:
    cfg = config(tmp_path, batch_size_rows=1)  # every record its own batch and commit
    same = "2024-03-01T00:00:00Z"
    run(
        cfg,
        [
            schema_msg("lines", PROPS, ["id"]),
            _rec(1, "1.00", same),
            _rec(1, "2.00", same),
            _rec(1, "3.00", same),
        ],
    )
    assert rows_by(cfg, "lines")[1]["amount"] == Decimal("3.00")
    # Within one batch, the later position wins as well (dedupe keeps the newest).
    cfg2 = config(tmp_path / "b")
    run(cfg2, [schema_msg("lines", PROPS, ["id"]), _rec(1, "5.00", same), _rec(1, "4.00", same)])
    assert rows_by(cfg2, "lines")[1]["amount"] == Decimal("4.00")
    # ...and an older time_extracted later in the input loses inside a batch too.
    cfg3 = config(tmp_path / "c")
    run(
        cfg3,
        [schema_msg("lines", PROPS, ["id"]), _rec(1, "7.00", "2024-03-09T00:00:00Z"), _rec(1, "6.00", same)],
    )
    assert rows_by(cfg3, "lines")[1]["amount"] == Decimal("7.00")


def test_schema_evolution_adds_a_column(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _rec(1, "1.00")])
    wider = {**PROPS, "costCenter": {"type": ["string", "null"]}}
    run(cfg, [schema_msg("lines", wider, ["id"]), _rec(2, "2.00", costCenter="K100")])
    rows = rows_by(cfg, "lines")
    assert rows[1]["cost_center"] is None
    assert rows[2]["cost_center"] == "K100"


def test_incompatible_type_change_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _rec(1, "1.00")])
    path = tmp_path / "lake" / "main" / "datev" / "lines"
    version_before = DeltaTable(str(path)).version()
    changed = {**PROPS, "amount": {"type": "boolean"}}  # a boolean fits no decimal, nor a decimal it
    with pytest.raises(SchemaChangeError) as info:
        run(cfg, [schema_msg("lines", changed, ["id"]), record_msg("lines", {"id": 1, "amount": True})])
    assert "amount: table has DECIMAL(15,2), stream declares BOOLEAN" in str(info.value)
    assert "no data was changed" in str(info.value)
    assert DeltaTable(str(path)).version() == version_before
    assert rows_by(cfg, "lines")[1]["amount"] == Decimal("1.00")


def test_hostile_stream_names_stay_under_local_path(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    run(cfg, [schema_msg("../../etc", PROPS, ["id"]), record_msg("../../etc", {"id": 1, "amount": "1.00"})])
    lake = (tmp_path / "lake").resolve()
    assert (lake / "main" / "datev" / "etc" / "_delta_log").is_dir()
    assert not (tmp_path.parent / "etc").exists()
    for p in tmp_path.rglob("*"):
        assert p.resolve().is_relative_to(tmp_path.resolve())


def test_same_input_twice_equal_counts_and_sums(tmp_path: Path) -> None:
    cfg = config(tmp_path, batch_size_rows=50)
    keyed = [schema_msg("lines", PROPS, ["id"])] + [_rec(i, f"{i}.25") for i in range(200)]
    unkeyed = [schema_msg("events", {"n": {"type": "integer"}, "v": MONEY})] + [
        record_msg("events", {"n": i, "v": "0.10"}, "2024-03-01T00:00:00Z") for i in range(120)
    ]
    messages = [*keyed, *unkeyed, state_msg({"bookmarks": {"lines": 199}})]
    for _ in range(2):
        run(cfg, messages)
        assert read(cfg, "lines").num_rows == 200
        assert sum(read(cfg, "lines").column("amount").to_pylist()) == sum(
            Decimal(f"{i}.25") for i in range(200)
        )
        events = read(cfg, "events")
        assert events.num_rows == 120  # append-only: the re-fed batches were recognised by load id
        assert sum(events.column("v").to_pylist()) == Decimal("12.00")
    entries = engine(cfg).ledger_read()
    current = audit.current_loads(entries)
    # The second run found every load committed to these tables: a `skipped` row each, which does
    # not hide the `committed` one.
    assert {e.status for e in current.values()} == {"committed"}
    assert len(current) == 4 + 3  # 200/50 keyed batches + 120/50 append batches
    assert sorted(e.load_id for e in entries if e.status == "skipped") == sorted(current)


def test_state_is_emitted_after_commit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path)
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _rec(1, "1.00"), state_msg({"bookmarks": {"lines": 1}})])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert out == [{"bookmarks": {"lines": 1}}]
    assert read(cfg, "lines").num_rows == 1


def test_overwrite_replaces_once_per_run(tmp_path: Path) -> None:
    cfg = config(tmp_path, load_method="overwrite", batch_size_rows=2)
    run(cfg, [schema_msg("lines", PROPS, ["id"])] + [_rec(i, "1.00") for i in range(5)])
    assert sorted(read(cfg, "lines").column("id").to_pylist()) == [0, 1, 2, 3, 4]
    run(cfg, [schema_msg("lines", PROPS, ["id"])] + [_rec(i, "2.00") for i in (7, 8, 9)])
    assert sorted(read(cfg, "lines").column("id").to_pylist()) == [7, 8, 9]
    # An identical later run replaces again (overwrite load ids are run-specific).
    run(cfg, [schema_msg("lines", PROPS, ["id"])] + [_rec(i, "2.00") for i in (7, 8, 9)])
    assert sorted(read(cfg, "lines").column("id").to_pylist()) == [7, 8, 9]


def test_append_only_setting_keeps_every_version(tmp_path: Path) -> None:
    cfg = config(tmp_path, load_method="append-only")
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _rec(1, "1.00"), _rec(1, "2.00")])
    assert sorted(read(cfg, "lines").column("amount").to_pylist()) == [Decimal("1.00"), Decimal("2.00")]


@pytest.mark.parametrize("hard", [False, True])
def test_activate_version(tmp_path: Path, hard: bool) -> None:
    cfg = config(tmp_path, hard_delete=hard)

    def version(v: int, ids: list[int]) -> list[dict[str, t.Any]]:
        msgs: list[dict[str, t.Any]] = (
            [{"type": "ACTIVATE_VERSION", "stream": "lines", "version": v}] if v == 1 else []
        )
        msgs += [{**_rec(i, "1.00", f"2024-03-0{v}T00:00:00Z"), "version": v} for i in ids]
        return [*msgs, {"type": "ACTIVATE_VERSION", "stream": "lines", "version": v}]

    run(cfg, [schema_msg("lines", PROPS, ["id"]), *version(1, [1, 2, 3])])
    run(cfg, [schema_msg("lines", PROPS, ["id"]), *version(2, [2, 3])])
    rows = rows_by(cfg, "lines")
    if hard:
        assert sorted(rows) == [2, 3]
    else:
        assert sorted(rows) == [1, 2, 3]
        assert rows[1]["_sdc_deleted_at"] is not None and rows[1]["_sdc_table_version"] == 1
        assert rows[2]["_sdc_deleted_at"] is None and rows[2]["_sdc_table_version"] == 2


# --- BATCH messages -----------------------------------------------------------------------------


def _batch_msg(stream: str, fmt: str, compression: str, files: list[Path]) -> dict[str, t.Any]:
    return {
        "type": "BATCH",
        "stream": stream,
        "encoding": {"format": fmt, "compression": compression},
        "manifest": [f.as_uri() for f in files],
    }


def test_batch_parquet_with_decimal128_from_the_tap(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    data = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "amount": pa.array([Decimal("1.10"), Decimal("2.20"), None], pa.decimal128(15, 2)),
            "booked_on": pa.array(["2024-01-31", "2024-02-29", "2024-03-31"]),
            "changed_at": pa.array(["2024-03-01T00:00:00Z", None, "2024-03-01T10:00:00+02:00"]),
            "text": pa.array(["ä", "ö", "ü"]),
        }
    )
    f1, f2 = tmp_path / "b1.parquet", tmp_path / "b2.parquet.gz"
    pq.write_table(data, f1)
    pq.write_table(data.slice(0, 2).set_column(0, "id", pa.array([4, 5], pa.int64())), f2, compression="gzip")
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _batch_msg("lines", "parquet", "gzip", [f1, f2])])
    table = read(cfg, "lines")
    assert table.schema.field("amount").type == pa.decimal128(15, 2)
    rows = rows_by(cfg, "lines")
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert sum(r["amount"] or 0 for r in rows.values()) == Decimal("6.60")
    assert rows[3]["changed_at"].isoformat() == "2024-03-01T08:00:00+00:00"
    positions = sorted(r["_ml_position"] for r in rows.values())
    assert positions == [2 * 10**9 + n for n in range(5)]  # message line 2, then row index


def test_batch_jsonl_gz_with_strings(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    lines = [
        {
            "id": 1,
            "amount": "10.01",
            "booked_on": "2024-01-31",
            "changed_at": "2024-01-31T23:00:00Z",
            "text": "Müller",
        },
        {"id": 2, "amount": "0.99", "booked_on": "2024-02-01", "changed_at": None, "text": None},
        {
            "id": 1,
            "amount": "10.02",
            "booked_on": "2024-01-31",
            "changed_at": "2024-02-01T00:00:00Z",
            "text": "later",
        },
    ]
    f = tmp_path / "b.json.gz"
    f.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in lines).encode()))
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _batch_msg("lines", "jsonl", "gzip", [f])])
    rows = rows_by(cfg, "lines")
    assert rows[1]["amount"] == Decimal("10.02") and rows[1]["text"] == "later"  # later row in file wins
    assert rows[2]["amount"] == Decimal("0.99")
    assert read(cfg, "lines").schema.field("booked_on").type == pa.date32()


def test_batch_jsonl_with_nested_values(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    props = {"id": {"type": "integer"}, "tags": {"type": "array"}, "meta": {"type": "object"}}
    f = tmp_path / "b.jsonl"
    f.write_text('{"id": 1, "tags": ["a", "b"], "meta": {"k": 1}}\n{"id": 2, "tags": [], "meta": null}\n')
    run(cfg, [schema_msg("n", props, ["id"]), _batch_msg("n", "jsonl", "none", [f])])
    rows = rows_by(cfg, "n")
    assert json.loads(rows[1]["tags"]) == ["a", "b"] and json.loads(rows[1]["meta"]) == {"k": 1}
    assert rows[2]["meta"] is None


def test_key_change_mid_stream_merges_on_the_new_key(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    props = {"id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"}}
    run(
        cfg,
        [
            schema_msg("people", props, ["id"]),
            record_msg("people", {"id": 1, "email": "a@x", "name": "A"}, "2024-01-01T00:00:00Z"),
            schema_msg("people", props, ["email"]),
            record_msg("people", {"id": 2, "email": "a@x", "name": "A2"}, "2024-01-02T00:00:00Z"),
            record_msg("people", {"id": 3, "email": "b@x", "name": "B"}, "2024-01-02T00:00:00Z"),
        ],
    )
    rows = rows_by(cfg, "people", "email")
    assert {k: (r["id"], r["name"]) for k, r in rows.items()} == {"a@x": (2, "A2"), "b@x": (3, "B")}


def test_ledger_lives_in_the_target_schema(tmp_path: Path) -> None:
    cfg = config(tmp_path, schema="Finance")
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _rec(1, "1.00")])
    assert (tmp_path / "lake" / "main" / "finance" / "_ml_connector_loads" / "_delta_log").is_dir()
    entries = engine(cfg).ledger_read()
    assert [e.status for e in entries] == ["staged", "committed"]
    assert (
        entries[1].table == "main.finance.lines"
        and entries[1].rows == 1
        and entries[1].duration_ms is not None
    )


def test_batch_file_extraction_times_order_the_upsert(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    newer = pa.table(
        {
            "id": pa.array([1], pa.int64()),
            "amount": pa.array([Decimal("2.00")], pa.decimal128(38, 9)),  # tap-datev's default decimal
            "_sdc_extracted_at": pa.array(["2024-06-02T00:00:00Z"]),
        }
    )
    older = newer.set_column(1, "amount", pa.array([Decimal("1.00")], pa.decimal128(38, 9))).set_column(
        2, "_sdc_extracted_at", pa.array(["2024-06-01T00:00:00Z"])
    )
    f_new, f_old = tmp_path / "new.parquet", tmp_path / "old.parquet"
    pq.write_table(newer, f_new)
    pq.write_table(older, f_old)
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _batch_msg("lines", "parquet", "none", [f_new])])
    run(
        cfg, [schema_msg("lines", PROPS, ["id"]), _batch_msg("lines", "parquet", "none", [f_old])]
    )  # late replay
    row = rows_by(cfg, "lines")[1]
    assert row["amount"] == Decimal("2.00")
    assert row["_sdc_extracted_at"].isoformat() == "2024-06-02T00:00:00+00:00"


def test_upsert_with_string_keys_containing_quotes(tmp_path: Path) -> None:
    cfg = config(tmp_path, batch_size_rows=2)
    props = {"code": {"type": "string"}, "n": {"type": "integer"}}
    codes = ["O'Brien", "a", "z''", "Ä"]
    first = [record_msg("k", {"code": c, "n": 1}, "2024-01-01T00:00:00Z") for c in codes]
    second = [record_msg("k", {"code": c, "n": 2}, "2024-01-02T00:00:00Z") for c in codes[:2]]
    run(cfg, [schema_msg("k", props, ["code"]), *first, *second])
    assert {k: r["n"] for k, r in rows_by(cfg, "k", "code").items()} == {
        "O'Brien": 2,
        "a": 2,
        "z''": 1,
        "Ä": 1,
    }


def test_two_streams_conforming_to_one_table_is_an_error(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with pytest.raises(Exception, match="'BookingLines' and 'booking lines' both conform to table"):
        run(cfg, [schema_msg("BookingLines", PROPS, ["id"]), schema_msg("booking lines", PROPS, ["id"])])


def test_batch_jsonl_with_mixed_types_falls_back_per_line(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    f = tmp_path / "mixed.jsonl"
    # "text" is a string column but one line has a number; amount comes as a JSON number once.
    f.write_text(
        '{"id": 1, "amount": "1.10", "text": "a", "_sdc_extracted_at": "2024-01-01T00:00:00Z"}\n'
        '{"id": 2, "amount": 2.25, "text": 42}\n'
    )
    run(cfg, [schema_msg("lines", PROPS, ["id"]), _batch_msg("lines", "jsonl", "none", [f])])
    rows = rows_by(cfg, "lines")
    assert rows[1]["text"] == "a" and rows[2]["text"] == "42"
    assert rows[2]["amount"] == Decimal("2.25")
    assert rows[1]["_sdc_extracted_at"].isoformat() == "2024-01-01T00:00:00+00:00"


def test_plain_streams_take_the_short_record_path_and_mapped_ones_the_sdks(tmp_path: Path) -> None:
    msgs = [schema_msg("lines", PROPS, ["id"]), _rec(1, "1.00"), _rec(1, "2.00"), _rec(2, "3.00")]
    plain = run(config(tmp_path / "plain"), msgs)
    assert plain._plain_sinks["lines"][2] is not None
    assert {k: r["amount"] for k, r in rows_by(config(tmp_path / "plain"), "lines").items()} == {
        1: Decimal("2.00"),
        2: Decimal("3.00"),
    }
    # A stream map (alias + a computed property) goes through singer-sdk's own record path.
    maps = {"lines": {"__alias__": "renamed", "twice": "id * 2"}}
    mapped_cfg = config(tmp_path / "mapped", stream_maps=maps)
    mapped = run(mapped_cfg, msgs)
    assert mapped._plain_sinks["lines"][2] is None
    rows = rows_by(mapped_cfg, "renamed")
    # (the SDK types a computed property loosely: it lands as JSON text)
    assert {k: (r["amount"], r["twice"]) for k, r in rows.items()} == {
        1: (Decimal("2.00"), "2"),
        2: (Decimal("3.00"), "4"),
    }
    # Per-record validation (validate_records) also keeps the SDK's path.
    checked = run(config(tmp_path / "checked", validate_records=True), msgs)
    assert checked._plain_sinks["lines"][2] is None


@pytest.mark.parametrize("key", ["1st", "null", "true", "order"])
def test_key_names_the_merge_predicate_must_quote(tmp_path: Path, key: str) -> None:
    # Conformed names may still be SQL words or start with a digit; delta-rs parses the predicate.
    cfg = config(tmp_path)
    props = {key: {"type": "integer"}, "false": {"type": ["string", "null"]}}
    msgs = [
        schema_msg("lines", props, [key]),
        record_msg("lines", {key: 1, "false": "old"}, "2024-01-01T00:00:00Z"),
        record_msg("lines", {key: 2, "false": "two"}, "2024-01-01T00:00:00Z"),
    ]
    run(cfg, msgs)
    run(cfg, [*msgs[:1], record_msg("lines", {key: 1, "false": "new"}, "2024-01-02T00:00:00Z")])
    assert {k: r["false"] for k, r in rows_by(cfg, "lines", key).items()} == {1: "new", 2: "two"}


def test_local_commit_is_at_most_once_per_table_and_load_id(tmp_path: Path) -> None:
    # delta-rs records the application transaction (<table id>.<load id>, version = attempt) but
    # does not enforce it: the engine checks DeltaTable.transaction_version before every commit.
    from target_databricks.engines.base import Applied, Load
    from target_databricks.schema import plan_stream

    cfg = config(tmp_path)
    eng = engine(cfg)
    plan = plan_stream(
        "events", {"properties": {"n": {"type": "integer"}}}, [], catalog="main", schema="datev"
    )
    eng.ensure_table(plan.spec)
    data = pa.Table.from_pylist([{"n": 1}, {"n": 2}]).cast(pa.schema([("n", pa.int64())]))
    table_id = eng.table_id(plan.spec.ref)
    load = Load("load-A", "events", plan.spec, "append-only", 2, "", table_id=table_id)
    load = dataclasses.replace(load, staged=eng.stage(load, data))
    assert eng.apply(load) == Applied(2, 2, 0, 0)
    table = DeltaTable(str(eng.table_path(plan.spec.ref)))
    assert table.transaction_version(f"{table_id}.load-A") == 1
    version = table.version()
    # A replay (attempt 2) of the same staged file: not applied again; the counts are the commit's.
    replay = dataclasses.replace(load, attempt=2)
    assert eng.apply(replay) == Applied(2, 2, 0, 0, already=True)
    assert DeltaTable(str(eng.table_path(plan.spec.ref))).version() == version
    assert read(cfg, "events").num_rows == 2

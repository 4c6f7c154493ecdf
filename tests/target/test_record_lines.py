"""RECORD lines of a plain stream are typed by Arrow in chunks, undecoded by Python: what lands must
be exactly what singer-sdk's own record path lands, whatever the lines look like (compact as
singer-sdk taps write them, spaced, keys in another order), across chunks and schema changes; a
value the table cannot hold is still refused naming its line, and nothing of its batch lands."""

from __future__ import annotations

import json
import typing as t
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from cli_testlib import error_line, write_json
from target_testlib import config, read, record_msg, run, run_process, schema_msg, state_msg

from target_databricks import audit
from target_databricks.batches import POSITION_STRIDE, BatchTypeError
from target_databricks.engines.local import LocalEngine
from target_databricks.record_lines import CHUNK_ROWS

PROPS: dict[str, t.Any] = {
    "id": {"type": "integer"},
    "qty": {"type": ["integer", "null"]},
    "ratio": {"type": ["number", "null"]},
    "amount": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2},
    "paid": {"type": ["boolean", "null"]},
    "booked_on": {"type": ["string", "null"], "format": "date"},
    "changed_at": {"type": ["string", "null"], "format": "date-time"},
    "text": {"type": ["string", "null"]},
}
# Columns the target fills per batch (when it ran), not from the input.
BATCH_COLUMNS = ("_sdc_received_at", "_sdc_batched_at", "_sdc_sequence", "_ml_load_id")


def _records() -> list[dict[str, t.Any]]:
    return [
        {
            "id": 1,
            "qty": 3,
            "ratio": 0.1,
            "amount": "12.30",
            "paid": True,
            "booked_on": "2024-02-29",
            "changed_at": "2024-03-01T12:00:00+01:00",
            "text": 'Überweisung "Müller" \\ 😀',
        },
        {
            "id": 2,
            "qty": None,
            "ratio": 3,
            "amount": "-0.01",
            "paid": False,
            "changed_at": "2024-03-01 08:00:00",
        },
        {"id": 3, "text": "", "unknown": {"nested": [1, 2]}, "_sdc_deleted_at": "2024-03-02T00:00:00Z"},
        {"id": 4, "ratio": 1e-7, "amount": "99999999999.99", "booked_on": None, "changed_at": None},
    ]


def _messages() -> list[dict[str, t.Any]]:
    """Records around a schema change (a new column), with and without time_extracted and version."""
    widened = {**PROPS, "note": {"type": ["string", "null"]}}
    records = _records()
    return [
        schema_msg("lines", PROPS, ["id"]),
        record_msg("lines", records[0], "2024-03-01T00:00:00Z", version=7),
        record_msg("lines", records[1]),
        state_msg({"bookmark": 2}),
        schema_msg("lines", widened, ["id"]),
        record_msg("lines", {**records[2], "note": "n"}, "2024-03-02T00:00:00Z"),
        record_msg("lines", records[3], "2024-03-02T00:00:00+02:00", version=8),
    ]


def _compact(messages: list[dict[str, t.Any]]) -> str:
    """As singer-sdk taps write lines: no spaces, `type`, `stream`, `record` first, UTF-8 as is."""
    return "".join(json.dumps(m, separators=(",", ":"), ensure_ascii=False) + "\n" for m in messages)


def _spaced(messages: list[dict[str, t.Any]]) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


def _reordered(messages: list[dict[str, t.Any]]) -> str:
    return "".join(json.dumps(dict(reversed(list(m.items())))) + "\n" for m in messages)


def _landed(cfg: dict[str, t.Any]) -> pa.Table:
    table = read(cfg, "lines")
    return table.drop_columns(list(BATCH_COLUMNS)).sort_by("id")


@pytest.mark.parametrize("form", [_compact, _spaced, _reordered], ids=["compact", "spaced", "reordered"])
def test_record_lines_land_as_singer_sdks_record_path_lands_them(
    tmp_path: Path, form: t.Callable[[list[dict[str, t.Any]]], str]
) -> None:
    # validate_records sends every record through singer-sdk's own path: the reference.
    reference_cfg = config(tmp_path / "sdk", validate_records=True)
    run(reference_cfg, _spaced(_messages()))
    cfg = config(tmp_path / "lines")
    target = run(cfg, form(_messages()))
    assert target._plain_sinks["lines"][2] is not None  # the short path was taken

    landed, reference = _landed(cfg), _landed(reference_cfg)
    assert landed.schema == reference.schema
    assert landed.to_pylist() == reference.to_pylist()
    rows = {r["id"]: r for r in landed.to_pylist()}
    assert rows[1]["amount"] == Decimal("12.30") and rows[4]["amount"] == Decimal("99999999999.99")
    assert rows[1]["text"] == 'Überweisung "Müller" \\ 😀' and rows[3]["text"] == ""
    assert rows[2]["changed_at"].isoformat() == "2024-03-01T08:00:00+00:00"  # naive is UTC
    assert rows[1]["changed_at"].isoformat() == "2024-03-01T11:00:00+00:00"
    assert (rows[1]["_sdc_table_version"], rows[2]["_sdc_table_version"]) == (7, None)
    assert rows[3]["_sdc_deleted_at"].isoformat() == "2024-03-02T00:00:00+00:00"
    assert rows[3]["note"] == "n" and rows[1]["note"] is None
    assert [rows[i]["_ml_position"] // POSITION_STRIDE for i in (1, 2, 3, 4)] == [2, 3, 6, 7]
    assert landed.schema.field("ratio").type == pa.float64() and rows[4]["ratio"] == 1e-7


def test_the_same_records_get_the_same_load_ids_on_both_paths(tmp_path: Path) -> None:
    # A re-fed batch must be recognised whichever path typed it (the ledger dedupes by load id).
    ids = []
    for name, extra in (("lines", {}), ("sdk", {"validate_records": True})):
        cfg = config(tmp_path / name, **extra)
        run(cfg, _compact(_messages()))
        ids.append(sorted(audit.current_loads(LocalEngine(cfg).ledger_read())))
    assert ids[0] == ids[1] and len(ids[0]) == 2


def test_batches_larger_than_a_chunk_land_whole_and_in_order(tmp_path: Path) -> None:
    n = 2 * CHUNK_ROWS + 7
    cfg = config(tmp_path, batch_size_rows=CHUNK_ROWS + 3)  # batch ends fall inside chunks
    messages = [schema_msg("lines", PROPS, ["id"])]
    messages += [record_msg("lines", {"id": i, "amount": f"{i}.01", "qty": i}) for i in range(n)]
    run(cfg, _compact(messages))
    table = read(cfg, "lines")
    assert table.num_rows == n
    assert sum(table.column("amount").to_pylist()) == sum(Decimal(f"{i}.01") for i in range(n))
    by_id = dict(zip(table.column("id").to_pylist(), table.column("_ml_position").to_pylist(), strict=True))
    assert all(by_id[i] == (i + 2) * POSITION_STRIDE for i in range(n))
    assert len(audit.current_loads(LocalEngine(cfg).ledger_read())) == 3


def test_a_bad_value_in_a_later_chunk_names_its_line_and_nothing_of_its_batch_lands(tmp_path: Path) -> None:
    n = CHUNK_ROWS + 50
    bad_line = CHUNK_ROWS + 30  # in the batch's second chunk
    cfg = config(tmp_path, batch_size_rows=n)
    messages: list[dict[str, t.Any]] = [schema_msg("lines", PROPS, ["id"])]
    messages += [record_msg("lines", {"id": i, "amount": "1.00"}) for i in range(n + 5)]
    messages[bad_line - 1] = record_msg("lines", {"id": 0, "amount": "1.005"})
    with pytest.raises(BatchTypeError) as info:
        run(cfg, _compact(messages))
    assert str(info.value).startswith(
        f"stream lines line {bad_line}: amount '1.005' has 3 decimals; column amount is DECIMAL(15,2)"
    )
    assert read(cfg, "lines").num_rows == 0


def test_a_missing_key_in_a_compact_line_names_its_line(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    messages = [schema_msg("lines", PROPS, ["id"]), record_msg("lines", {"id": 1}), record_msg("lines", {})]
    input_path = tmp_path / "in.singer"
    input_path.write_text(_compact([*messages, state_msg({"bookmark": 3})]))
    result = run_process(write_json(tmp_path / "c.json", cfg), input_path)
    error_line(result, "stream lines line 3: key property 'id' is null or missing")
    assert read(cfg, "lines").num_rows == 0
    assert "bookmark" not in result.stdout


def test_numbers_for_a_decimal_column_stay_exact(tmp_path: Path) -> None:
    # JSON numbers are no text Arrow can cast: such lines are decoded, numbers as Decimal, never float.
    props = {"id": {"type": "integer"}, "amount": {"type": "number", "multipleOf": 0.01}}
    cfg = config(tmp_path)
    lines = [_compact([schema_msg("lines", props, ["id"])])]
    lines += ['{"type":"RECORD","stream":"lines","record":{"id":1,"amount":0.1}}\n']
    lines += ['{"type":"RECORD","stream":"lines","record":{"id":2,"amount":12345678901234567.89}}\n']
    lines += ['{"type":"RECORD","stream":"lines","record":{"id":3,"amount":"0.30"}}\n']
    run(cfg, "".join(lines))
    table = read(cfg, "lines").sort_by("id")
    assert table.column("amount").to_pylist() == [
        Decimal("0.10"),
        Decimal("12345678901234567.89"),
        Decimal("0.30"),
    ]


def test_a_record_line_that_is_no_json_is_refused_and_nothing_of_its_batch_lands(tmp_path: Path) -> None:
    cfg = config(tmp_path, batch_size_rows=2)
    good = _compact(
        [
            schema_msg("lines", PROPS, ["id"]),
            record_msg("lines", {"id": 1}),
            record_msg("lines", {"id": 2}),
            state_msg({"bookmark": "after-2"}),
            record_msg("lines", {"id": 3}),
        ]
    )
    input_path = tmp_path / "in.singer"
    input_path.write_text(good + '{"type":"RECORD","stream":"lines","record":{"id":4,\n')
    result = run_process(write_json(tmp_path / "c.json", cfg), input_path)
    assert result.returncode != 0
    # One ERROR line naming the input line and showing it; no traceback (singer-sdk's reader logs one).
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert "input line 6 is not a JSON Singer message" in errors[0] and '"id":4,' in errors[0]
    assert "Traceback" not in result.stderr
    assert sorted(read(cfg, "lines").column("id").to_pylist()) == [1, 2]  # the earlier batch, intact


def test_a_broken_state_line_is_one_error_line_naming_it(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    input_path = tmp_path / "in.singer"
    input_path.write_text(_compact([schema_msg("lines", PROPS, ["id"])]) + '{"type": "STATE", "value": \n')
    result = run_process(write_json(tmp_path / "c.json", cfg), input_path)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    assert "input line 2 is not a JSON Singer message (Input data was truncated)" in errors[0]
    assert '{"type": "STATE", "value":' in errors[0]
    assert "Traceback" not in result.stderr

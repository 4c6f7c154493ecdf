"""Records the table cannot hold are refused: a null or missing key, a value that does not fit its
column. The process ends with one ERROR line naming stream, input line (or BATCH file and row),
property, value and column type; nothing of that batch is written, earlier batches stay, and no
STATE past the refused record is emitted."""

from __future__ import annotations

import json
import typing as t
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_testlib import error_line, write_json, write_lines
from target_testlib import config, read, record_msg, run, run_process, schema_msg, state_msg

from target_databricks.batches import BatchTypeError, KeyPropertyMissingError

ORDERS = {
    "id": {"type": ["integer", "null"]},
    "total": {"type": "string", "format": "x-singer.decimal", "precision": 38, "scale": 2},
}


def _orders(tmp_path: Path, refused: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """Two good records (one full batch of 2), STATE, then the refused record, one more, STATE."""
    return [
        schema_msg("orders", ORDERS, ["id"]),
        record_msg("orders", {"id": 1, "total": "1.00"}),
        record_msg("orders", {"id": 2, "total": "2.00"}),
        state_msg({"bookmark": "after-2"}),
        record_msg("orders", refused),  # line 5
        record_msg("orders", {"id": 4, "total": "4.00"}),
        state_msg({"bookmark": "after-4"}),
    ]


@pytest.mark.parametrize(
    "refused", [{"id": None, "total": "3.00"}, {"total": "3.00"}], ids=["null-key", "missing-key"]
)
def test_a_record_without_its_key_is_refused_and_nothing_of_its_batch_lands(
    tmp_path: Path, refused: dict[str, t.Any]
) -> None:
    cfg = config(tmp_path, batch_size_rows=2)
    result = run_process(
        write_json(tmp_path / "c.json", cfg), write_lines(tmp_path / "in.singer", _orders(tmp_path, refused))
    )
    error_line(result, "stream orders line 5: key property 'id' is null or missing")
    table = read(cfg, "orders")
    assert sorted(table.column("id").to_pylist()) == [1, 2]  # the earlier batch, intact
    assert sum(table.column("total").to_pylist()) == Decimal("3.00")
    assert "after-4" not in result.stdout


def test_a_null_key_in_a_batch_file_names_file_and_row(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    path = tmp_path / "orders.parquet"
    pq.write_table(pa.table({"id": pa.array([1, None, 3], pa.int64()), "total": ["1", "2", "3"]}), path)
    batch = {
        "type": "BATCH",
        "stream": "orders",
        "encoding": {"format": "parquet", "compression": "none"},
        "manifest": [path.as_uri()],
    }
    with pytest.raises(BatchTypeError) as info:
        run(cfg, [schema_msg("orders", ORDERS, ["id"]), batch])
    assert f"stream orders line 2: BATCH file {path.as_uri()} row 2: key property 'id'" in str(info.value)
    assert read(cfg, "orders").num_rows == 0


def test_a_value_error_is_one_line_naming_stream_line_value_and_column_type(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    messages = [
        schema_msg("orders", ORDERS, ["id"]),
        record_msg("orders", {"id": 1, "total": "1.00"}),
        record_msg("orders", {"id": 2, "total": "1.005"}),
        state_msg({"bookmark": "b"}),
    ]
    result = run_process(write_json(tmp_path / "c.json", cfg), write_lines(tmp_path / "in.singer", messages))
    line = error_line(
        result, "stream orders line 3: total '1.005' has 3 decimals; column total is DECIMAL(38,2)"
    )
    assert "Rescaling" not in line
    assert read(cfg, "orders").num_rows == 0
    assert "bookmark" not in result.stdout


PROPS = {
    "id": {"type": "integer"},
    "qty": {"type": ["integer", "null"]},
    "price": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 6, "scale": 2},
    "paid": {"type": ["boolean", "null"]},
    "booked_at": {"type": ["string", "null"], "format": "date-time"},
    "booked_on": {"type": ["string", "null"], "format": "date"},
}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"qty": "three"}, "qty 'three' is not an integer in BIGINT's range; column qty is BIGINT"),
        ({"qty": 2**70}, f"qty '{2**70}' is not an integer in BIGINT's range"),
        ({"price": "12,50"}, "price '12,50' is not a decimal number; column price is DECIMAL(6,2)"),
        ({"price": "12345.5"}, "price '12345.5' has 5 digits before the decimal point"),
        ({"paid": "maybe"}, "paid 'maybe' is not a boolean (true/false); column paid is BOOLEAN"),
        ({"booked_at": "yesterday"}, "booked_at 'yesterday' is not an ISO 8601 date-time"),
        ({"booked_on": "31.01.2024"}, "'31.01.2024' is not an ISO 8601 date; column booked_on is DATE"),
        ({"qty": "x" * 100}, "qty '" + "x" * 40 + "...' is not an integer"),  # shortened
    ],
)
def test_value_errors_say_what_does_not_fit(tmp_path: Path, record: dict[str, t.Any], expected: str) -> None:
    cfg = config(tmp_path)
    messages = [
        schema_msg("sales", PROPS, ["id"]),
        record_msg("sales", {"id": 1, "qty": 1, "price": "1.00"}),
        record_msg("sales", {"id": 2, **record}),
    ]
    with pytest.raises(BatchTypeError) as info:
        run(cfg, messages)
    message = str(info.value)
    assert message.startswith("stream sales line 3: "), message
    assert expected in message
    assert "<class" not in message and "ConversionSyntax" not in message


def test_a_bad_value_in_a_jsonl_batch_file_names_file_and_row(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    path = tmp_path / "sales.jsonl"
    rows = [{"id": 1, "price": "1.00"}, {"id": 2, "price": 3}, {"id": 3, "price": "abc"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    batch = {
        "type": "BATCH",
        "stream": "sales",
        "encoding": {"format": "jsonl", "compression": "none"},
        "manifest": [path.as_uri()],
    }
    with pytest.raises(BatchTypeError) as info:
        run(cfg, [schema_msg("sales", PROPS, ["id"]), batch])
    assert f"BATCH file {path.as_uri()} row 3: price 'abc' is not a decimal number" in str(info.value)
    assert "<class" not in str(info.value)


def test_the_sdks_record_path_refuses_a_missing_key_with_its_line_too(tmp_path: Path) -> None:
    # validate_records sends records through singer-sdk's own path (not the target's short one).
    cfg = config(tmp_path, validate_records=True)
    messages = [
        schema_msg("orders", ORDERS, ["id"]),
        record_msg("orders", {"id": 1, "total": "1.00"}),
        record_msg("orders", {"total": "2.00"}),
    ]
    with pytest.raises(KeyPropertyMissingError) as info:
        run(cfg, messages)
    assert str(info.value).startswith("stream orders line 3: key property 'id' is null or missing")
    assert read(cfg, "orders").num_rows == 0

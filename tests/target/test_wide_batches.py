"""Wide records (tap-datev's booking_lines: ~145 columns, ~3.9 KB a line) are bounded in memory by
input size as well as rows: a batch of RECORD lines drains at `batch_size_bytes` of input (default
64 MiB), and its lines are typed in chunks of at most CHUNK_CHARS. What lands is the same whatever
the bounds: every row with its values and types, in order, each batch one load."""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pyarrow as pa
import pytest
from target_testlib import config, read, record_msg, run, schema_msg, state_msg

from target_databricks import audit, record_lines
from target_databricks.batches import POSITION_STRIDE
from target_databricks.engines.local import LocalEngine
from target_databricks.settings import DEFAULT_BATCH_SIZE_BYTES

# Most of a wide record is null or empty, as in booking_lines.
PROPS: dict[str, t.Any] = {
    "id": {"type": "integer"},
    "amount": {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2},
    **{f"field_{i:03d}": {"type": ["string", "null"]} for i in range(140)},
}
ROWS = 300
# Columns the target fills per batch (when it ran, which load), not from the input.
BATCH_COLUMNS = ("_sdc_received_at", "_sdc_batched_at", "_sdc_sequence", "_ml_load_id")


def _lines() -> list[str]:
    messages = [schema_msg("lines", PROPS, ["id"])]
    for i in range(ROWS):
        record = dict.fromkeys(PROPS) | {"id": i, "amount": f"{i}.05", "field_007": f"text {i}"}
        messages.append(record_msg("lines", record, "2024-03-01T00:00:00Z"))
    messages.append(state_msg({"bookmark": ROWS}))
    return [json.dumps(m, separators=(",", ":")) + "\n" for m in messages]


def _batches_at(limit: int, lines: list[str]) -> int:
    """How many batches the RECORD lines make when a batch drains at `limit` characters."""
    batches, chars = 0, 0
    for line in lines[1:-1]:
        chars += len(line)
        if chars >= limit:
            batches, chars = batches + 1, 0
    return batches + (chars > 0)


def _landed(cfg: dict[str, t.Any]) -> pa.Table:
    return read(cfg, "lines").sort_by("id")


@pytest.mark.parametrize("limit", [50_000, 200_000], ids=["many-batches", "few-batches"])
def test_a_batch_drains_at_its_size_in_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    lines = _lines()
    reference = config(tmp_path / "whole", batch_size_rows=10_000)
    run(reference, "".join(lines))

    monkeypatch.setattr(record_lines, "CHUNK_CHARS", 7_000)  # chunks end inside batches
    cfg = config(tmp_path / "bounded", batch_size_rows=10_000, batch_size_bytes=limit)
    run(cfg, "".join(lines))

    loads = audit.current_loads(LocalEngine(cfg).ledger_read())
    assert len(loads) == _batches_at(limit, lines) > 1
    assert len(audit.current_loads(LocalEngine(reference).ledger_read())) == 1
    landed, whole = _landed(cfg), _landed(reference)
    assert landed.num_rows == ROWS
    assert landed.schema == whole.schema
    assert landed.schema.field("amount").type == pa.decimal128(15, 2)
    columns = [c for c in whole.column_names if c not in BATCH_COLUMNS]
    assert landed.select(columns).to_pylist() == whole.select(columns).to_pylist()
    rows = landed.to_pylist()
    assert [r["_ml_position"] // POSITION_STRIDE for r in rows] == list(range(2, ROWS + 2))
    assert str(rows[17]["amount"]) == "17.05" and rows[17]["field_007"] == "text 17"
    assert rows[17]["field_008"] is None


def test_a_batch_under_the_size_is_one_load_as_before(tmp_path: Path) -> None:
    # Narrow batches keep their boundaries (and so their load ids): only rows end them.
    lines = _lines()
    assert sum(len(line) for line in lines) < DEFAULT_BATCH_SIZE_BYTES
    cfg = config(tmp_path, batch_size_rows=120)
    run(cfg, "".join(lines))
    assert len(audit.current_loads(LocalEngine(cfg).ledger_read())) == 3
    assert read(cfg, "lines").num_rows == ROWS

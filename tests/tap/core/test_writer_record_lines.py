"""DatevMessageWriter.write_record: a RECORD line with no RecordMessage built, byte for byte what
writing the RecordMessage gives (its time aside), which leaves before the next message of any kind."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage
from stdout_sink import Sink

from tap_datev.message_writer import BLOCK_BYTES, DatevMessageWriter

RECORD = {
    "umsatz": "99999999.99",
    "exact": Decimal("12345678901234.56"),
    "konto": 70001,
    "buchungstext": 'Bewirtung „Kunde“; "Zitat" € Müller\n',
    "is_general_reversal": True,
    "belegdatum": dt.date(2026, 3, 1),
    "extra": None,
}


def _stdout(sink: Sink) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BufferedWriter(sink, buffer_size=1 << 20), encoding="utf-8")


@pytest.mark.parametrize("version", [None, 1764520000])
@pytest.mark.parametrize("stream", ["booking_lines", 'odd "name" ü'])
def test_the_same_bytes_as_the_record_message(stream: str, version: int | None) -> None:
    sink = Sink()
    stdout = _stdout(sink)
    writer = DatevMessageWriter()
    with contextlib.redirect_stdout(stdout):
        before = dt.datetime.now(dt.UTC)
        writer.write_record(stream, RECORD, version)
        writer.write_block()
        after = dt.datetime.now(dt.UTC)
    stdout.flush()
    (line,) = bytes(sink.landed).splitlines()
    written = json.loads(line)
    extracted = dt.datetime.fromisoformat(written["time_extracted"])
    assert before <= extracted <= after
    message = RecordMessage(stream=stream, record=RECORD, version=version, time_extracted=extracted)
    assert line + b"\n" == bytes(MsgSpecWriter().format_message(message))
    assert list(written) == ["type", "stream", "record", *(["version"] if version else []), "time_extracted"]


def test_records_leave_in_order_before_the_next_message() -> None:
    sink = Sink()
    stdout = _stdout(sink)
    writer = DatevMessageWriter()
    with contextlib.redirect_stdout(stdout):
        writer.write_message(SchemaMessage(stream="s", schema={"properties": {}}, key_properties=[]))
        for n in range(3):
            writer.write_record("s", {"n": n}, None)
        stdout.flush()
        assert sink.landed.count(b"\n") == 1  # the three RECORDs wait in the writer's block
        writer.write_message(RecordMessage(stream="s", record={"n": 3}))
        writer.write_record("s", {"n": 4}, None)
        writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 4}}}))
        landed = [json.loads(line) for line in sink.landed.decode("utf-8").splitlines()]
    assert [m["type"] for m in landed] == ["SCHEMA", *["RECORD"] * 5, "STATE"]
    assert [m["record"]["n"] for m in landed if m["type"] == "RECORD"] == list(range(5))


def test_a_full_block_is_written_and_text_stdout_gets_the_same_lines() -> None:
    sink = Sink()
    stdout = _stdout(sink)
    text = io.StringIO()
    big = {"text": "x" * 1000}
    count = BLOCK_BYTES // 1000 + 1  # more than one block's worth
    for out in (stdout, text):
        writer = DatevMessageWriter()
        with contextlib.redirect_stdout(out):
            for _ in range(count):
                writer.write_record("s", big, None)
            out.flush()
            if out is stdout:
                assert sink.landed  # a full block went out without waiting for another message
            writer.write_block()
            out.flush()
    lines = [json.loads(line) for line in sink.landed.decode("utf-8").splitlines()]
    assert [m["record"] for m in lines] == [big] * count
    assert [json.loads(line)["record"] for line in text.getvalue().splitlines()] == [big] * count

"""The tap's Singer writer (singer-sdk's msgspec writer): same messages as the SDK's default
writer, exact decimals, and usable whether stdout is a real (binary-backed) stream or a StringIO."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import sys
from decimal import Decimal

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import RecordMessage, SchemaMessage

from tap_datev.booking_streams import BookingLinesStream
from tap_datev.tap import DatevMessageWriter, TapDatev

RECORD = {
    "umsatz": "99999999.99",
    "kurs": "1.076000",
    "account_amount_eur": "-0.10",
    "exact": Decimal("12345678901234.56"),  # a Decimal would stay exact too (no float detour)
    "konto": 70001,
    "buchungstext": 'Bewirtung „Kunde“; "Zitat" € Müller',
    "is_general_reversal": True,
    "extra": None,
}
MESSAGES = [
    SchemaMessage(stream="booking_lines", schema={"type": "object", "properties": {}}, key_properties=["x"]),
    RecordMessage(
        stream="booking_lines",
        record=RECORD,
        time_extracted=dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC),
    ),
]


def _lines(writer: object, out: io.TextIOBase) -> list[dict[str, object]]:
    with contextlib.redirect_stdout(out):
        for message in MESSAGES:
            writer.write_message(message)  # type: ignore[attr-defined]
    text = out.getvalue() if isinstance(out, io.StringIO) else out.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    return [json.loads(line, parse_float=Decimal) for line in text.splitlines()]


def test_the_tap_writes_with_the_msgspec_writer() -> None:
    assert TapDatev.message_writer_class is DatevMessageWriter


def test_same_messages_as_the_default_writer_with_exact_decimals() -> None:
    ours = _lines(DatevMessageWriter(), io.StringIO())
    default = _lines(SingerWriter(), io.StringIO())
    # msgspec writes an aware UTC datetime with "Z", simplejson with "+00:00": the same instant.
    assert ours[1].pop("time_extracted") == "2026-03-01T12:00:00Z"
    assert dt.datetime.fromisoformat(str(default[1].pop("time_extracted"))) == dt.datetime(
        2026, 3, 1, 12, 0, tzinfo=dt.UTC
    )
    assert ours == default
    record = ours[1]["record"]
    assert isinstance(record, dict)
    assert record["umsatz"] == "99999999.99" and record["account_amount_eur"] == "-0.10"
    assert record["exact"] == Decimal("12345678901234.56")
    assert record["buchungstext"] == RECORD["buchungstext"]


def test_binary_stdout_gets_utf8_bytes() -> None:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    lines = _lines(DatevMessageWriter(), out)
    assert lines[1]["record"] == _lines(SingerWriter(), io.StringIO())[1]["record"]
    assert sys.stdout is not out  # redirect restored


def test_booking_lines_skip_the_sdk_conformance_pass() -> None:
    # Safe only because the parser emits schema-typed values; the booking tests validate every
    # emitted record against the schema (TapRun.assert_records_match_schemas).
    assert BookingLinesStream.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE

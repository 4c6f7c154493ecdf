"""The tap's Singer writer: singer-sdk's msgspec encoding, and RECORD lines written a block at a time.

`write_message` writes any message as singer-sdk's msgspec writer encodes it. `write_record` is the
hot path of record_messages.py: one msgspec Struct laid out as RecordMessage.to_dict() is encoded
straight into the pending block (no RecordMessage, no dict per message); the block is written when
it is full, before any other message and when the stream's record loop ends.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib import SingerMessageType
from typing_extensions import override

#: Pending RECORD bytes that make one write: a few dozen booking lines.
BLOCK_BYTES = 1 << 16


class RecordLine(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="type", tag="RECORD"):
    """A RECORD message as RecordMessage.to_dict() has it: "type" first, then the fields in this
    order, "version" only when set."""

    stream: str
    record: t.Mapping[str, t.Any]
    version: int | None = None
    time_extracted: dt.datetime


class DatevMessageWriter(MsgSpecWriter):
    """singer-sdk's msgspec writer: about 1.8x the records/s of the default simplejson writer on
    booking_lines (bench/bench_tap.py). Exact decimals are kept: money and rates are strings in
    every schema, and a Decimal would be written as its exact JSON number by either writer.

    Writes bytes to stdout's binary buffer; falls back to text when stdout has none (a redirect to
    a StringIO, as tests and embedding code do). RECORDs leave with a full buffer or with the next
    other message: a flush per record was a write(2) per record, and every STATE still goes out at
    once, after the records it covers. Lines of `write_record` wait in the writer's own block
    (BLOCK_BYTES) until it is full, another message comes or the record loop calls `write_block`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._block = bytearray()

    @override
    def write_message(self, message: t.Any) -> None:
        if self._block:
            self.write_block()  # the records written before it go first
        _write_stdout(self.format_message(message))
        if message.type != SingerMessageType.RECORD:
            sys.stdout.flush()

    def write_record(self, stream: str, record: t.Mapping[str, t.Any], version: int | None) -> None:
        """One RECORD line into the pending block, byte for byte what `write_message` makes of
        RecordMessage(stream, record, version, time_extracted=now). The caller ends its run of
        records with `write_block`."""
        block = self._block
        line = RecordLine(
            stream=stream, record=record, version=version, time_extracted=dt.datetime.now(dt.UTC)
        )
        encoder.encode_into(line, block, -1)  # -1: append
        block += b"\n"
        if len(block) >= BLOCK_BYTES:
            self.write_block()

    def write_block(self) -> None:
        """Writes the pending RECORD lines to stdout's buffer (a STATE after them flushes it)."""
        _write_stdout(self._block)
        self._block.clear()


def _write_stdout(data: bytes | bytearray) -> None:
    """Bytes to stdout's binary buffer, or as text where stdout has none (a test's StringIO)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        buffer.write(data)
    else:
        sys.stdout.write(data.decode("utf-8"))

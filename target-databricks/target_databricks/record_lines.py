"""A batch of one stream's RECORD lines, kept as raw JSON and typed by Arrow every CHUNK_ROWS lines
(or CHUNK_CHARS characters, whichever comes first).

A batch never holds a Python dict per record (about 1.3 KiB each): memory stays bounded by the
chunk, and Arrow's JSON reader decodes and types each chunk in C. Lines Arrow cannot read as their
columns' JSON types are decoded like any message and typed by batches.records_to_table, which also
names a value that does not fit.
"""

from __future__ import annotations

import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

import msgspec
import pyarrow as pa
from singer_sdk.contrib.msgspec import decoder as singer_decoder

from target_databricks import batches
from target_databricks.errors import InputError

if t.TYPE_CHECKING:
    from target_databricks.schema import StreamPlan

# Lines per Arrow chunk: large enough for Arrow's reader to pay off, small enough to bound memory.
CHUNK_ROWS = 10_000
# ... and characters: a chunk's lines are held twice more while it is typed (joined, encoded), so
# 10,000 of tap-datev's booking lines (~3.8 KB each) would hold ~150 MiB; this holds ~16 MiB.
CHUNK_CHARS = 4 * 2**20

# One thread types chunks while the main thread reads on: Arrow's JSON reader releases the GIL.
_typing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-lines")

# How much of a line that is no JSON the error shows.
SHOWN_CHARS = 200


def decode_message(line: str, line_number: int) -> dict[str, t.Any]:
    """One Singer message line, decoded as singer-sdk's msgspec reader does (numbers exact). A line
    that is no JSON is refused with its input line number in one error line (singer-sdk's reader
    logs a traceback at ERROR first)."""
    try:
        return singer_decoder.decode(line)
    except msgspec.DecodeError as exc:
        text = line.rstrip("\r\n")
        shown = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"
        raise InputError(
            f"input line {line_number} is not a JSON Singer message ({exc}): {shown} -- whatever "
            "writes the target's input (the tap) must send one JSON message per line"
        ) from None


# A RECORD line, with its input line number, as the record dict records_to_table takes.
DecodeRecord = t.Callable[[str, int], dict[str, t.Any]]


class RecordLines:
    def __init__(self, stream: str, plan: StreamPlan, read_schema: pa.Schema, decode: DecodeRecord) -> None:
        self._stream = stream
        self._plan = plan
        self._read_schema = read_schema
        self._decode = decode
        self._lines: list[str] = []
        self._line_numbers: list[int] = []
        self._chars = 0
        self._chunks: list[Future[pa.Table]] = []
        # After one chunk Arrow could not read (e.g. numbers for a decimal), the rest are decoded.
        self._arrow_reads = True

    def add(self, line: str, line_number: int) -> None:
        self._lines.append(line)
        self._line_numbers.append(line_number)
        self._chars += len(line)
        if len(self._lines) >= CHUNK_ROWS or self._chars >= CHUNK_CHARS:
            self._type_chunk()

    def take_table(self) -> pa.Table | None:
        """The batch's lines as one typed table (data and record-level metadata columns); empties."""
        self._type_chunk()
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return None
        # A chunk's error (a value that does not fit, a line that is no JSON) is raised here.
        return pa.concat_tables([chunk.result() for chunk in chunks]).combine_chunks()

    def _type_chunk(self) -> None:
        if not self._lines:
            return
        if self._chunks:
            self._chunks[-1].result()  # one chunk in the works at a time: memory stays bounded
        self._chunks.append(_typing.submit(self._typed, self._lines, self._line_numbers))
        self._lines, self._line_numbers, self._chars = [], [], 0

    def _typed(self, lines: list[str], numbers: list[int]) -> pa.Table:
        table = self._read(lines, numbers) if self._arrow_reads else None
        if table is None:
            records = [self._decode(line, number) for line, number in zip(lines, numbers, strict=True)]
            table = batches.records_to_table(self._stream, self._plan, records)
        return table

    def _read(self, lines: list[str], numbers: list[int]) -> pa.Table | None:
        text = "".join(lines).encode()
        if not text.endswith(b"\n"):  # only the input's last line may lack its newline
            text += b"\n"
        try:
            return batches.record_lines_to_table(self._stream, self._plan, self._read_schema, text, numbers)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            self._arrow_reads = False
            return None

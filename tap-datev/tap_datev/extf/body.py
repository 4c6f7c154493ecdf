"""The data lines of an ordinary EXTF file, kept as the file's bytes and read in blocks. No I/O.

A lenient read (`read_extf`) keeps the lines from line 3 on as bytes when the encoding is plain:
ASCII, Windows-1252 or UTF-8 with its BOM, each writing LF as the one byte 0x0A. The body then splits
into blocks ending at an LF without decoding it: booking_lines reads each block with pyarrow.csv
(extf/booking_columns.py), anything else parses the lines with the csv module on first use. Neither
holds the whole file as text or rows; problems of the lines (a blank line, broken CSV) are reported
as the lines are read.
"""

from __future__ import annotations

import codecs
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

# Bytes Windows-1252 leaves undefined: a file holding one is read the careful way (read.py), which
# names the line and field in its warning.
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_CHECK_SIZE = 1 << 20  # UTF-8 is validated in slices of this size, never decoded whole
# Bytes per block (about 3,000 booking lines; a block ends at the first LF after this many): the
# records of one block are in memory at a time, and per-block costs stay small beside per-line ones.
BLOCK_SIZE = 1 << 20


@dataclass(frozen=True)
class ExtfBody:
    """Lines 3.. of a file as bytes: `data[start:end]`, trailing blank lines left out."""

    data: bytes
    start: int
    end: int
    codec: str  # "ascii", "cp1252" or "utf-8"; each writes LF as the one byte 0x0A

    def blocks(self) -> Iterator[Block]:
        """Consecutive blocks of whole lines; the last may lack its line end."""
        data, pos, end, size = self.data, self.start, self.end, BLOCK_SIZE
        while pos < end:
            cut = data.find(b"\n", min(pos + size, end), end)
            stop = end if cut < 0 else cut + 1
            yield Block(data[pos:stop], self.codec)
            pos = stop

    def lines(self, first_block: int = 0) -> Iterator[str]:
        """The text lines (line ends kept, NFC) from block `first_block` on, as the csv module reads
        a file opened with newline=""."""
        for i, block in enumerate(self.blocks()):
            if i >= first_block:
                yield from io.StringIO(block.text, newline="")


@dataclass
class Block:
    """One block of whole lines of a body."""

    raw: bytes
    codec: str
    normalised: bool = False  # the text differs from the bytes by NFC

    @cached_property
    def text(self) -> str:
        """Decoded and NFC (NFC never crosses a line end, so per block equals per file)."""
        text = self.raw.decode(self.codec)
        if self.codec == "utf-8" and not unicodedata.is_normalized("NFC", text):
            self.normalised = True
            text = unicodedata.normalize("NFC", text)
        return text

    @cached_property
    def utf8(self) -> bytes:
        """The block as NFC UTF-8, what pyarrow.csv reads."""
        if self.codec == "ascii":
            return self.raw
        text = self.text
        return self.raw if self.codec == "utf-8" and not self.normalised else text.encode("utf-8")

    def one_line_per_row(self, rows: int) -> bool:
        """Whether `rows` rows (as pyarrow.csv read them) are the block's lines one to one: no line
        break inside quotes, every line ending in LF or CR LF (a CR alone ends a line for the csv
        module, and would shift the line numbers)."""
        lf = self.raw.count(b"\n")
        if rows != lf + (not self.raw.endswith(b"\n")):
            return False
        return b"\r" not in self.raw or self.raw.count(b"\r") == lf


def plain_codec(data: bytes, start: int, bom_encoding: str | None) -> str | None:
    """The codec of an ordinary file's bytes from `start` (after any BOM), None when the file needs
    the careful read: UTF-16, BOM-less UTF-8 (a warning), bytes the encoding cannot decode."""
    if bom_encoding == "utf-8":
        return "utf-8" if _valid_utf8(data, start) else None
    if bom_encoding is not None:
        return None
    if data.isascii():
        return "ascii"
    if any(b in data for b in _CP1252_UNDEFINED) or _valid_utf8(data, start):
        return None  # undefined in Windows-1252, or UTF-8 without its BOM: warnings to give
    return "cp1252"


def _valid_utf8(data: bytes, start: int) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for pos in range(start, len(data), _CHECK_SIZE):
            decoder.decode(view[pos : pos + _CHECK_SIZE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def body_end(data: bytes, start: int) -> int:
    """End of the lines from `start` without trailing line ends."""
    end = len(data)
    while end > start and data[end - 1] in b"\r\n":
        end -= 1
    return end

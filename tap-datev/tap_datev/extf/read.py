"""Reading EXTF (DATEV-Format) files: bytes in, header + rows out. No I/O.

`read_extf` reads leniently (also older format versions and files DATEV rejected) and raises only when
a file is unreadable; the strict read behind `check_for_submit` (checks.py) turns every problem into an
ExtfError naming the file, line and field. Columns are mapped by position and format version
(extf_columns), never by the names in the column-name row.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple, NoReturn
from zoneinfo import ZoneInfo

from tap_datev.booking_line import ParseError, fiscal_year_end, parse_int
from tap_datev.extf.body import ExtfBody, body_end, plain_codec
from tap_datev.extf_columns import FORMAT_NAMES, Column, columns_for

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

DATEV_TZ = ZoneInfo("Europe/Berlin")  # `Erzeugt am` is the exporting machine's German local time

HEADER_FIELDS: tuple[str, ...] = (
    "Kennzeichen",
    "Versionsnummer",
    "Formatkategorie",
    "Formatname",
    "Formatversion",
    "Erzeugt am",
    "Importiert",
    "Herkunft",
    "Exportiert von",
    "Importiert von",
    "Beraternummer",
    "Mandantennummer",
    "WJ-Beginn",
    "Sachkontenlänge",
    "Datum vom",
    "Datum bis",
    "Bezeichnung",
    "Diktatkürzel",
    "Buchungstyp",
    "Rechnungslegungszweck",
    "Festschreibung",
    "WKZ",
    "reserviert",
    "Derivatskennzeichen",
    "reserviert",
    "reserviert",
    "Sachkontenrahmen",
    "ID der Branchenlösung",
    "reserviert",
    "reserviert",
    "Anwendungsinformation",
)
_MUST_BE_EMPTY = (7, 23, 24, 25, 26, 29, 30)  # 1-based header positions DATEV requires empty
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


class ExtfError(ParseError):
    """A file that cannot be read, or that DATEV would refuse; names file, line and field."""


@dataclass(frozen=True)
class ExtfHeader:
    marker: str
    version: int
    category: int
    format_name: str
    format_version: int
    created_at: datetime | None
    origin: str | None  # Herkunft
    exported_by: str | None
    imported_by: str | None
    consultant_number: int
    client_number: int
    fiscal_year_start: date | None
    account_length: int | None
    date_from: date | None
    date_to: date | None
    label: str | None  # Bezeichnung
    dictation_initials: str | None  # Diktatkürzel
    booking_type: int | None  # 1 Finanzbuchführung, 2 Jahresabschluss
    accounting_purpose: int | None  # Rechnungslegungszweck
    fixed: int | None  # Festschreibung
    currency: str | None  # WKZ
    chart_of_accounts: str | None  # Sachkontenrahmen, e.g. "03"
    industry_solution_id: int | None
    application_info: str | None
    raw: tuple[str, ...]

    @property
    def client_id(self) -> str:
        """DATEV's client id `<consultant>-<client>`, e.g. `29098-55003`."""
        return f"{self.consultant_number}-{self.client_number}"


class DataRows(NamedTuple):
    rows: list[list[str]]  # as the csv module returns them ("" when empty)
    line_numbers: list[int]  # physical line where each row starts (1 = header line)


@dataclass(frozen=True)
class ExtfFile:
    header: ExtfHeader
    column_names: tuple[str, ...]
    encoding: str
    had_bom: bool
    warnings: list[str] = field(default_factory=list)
    filename: str = "<bytes>"
    # The data lines: parsed while reading (strict reads, unusual files), or still the file's bytes
    # (lenient reads of ordinary files: booking_lines reads them in blocks, raw_rows on first use).
    parsed: DataRows | None = field(default=None, repr=False)
    body: ExtfBody | None = field(default=None, repr=False)

    @cached_property
    def data_rows(self) -> DataRows:
        if self.parsed is not None:
            return self.parsed
        assert self.body is not None
        reader = _Reader(self.filename, strict=False)
        reader.warnings = self.warnings
        rows: list[list[str]] = []
        line_numbers: list[int] = []
        for row, line in body_rows(reader, self.body.lines(), first_line=3):
            rows.append(row)
            line_numbers.append(line)
        return DataRows(rows, line_numbers)

    @property
    def raw_rows(self) -> list[list[str]]:
        return self.data_rows.rows

    @property
    def line_numbers(self) -> list[int]:
        return self.data_rows.line_numbers

    @cached_property
    def rows(self) -> list[tuple[str | None, ...]]:
        """Raw text per column; None for an empty field.

        (Python 3.11's csv module cannot tell `""` from an empty unquoted field, so both are None.)
        Built on first use: booking_lines works on raw_rows (or the body) directly.
        """
        return [tuple([v or None for v in row]) for row in self.raw_rows]

    @property
    def columns(self) -> tuple[Column, ...]:
        cols = columns_for(self.header.category, self.header.format_version, len(self.column_names))
        return cols if cols is not None else ()


# --- decoding ---------------------------------------------------------------------------------------

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _decode(data: bytes, encoding: str) -> tuple[str, list[tuple[int, int, str]]]:
    try:
        return data.decode(encoding), []
    except UnicodeDecodeError as exc:
        text = data.decode(encoding, errors="replace")
        line, index = _locate(data[: exc.start].decode(encoding, errors="replace"))
        reason = (
            f"byte(s) {data[exc.start : exc.end].hex(' ')} cannot be decoded as {encoding}"
            f" ({exc.reason}); save the file as {encoding} or add the right byte order mark"
        )
        return text, [(line, index, reason)]


def _locate(text_before: str) -> tuple[int, int]:
    """(1-based physical line, 0-based field index) of the end of `text_before`."""
    line = text_before.count("\n") + 1
    last = text_before.rsplit("\n", 1)[-1]
    fields = next(csv.reader([last], delimiter=";"), [""])
    return line, max(len(fields) - 1, 0)


class _Reader:
    """One read of one file; `strict` turns every problem into an ExtfError."""

    def __init__(self, filename: str, strict: bool) -> None:
        self.filename = filename
        self.strict = strict
        self.warnings: list[str] = []

    def fail(self, line: int | None, field: str | None, reason: str) -> NoReturn:
        raise ExtfError(self.filename, line, field, reason)

    def problem(self, line: int | None, field: str | None, reason: str, *, fatal: bool = False) -> None:
        if self.strict or fatal:
            self.fail(line, field, reason)
        self.warnings.append(str(ExtfError(self.filename, line, field, reason)))

    # Decoding follows DATEV: the BOM decides; without one, Windows-1252.
    # Problems found while decoding are reported once the lines are parsed, so that they can name
    # the field: (line, 0-based field index, reason).
    def decode(self, data: bytes) -> tuple[str, str, bool, list[tuple[int, int, str]]]:
        for bom, encoding in _BOMS:
            if data.startswith(bom):
                text, problems = _decode(data[len(bom) :], encoding)
                return text, encoding, True, problems
        if data.isascii():
            return data.decode("ascii"), "windows-1252", False, []
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text, problems = _decode(data, "windows-1252")
            return text, "windows-1252", False, problems
        first = _NON_ASCII.search(text)
        line, index = _locate(text[: first.start() if first else 0])
        reason = (
            "the file is UTF-8 without a byte order mark: DATEV would read it as Windows-1252 and garble"
            " every non-ASCII character; add the UTF-8 BOM (submit extf --add-bom) or save it as"
            " Windows-1252"
        )
        return text, "utf-8", False, [(line, index, reason)]

    # --- header -------------------------------------------------------------------------------------

    def header(self, raw: list[str]) -> ExtfHeader:
        values = [v.strip() for v in raw] + [""] * max(0, len(HEADER_FIELDS) - len(raw))
        # More than 31 fields is fine only when the extra ones are empty (a trailing separator).
        if len(raw) < len(HEADER_FIELDS) or any(raw[len(HEADER_FIELDS) :]):
            self.problem(1, None, f"the header has {len(raw)} fields; DATEV expects {len(HEADER_FIELDS)}")

        def text(pos: int) -> str | None:
            return values[pos - 1] or None

        def integer(
            pos: int, *, fatal: bool = False, lo: int | None = None, hi: int | None = None
        ) -> int | None:
            value = values[pos - 1]
            name = HEADER_FIELDS[pos - 1]
            if not value:
                if fatal:
                    self.problem(1, name, "is empty; a whole number is required", fatal=True)
                return None
            try:
                number = parse_int(value)
            except ValueError as exc:
                self.problem(1, name, str(exc), fatal=fatal)
                return None
            if (lo is not None and number < lo) or (hi is not None and number > hi):
                self.problem(1, name, f"{number} is outside {lo}..{hi}")
            return number

        def day(pos: int) -> date | None:
            value = values[pos - 1]
            if not value:
                return None
            if re.fullmatch(r"\d{8}", value):
                try:
                    return date(int(value[:4]), int(value[4:6]), int(value[6:]))
                except ValueError:
                    pass
            self.problem(1, HEADER_FIELDS[pos - 1], f"{value!r} is not a date JJJJMMTT")
            return None

        marker = values[0]
        if marker not in ("EXTF", "DTVF"):
            self.problem(1, "Kennzeichen", f"{marker!r} is not an EXTF header (must be EXTF)", fatal=True)
        if marker != "EXTF":
            self.problem(1, "Kennzeichen", f"{marker!r}: DATEV imports only files marked EXTF")
        version = integer(2, fatal=True) or 0
        if version != 700:
            self.problem(1, "Versionsnummer", f"{version}: DATEV-Format version 700 is required")
        category = integer(3, fatal=True) or 0
        format_name = values[3]
        expected_name = FORMAT_NAMES.get(category)
        if expected_name is None:
            self.problem(1, "Formatkategorie", f"{category} is not a known DATEV format category")
        elif format_name != expected_name:
            self.problem(
                1, "Formatname", f"{format_name!r} does not match category {category}: {expected_name!r}"
            )
        format_version = integer(5, fatal=True) or 0
        created_at = self._created_at(values[5])
        consultant = integer(11, fatal=True, lo=1001, hi=9_999_999) or 0
        client = integer(12, fatal=True, lo=1, hi=99_999) or 0
        fiscal_year_start = day(13)
        account_length = integer(14, lo=4, hi=8)
        date_from, date_to = day(15), day(16)
        currency = text(22)
        if currency is not None and not re.fullmatch(r"[A-Z]{3}", currency):
            self.problem(1, "WKZ", f"{currency!r} is not an ISO 4217 currency code like EUR")
        for pos in _MUST_BE_EMPTY:
            if values[pos - 1]:
                self.problem(
                    1, HEADER_FIELDS[pos - 1], f"(field {pos}) must be empty, not {values[pos - 1]!r}"
                )
        return ExtfHeader(
            marker=marker,
            version=version,
            category=category,
            format_name=format_name,
            format_version=format_version,
            created_at=created_at,
            origin=text(8),
            exported_by=text(9),
            imported_by=text(10),
            consultant_number=consultant,
            client_number=client,
            fiscal_year_start=fiscal_year_start,
            account_length=account_length,
            date_from=date_from,
            date_to=date_to,
            label=text(17),
            dictation_initials=text(18),
            booking_type=integer(19),
            accounting_purpose=integer(20),
            fixed=integer(21),
            currency=currency,
            chart_of_accounts=text(27),
            industry_solution_id=integer(28),
            application_info=text(31),
            raw=tuple(raw),
        )

    def _created_at(self, value: str) -> datetime | None:
        if not value:
            return None
        if re.fullmatch(r"\d{17}", value):
            try:
                stamp = datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=DATEV_TZ)
                return stamp.replace(microsecond=int(value[14:]) * 1000)
            except ValueError:
                pass
        self.problem(1, "Erzeugt am", f"{value!r} is not a timestamp JJJJMMTTHHMMSSFFF (17 digits)")
        return None

    def check_batch_header(self, h: ExtfHeader) -> None:
        """Rules for a Buchungsstapel header beyond single fields (strict only)."""
        if h.fiscal_year_start is None:
            self.problem(
                1, "WJ-Beginn", "is required for a Buchungsstapel (it supplies the year of Belegdatum)"
            )
        if h.account_length is None:
            self.problem(1, "Sachkontenlänge", "is required for a Buchungsstapel (4..8)")
        if h.date_from is None or h.date_to is None:
            self.problem(
                1, "Datum vom" if h.date_from is None else "Datum bis", "is required for a Buchungsstapel"
            )
            return
        if h.date_from > h.date_to:
            self.problem(1, "Datum bis", f"{h.date_to:%Y%m%d} lies before Datum vom {h.date_from:%Y%m%d}")
        fy = h.fiscal_year_start
        if fy is not None:
            fy_end = fiscal_year_end(fy)
            for name, d in (("Datum vom", h.date_from), ("Datum bis", h.date_to)):
                if not fy <= d <= fy_end:
                    self.problem(
                        1,
                        name,
                        f"{d:%Y%m%d} lies outside the fiscal year starting {fy:%Y%m%d} (WJ-Beginn);"
                        " a batch must not span fiscal years",
                    )


def _csv(lines: Iterable[str], reader: _Reader) -> CsvReader:
    return csv.reader(lines, delimiter=";", quotechar='"', strict=reader.strict)


def body_rows(reader: _Reader, lines: Iterable[str], first_line: int) -> Iterator[tuple[list[str], int]]:
    """(row, physical line where it starts) of the data lines `lines`, the first being `first_line`.

    Blank lines between rows are reported (trailing ones are not); broken CSV fails naming its line.
    """
    records = _csv(lines, reader)
    previous_end = first_line - 1
    blank_at: int | None = None
    try:
        for rec in records:
            if rec:
                if blank_at is not None:
                    reader.problem(blank_at, None, "empty line between booking lines; remove it")
                    blank_at = None
                yield rec, previous_end + 1
            elif blank_at is None:
                blank_at = previous_end + 1
            previous_end = first_line - 1 + records.line_num
    except csv.Error as exc:
        reader.fail(first_line - 1 + records.line_num, None, f"not valid CSV: {exc}")


def _rows(reader: _Reader, text: str) -> tuple[list[str], list[str], DataRows]:
    # newline="" keeps \r\n so the csv module sees line breaks inside quoted text as text.
    lines = io.StringIO(text, newline="")
    head = _csv(lines, reader)
    try:
        header = next(head, None)
        if not header:
            reader.fail(1, None, "the file is empty; an EXTF file starts with its header line")
        names = next(head, None)
        if names is None:
            reader.fail(2, None, "the column-name line (line 2) is missing")
        consumed = head.line_num
    except csv.Error as exc:
        reader.fail(head.line_num, None, f"not valid CSV: {exc}")
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    append_row, append_line = rows.append, line_numbers.append
    for row, line in body_rows(reader, lines, consumed + 1):
        append_row(row)
        append_line(line)
    return header, names, DataRows(rows, line_numbers)


def _plain(data: bytes) -> tuple[str, bool, list[str], list[str], ExtfBody] | None:
    """(encoding, had BOM, header, names, body) of a file in a plain encoding (extf/body.py) whose
    first two lines end in LF or CR LF; None otherwise."""
    had_bom = data.startswith(codecs.BOM_UTF8)
    start = len(codecs.BOM_UTF8) if had_bom else 0
    if any(data.startswith(bom) for bom, _ in _BOMS[1:]):
        return None
    codec = plain_codec(data, start, "utf-8" if had_bom else None)
    if codec is None:
        return None
    first = data.find(b"\n", start)
    second = data.find(b"\n", first + 1) if first >= 0 else -1
    if second < 0:
        return None
    head_text = data[start : second + 1].decode(codec)
    if codec == "utf-8":
        head_text = unicodedata.normalize("NFC", head_text)
    head = csv.reader(io.StringIO(head_text, newline=""), delimiter=";", quotechar='"')
    try:
        records = list(head)
    except csv.Error:
        return None
    if len(records) != 2 or head.line_num != 2 or not records[0]:
        return None  # a line break inside a quoted header field, a CR alone: the careful read
    end = body_end(data, second + 1)
    encoding = "utf-8" if codec == "utf-8" else "windows-1252"
    return encoding, had_bom, records[0], records[1], ExtfBody(data, second + 1, end, codec)


def _read(data: bytes, filename: str, strict: bool) -> ExtfFile:
    reader = _Reader(filename, strict)
    plain = None if strict else _plain(data)
    parsed: DataRows | None = None
    body: ExtfBody | None = None
    if plain is not None:
        encoding, had_bom, raw_header, names, body = plain
    else:
        text, encoding, had_bom, decoding_problems = reader.decode(data)
        if not unicodedata.is_normalized("NFC", text):
            # One pass over the whole text: cheaper than per field, and NFC never touches ; " or line ends.
            text = unicodedata.normalize("NFC", text)
        raw_header, names, parsed = _rows(reader, text)
        del text
        for line, index, reason in decoding_problems:
            labels = HEADER_FIELDS if line == 1 else names
            reader.problem(line, labels[index] if index < len(labels) else f"column {index + 1}", reason)
    header = reader.header(raw_header)
    columns = columns_for(header.category, header.format_version, len(names))
    if columns is None:
        reader.problem(
            1,
            "Formatkategorie",
            f"category {header.category} ({header.format_name}) is not supported here;"
            " supported are 21 Buchungsstapel, 20 Kontenbeschriftungen, 16 Debitoren/Kreditoren",
        )
    elif len(names) > len(columns):
        reader.problem(
            2,
            None,
            f"{len(names)} columns named; {header.format_name} version {header.format_version}"
            f" has {len(columns)} (extra columns are ignored)",
        )
    return ExtfFile(
        header=header,
        column_names=tuple(names),
        encoding=encoding,
        had_bom=had_bom,
        warnings=reader.warnings,
        filename=filename,
        parsed=parsed,
        body=body,
    )


def read_extf(data: bytes, filename: str = "<bytes>") -> ExtfFile:
    """Lenient read (any format version, also files DATEV rejected); problems go to `warnings`.

    Raises ExtfError only when the file is unreadable: not EXTF, no header/column line, no category,
    format version, consultant or client number, or broken CSV. The data lines of a file in a plain
    encoding are read when used (booking_lines, raw_rows): their problems (a blank line between
    lines, broken CSV) reach `warnings`, or are raised, then.
    """
    return _read(data, filename, strict=False)

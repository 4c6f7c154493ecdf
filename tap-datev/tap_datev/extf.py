"""EXTF (DATEV-Format) files: bytes in, header + rows + records out. No I/O.

`read_extf` reads leniently (also older format versions and files DATEV rejected) and raises only when
a file is unreadable; `check_for_submit` applies every rule DATEV's import enforces that can be checked
locally and refuses with the file, line and field named. Columns are mapped by position and format
version (extf_columns), never by the names in the column-name row.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from itertools import compress
from operator import itemgetter
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from tap_datev.booking_line import (
    DateResolver,
    ParseError,
    RecordContext,
    amount_text,
    column_converter,
    fill_derived,
    fiscal_year_end,
    parse_int,
    parse_unsigned,
    scaled,
)
from tap_datev.extf_columns import (
    BUCHUNGSSTAPEL,
    DEBITOREN_KREDITOREN,
    FORMAT_NAMES,
    KONTENBESCHRIFTUNGEN,
    SUBMIT_FORMAT_VERSIONS,
    Column,
    columns_for,
)

MAX_SUBMIT_BYTES = 50 * 1024 * 1024  # DATEV: 413 / code 1008833 above 50 MB
MAX_SUBMIT_LINES = 99_999  # DATEV: at most 99 999 postings per file
FILENAME_PATTERN = re.compile(r"EXTF_.{0,51}\.csv")  # no line break: it is sent as an HTTP header
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
# DATEV's rule is \d{1,10},\d{2}; its own sample also has whole numbers (64083), which it imports.
_SUBMIT_AMOUNT = re.compile(r"\d{1,10}(?:,\d{1,2})?")
# DATEV-Format: no control characters (CR, LF, TAB, ...) inside a field. A quoted line break would
# also make DATEV count one posting as several lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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


@dataclass(frozen=True)
class ExtfFile:
    header: ExtfHeader
    column_names: tuple[str, ...]
    raw_rows: list[list[str]] = field(repr=False)  # as the csv module returns them ("" when empty)
    line_numbers: list[int]  # physical line where each row starts (1 = header line)
    encoding: str
    had_bom: bool
    warnings: list[str] = field(default_factory=list)
    filename: str = "<bytes>"

    @cached_property
    def rows(self) -> list[tuple[str | None, ...]]:
        """Raw text per column; None for an empty field.

        (Python 3.11's csv module cannot tell `""` from an empty unquoted field, so both are None.)
        Built on first use: booking_lines works on raw_rows directly, which keeps the hot path lean.
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


def _rows(reader: _Reader, text: str) -> tuple[list[str], list[str], list[list[str]], list[int]]:
    # newline="" keeps \r\n so the csv module sees line breaks inside quoted text as text.
    records = csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"', strict=reader.strict)
    try:
        header = next(records, None)
        if not header:
            reader.fail(1, None, "the file is empty; an EXTF file starts with its header line")
        names = next(records, None)
        if names is None:
            reader.fail(2, None, "the column-name line (line 2) is missing")
        rows: list[list[str]] = []
        line_numbers: list[int] = []
        append_row, append_line = rows.append, line_numbers.append
        previous_end = records.line_num
        blank_at: int | None = None
        for rec in records:
            if rec:
                if blank_at is not None:
                    reader.problem(blank_at, None, "empty line between booking lines; remove it")
                    blank_at = None
                append_row(rec)
                append_line(previous_end + 1)
            elif blank_at is None:
                blank_at = previous_end + 1
            previous_end = records.line_num
    except csv.Error as exc:
        reader.fail(records.line_num, None, f"not valid CSV: {exc}")
    return header, names, rows, line_numbers


def _read(data: bytes, filename: str, strict: bool) -> ExtfFile:
    reader = _Reader(filename, strict)
    text, encoding, had_bom, decoding_problems = reader.decode(data)
    if not unicodedata.is_normalized("NFC", text):
        # One pass over the whole text: cheaper than per field, and NFC never touches ; " or line ends.
        text = unicodedata.normalize("NFC", text)
    raw_header, names, rows, line_numbers = _rows(reader, text)
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
        raw_rows=rows,
        line_numbers=line_numbers,
        encoding=encoding,
        had_bom=had_bom,
        warnings=reader.warnings,
        filename=filename,
    )


def read_extf(data: bytes, filename: str = "<bytes>") -> ExtfFile:
    """Lenient read (any format version, also files DATEV rejected); problems go to `warnings`.

    Raises ExtfError only when the file is unreadable: not EXTF, no header/column line, no category,
    format version, consultant or client number, or broken CSV.
    """
    return _read(data, filename, strict=False)


# --- submit checks -------------------------------------------------------------------------------------


def check_for_submit(data: bytes, filename: str) -> ExtfFile:
    """Everything DATEV's EXTF import refuses that can be checked locally; raises ExtfError naming
    the file, line and field. (Whether consultant/client match a known client is the caller's check.)"""
    if not FILENAME_PATTERN.fullmatch(filename):
        raise ExtfError(
            filename,
            None,
            None,
            "the file name must match EXTF_<up to 51 characters>.csv, e.g. EXTF_Buchungsstapel_2024_01.csv",
        )
    try:
        filename.encode("latin-1")  # it travels in the `Filename` HTTP header
    except UnicodeEncodeError as exc:
        raise ExtfError(
            filename,
            None,
            None,
            f"{filename[exc.start]!r} cannot be sent in the Filename header; rename the file"
            " (letters, digits, umlauts, '_', '-', '.')",
        ) from None
    if len(data) > MAX_SUBMIT_BYTES:
        raise ExtfError(
            filename, None, None, f"{len(data)} bytes: DATEV accepts at most 50 MB per file; split the batch"
        )
    f = _read(data, filename, strict=True)
    reader = _Reader(filename, strict=True)
    h = f.header
    allowed = SUBMIT_FORMAT_VERSIONS.get(h.category)
    if allowed is None:
        raise ExtfError(
            filename, 1, "Formatkategorie", f"category {h.category} cannot be submitted by this tool"
        )
    if h.format_version not in allowed:
        if h.category == BUCHUNGSSTAPEL and h.format_version < 12:
            reason = f"{h.format_version}: DATEV requires Buchungsstapel format version >= 12 (13 is current)"
        else:
            versions = ", ".join(str(v) for v in sorted(allowed))
            reason = (
                f"{h.format_version} is not a format version DATEV accepts for {h.format_name} ({versions})"
            )
        raise ExtfError(filename, 1, "Formatversion", reason)
    if len(f.raw_rows) > MAX_SUBMIT_LINES:
        raise ExtfError(
            filename,
            None,
            None,
            f"{len(f.raw_rows)} data lines: DATEV accepts at most 99,999 per file",
        )
    columns = f.columns
    if h.category == BUCHUNGSSTAPEL:
        reader.check_batch_header(h)
        if h.format_version == 13 and len(f.column_names) != len(columns):
            raise ExtfError(
                filename, 2, None, f"{len(f.column_names)} column names; Buchungsstapel 13 has {len(columns)}"
            )
    _check_rows(f, columns)
    return f


def _check_rows(f: ExtfFile, columns: tuple[Column, ...]) -> None:
    name = f.filename
    expected = len(columns)
    converters = [(i, c, column_converter(c)) for i, c in enumerate(columns)]
    typed = [(i, c, conv) for i, c, conv in converters if conv is not None and c.kind != "amount"]
    is_batch = f.header.category == BUCHUNGSSTAPEL
    resolver = DateResolver(f.header.date_from, f.header.date_to, f.header.fiscal_year_start)
    for raw_row, row, line in zip(f.raw_rows, f.rows, f.line_numbers, strict=True):
        if len(row) != expected:
            field = columns[len(row)].name if len(row) < expected else f"column {expected + 1}"
            raise ExtfError(
                name, line, field, f"the line has {len(row)} fields; it must have {expected}, one per column"
            )
        if _CONTROL.search("".join(raw_row)):  # one search per line; the field is found only on a hit
            i, value = next((i, v) for i, v in enumerate(raw_row) if _CONTROL.search(v))
            char = _CONTROL.search(value)
            assert char is not None
            raise ExtfError(
                name,
                line,
                columns[i].name,
                f"contains the control character {char.group()!r}; DATEV-Format fields must not contain"
                " line breaks, tabs or other control characters",
            )
        for i, col, conv in typed:
            raw = row[i]
            if raw is None:
                continue
            try:
                conv(raw)
            except ValueError as exc:
                raise ExtfError(name, line, col.name, str(exc)) from None
            if col.kind == "int" and col.length is not None and len(raw) > col.length:
                raise ExtfError(name, line, col.name, f"{raw!r} has more than {col.length} digits")
        if is_batch:
            _check_booking(f, row, line, columns, resolver)
        elif row[0] is None:
            raise ExtfError(name, line, columns[0].name, "the account number is required")


def _check_booking(
    f: ExtfFile, row: tuple[str | None, ...], line: int, columns: tuple[Column, ...], resolver: DateResolver
) -> None:
    name = f.filename
    for i in (0, 4, 12):  # Umsatz, Basis-Umsatz, Skonto: positive, at most 2 decimals, 0 not allowed
        raw = row[i]
        if raw is None:
            if i == 0:
                raise ExtfError(name, line, columns[0].name, "is empty; every booking line needs an amount")
            continue
        if not _SUBMIT_AMOUNT.fullmatch(raw):
            raise ExtfError(
                name,
                line,
                columns[i].name,
                f"{raw!r} is not an amount like 1234,50 (up to 10 digits, 2 decimals)",
            )
        if parse_unsigned(raw) == 0:
            raise ExtfError(name, line, columns[i].name, f"{raw!r}: DATEV does not accept a zero amount")
    if row[1] not in ("S", "H"):
        raise ExtfError(name, line, columns[1].name, f"{row[1]!r} must be S (Soll) or H (Haben)")
    if row[3] is not None and parse_unsigned(row[3]) == 0:
        raise ExtfError(name, line, columns[3].name, "a Kurs of 0 is not allowed")
    if (row[4] is None) != (row[5] is None):
        missing = columns[5] if row[5] is None else columns[4]
        raise ExtfError(name, line, missing.name, "Basis-Umsatz and WKZ Basis-Umsatz must be given together")
    for i in (6, 7):
        if row[i] is None:
            raise ExtfError(name, line, columns[i].name, "is empty; an account number is required")
        if int(row[i] or 0) == 0:
            raise ExtfError(name, line, columns[i].name, "account 0 does not exist")
    if row[9] is None:
        raise ExtfError(name, line, columns[9].name, "is empty; Belegdatum (TTMM) is required")
    _, problem = resolver.resolve(row[9])
    if problem is not None:
        raise ExtfError(name, line, columns[9].name, problem)


def add_bom(data: bytes) -> bytes:
    """For `submit extf --add-bom`: a BOM-less file that is valid UTF-8 gets the UTF-8 BOM.

    Anything else (a file with a BOM, or not UTF-8, i.e. Windows-1252) is returned unchanged.
    """
    if any(data.startswith(bom) for bom, _ in _BOMS):
        return data
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return codecs.BOM_UTF8 + data


# --- what a checked file says: posting digest, totals, line ends, the client's fiscal years -----------


POSTING_DIGEST_VERSION = "extf-postings-1"  # part of the digested text: a new definition, new digests


def posting_digest(f: ExtfFile) -> str:
    """sha256 (hex) of what the file books, independent of how the file spells it.

    Covers: format category and version, consultant and client number, WJ-Beginn, Sachkontenlänge,
    Datum vom/bis and WKZ of the header, and every data line's fields as decoded, NFC-normalised text
    (csv quoting removed), as a sorted list. Not covered: the encoding and BOM, line ends, quoting,
    the file name, the column-name line and the other header fields (Erzeugt am, Herkunft,
    Exportiert von, Bezeichnung, ...). So a file re-encoded, re-exported or reordered has the digest
    of the original, and one changed amount gives another digest.
    """
    h = f.header
    head = [
        h.category,
        h.format_version,
        h.consultant_number,
        h.client_number,
        h.fiscal_year_start.isoformat() if h.fiscal_year_start else None,
        h.account_length,
        h.date_from.isoformat() if h.date_from else None,
        h.date_to.isoformat() if h.date_to else None,
        h.currency,
    ]
    lines = sorted(f.raw_rows)
    text = json.dumps([POSTING_DIGEST_VERSION, head, lines], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BatchTotals:
    """What a Buchungsstapel says about itself: its booking lines and the sums of Umsatz per side
    (unsigned, in each line's own currency: no conversion)."""

    line_count: int
    debit_sum: Decimal
    credit_sum: Decimal


def batch_totals(f: ExtfFile) -> BatchTotals | None:
    """Totals of a checked Buchungsstapel; None for other categories (they have no booking lines)."""
    if f.header.category != BUCHUNGSSTAPEL:
        return None
    sums = {"S": Decimal(0), "H": Decimal(0)}
    for row in f.raw_rows:
        sums[row[1]] += parse_unsigned(row[0])  # check_for_submit: an amount and S or H on every line
    return BatchTotals(len(f.raw_rows), sums["S"], sums["H"])


_BARE_LF = re.compile(r"(?<!\r)\n")


def with_crlf(data: bytes, f: ExtfFile) -> bytes:
    """`data` with every bare LF line end made CR LF (DATEV-Format requires CR LF); the same object
    when it has no bare LF. Works on the decoded text, so UTF-16 files are handled too; fields contain
    no line breaks (check_for_submit), so every LF is a line end."""
    bom = next((b for b, encoding in _BOMS if encoding == f.encoding), b"") if f.had_bom else b""
    text = data[len(bom) :].decode(f.encoding)
    if not _BARE_LF.search(text):
        return data
    return bom + _BARE_LF.sub("\r\n", text).encode(f.encoding)


@dataclass(frozen=True)
class FiscalYear:
    """One fiscal year of a client as DATEV reports it (the documents API's accounting basics)."""

    start: date
    end: date | None
    account_length: int | None

    def describe(self) -> str:
        end = f"-{self.end:%Y%m%d}" if self.end else ""
        length = f", Sachkontenlänge {self.account_length}" if self.account_length else ""
        return f"{self.start:%Y%m%d}{end}{length}"


def check_fiscal_year(f: ExtfFile, client_id: str, years: list[FiscalYear]) -> None:
    """DATEV imports into a fiscal year the client has, with that year's account length: WJ-Beginn
    must be the start of one of `years` and Sachkontenlänge its account length. Raises ExtfError
    naming the client's fiscal years."""
    h = f.header
    known = "; ".join(y.describe() for y in years) or "none"
    if h.fiscal_year_start is None:
        return  # a Buchungsstapel without WJ-Beginn is refused by check_for_submit already
    year = next((y for y in years if y.start == h.fiscal_year_start), None)
    if year is None:
        raise ExtfError(
            f.filename,
            1,
            "WJ-Beginn",
            f"{h.fiscal_year_start:%Y%m%d} is not the start of a fiscal year DATEV has for client"
            f" {client_id} (its fiscal years: {known}); set WJ-Beginn to the start of the fiscal year"
            " the postings belong to, or have the fiscal year created in DATEV first",
        )
    if year.account_length is not None and h.account_length != year.account_length:
        raise ExtfError(
            f.filename,
            1,
            "Sachkontenlänge",
            f"{h.account_length} does not match the account length {year.account_length} of client"
            f" {client_id}'s fiscal year {year.describe()} at DATEV; export the file with"
            f" Sachkontenlänge {year.account_length}",
        )


# --- records ---------------------------------------------------------------------------------------------


def booking_lines(
    f: ExtfFile,
    *,
    client_id: str,
    batch_id: str,
    job_id: str | None,
    job_result: str | None,
    labels: Mapping[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of schemas/booking_lines.json for a Buchungsstapel (category 21, any format version).

    Values that cannot be converted become null with a warning appended to `f.warnings`.
    This is the tap's hot path: per line, only the non-empty typed values are touched in Python;
    filtering and copying run in C (itemgetter, compress, dict.update).
    """
    h = f.header
    if h.category != BUCHUNGSSTAPEL:
        raise ExtfError(
            f.filename, 1, "Formatkategorie", f"category {h.category} is not a Buchungsstapel (21)"
        )
    columns = f.columns
    n = len(columns)
    if n < 14:  # up to Buchungstext: the derived fields need these columns
        raise ExtfError(
            f.filename, 2, None, f"{n} columns; a Buchungsstapel has at least 14 (up to Buchungstext)"
        )
    fields = [c.field for c in columns]
    # Umsatz, Kurs, Basis-Umsatz and Belegdatum feed the derived fields and are converted below, once.
    special = {"umsatz", "kurs", "basis_umsatz", "belegdatum"}
    typed = [
        (i, c, conv)
        for i, c in enumerate(columns)
        if c.field not in special and (conv := column_converter(c))
    ]
    typed_meta = [(c.field, conv, c.name) for _, c, conv in typed]
    typed_values = itemgetter(*[i for i, _, _ in typed])
    ctx = RecordContext(client_id, batch_id, job_id, job_result, "extf", h.currency, labels, f.warnings)
    template = ctx.template()
    resolve = DateResolver(h.date_from, h.date_to, h.fiscal_year_start).resolve
    warn = f.warnings.append
    name = f.filename
    for row, line in zip(f.raw_rows, f.line_numbers, strict=True):
        if len(row) != n:
            if len(row) < n or any(row[n:]):  # empty trailing fields are harmless
                warn(
                    f"{name} line {line}: {len(row)} fields instead of {n}; missing ones null, extra ignored"
                )
            row = (row + [""] * n)[:n]  # noqa: PLW2901
        rec = template.copy()
        rec.update(compress(zip(fields, row, strict=True), row))  # the non-empty raw values only
        values = typed_values(row)
        present = compress(values, values)
        for (field_name, conv, german), raw in zip(compress(typed_meta, values), present, strict=True):
            try:
                rec[field_name] = conv(raw)
            except ValueError as exc:
                rec[field_name] = None
                warn(f"{name} line {line}, field '{german}': {exc}")
        amount = _amount(row[0], name, line, "Umsatz (ohne Soll/Haben-Kz)", warn)
        base = _amount(row[4], name, line, "Basis-Umsatz", warn)
        rate: Decimal | None = None
        if row[3]:
            try:
                rate = parse_unsigned(row[3])
            except ValueError as exc:
                warn(f"{name} line {line}, field 'Kurs': {exc}")
        rec["umsatz"], rec["basis_umsatz"] = amount, base
        rec["kurs"] = None if rate is None else scaled(rate, 6)
        booking_date = None
        if row[9]:
            booking_date, problem = resolve(row[9])
            if problem is not None:
                warn(f"{name} line {line}, field 'Belegdatum': {problem}")
        debit_credit: str | None = row[1]
        if debit_credit not in ("S", "H"):
            warn(f"{name} line {line}, field 'Soll/Haben-Kennzeichen': {debit_credit!r} is neither S nor H")
            debit_credit = None
        fill_derived(
            rec,
            ctx,
            line_number=line,
            amount=amount,
            debit_credit=debit_credit,
            currency=row[2] or None,
            rate=rate,
            base=base,
            base_currency=row[5] or None,
            booking_date=booking_date,
            filename=name,
        )
        yield rec


def _amount(raw: str, filename: str, line: int, field: str, warn: Callable[[str], None]) -> str | None:
    if not raw:
        return None
    try:
        return amount_text(raw)
    except ValueError as exc:
        warn(f"{filename} line {line}, field '{field}': {exc}")
        return None


def gl_accounts(f: ExtfFile, *, client_id: str) -> Iterator[dict[str, Any]]:
    """Category 20 (Kontenbeschriftungen v2/v3) -> schemas/gl_accounts.json records."""
    if f.header.category != KONTENBESCHRIFTUNGEN:
        raise ExtfError(f.filename, 1, "Formatkategorie", f"category {f.header.category} is not 20")
    for row, line in zip(f.rows, f.line_numbers, strict=True):
        account = _account(f, row[0], line)
        if account is None:
            continue
        yield {
            "client_id": client_id,
            "account_number": account,
            "language": (row[2] if len(row) > 2 else None) or "de-DE",
            "label": row[1] if len(row) > 1 else None,
            "label_long": row[3] if len(row) > 3 else None,
        }


def _account(f: ExtfFile, raw: str | None, line: int) -> int | None:
    try:
        return parse_int(raw or "")
    except ValueError:
        f.warnings.append(
            f"{f.filename} line {line}, field 'Konto': {raw!r} is not an account number; skipped"
        )
        return None


# Business-partner fields mapped by (0-based) position in Debitoren/Kreditoren v5.
_PARTNER_FIELDS: dict[str, int] = {
    "company_name": 1,
    "business_purpose": 2,
    "last_name": 3,
    "first_name": 4,
    "name_unspecified": 5,
    "addressee_type": 6,
    "short_name": 7,
    "eu_country": 8,
    "eu_vat_id": 9,
    "salutation": 10,
    "address_type": 14,
    "street": 15,
    "po_box": 16,
    "postal_code": 17,
    "city": 18,
    "country": 19,
    "phone": 28,
    "email": 32,
    "website": 34,
    "iban": 44,
    "swift_code": 46,
    "customer_supplier_number": 98,
    "tax_number": 99,
    "external_number": 219,
}


def business_partners(f: ExtfFile, *, client_id: str) -> Iterator[dict[str, Any]]:
    """Category 16 (Debitoren/Kreditoren v5) -> schemas/business_partners.json records.

    The important columns are mapped by position; every other non-empty column is kept in `extra`
    (a JSON object string keyed by the column's snake_case field name).
    """
    if f.header.category != DEBITOREN_KREDITOREN:
        raise ExtfError(f.filename, 1, "Formatkategorie", f"category {f.header.category} is not 16")
    columns = f.columns
    mapped = {0, *_PARTNER_FIELDS.values()}
    for row, line in zip(f.rows, f.line_numbers, strict=True):
        account = _account(f, row[0], line)
        if account is None:
            continue

        def at(i: int, row: tuple[str | None, ...] = row) -> str | None:
            return row[i] if i < len(row) else None

        rec: dict[str, Any] = {"client_id": client_id, "account_number": account}
        rec.update({name: at(i) for name, i in _PARTNER_FIELDS.items()})
        person = " ".join(p for p in (rec["first_name"], rec["last_name"]) if p) or None
        rec["name"] = rec["company_name"] or person or rec["name_unspecified"]
        rec["addressee_type"] = (
            int(rec["addressee_type"]) if (rec["addressee_type"] or "").isdigit() else None
        )
        rec["partner_type"] = "debtor" if account < _first_creditor(f) else "creditor"
        extra = {
            (columns[i].field if i < len(columns) else f"column_{i + 1}"): v
            for i, v in enumerate(row)
            if v is not None and i not in mapped
        }
        rec["extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None
        yield rec


def _first_creditor(f: ExtfFile) -> int:
    # Personal accounts have Sachkontenlänge + 1 digits; debtors 1..6 prefix, creditors 7..9 (DATEV rule).
    length = (f.header.account_length or 4) + 1
    return 7 * 10 ** (length - 1)

"""What DATEV's EXTF import refuses, checked locally, and what a checked file says about itself
(posting digest, totals, line ends, fit with the client's fiscal years). No I/O."""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tap_datev.booking_line import DateResolver, column_converter, parse_unsigned
from tap_datev.extf.read import _BOMS, ExtfError, ExtfFile, _read, _Reader
from tap_datev.extf_columns import BUCHUNGSSTAPEL, SUBMIT_FORMAT_VERSIONS, Column

MAX_SUBMIT_BYTES = 50 * 1024 * 1024  # DATEV: 413 / code 1008833 above 50 MB
MAX_SUBMIT_LINES = 99_999  # DATEV: at most 99 999 postings per file
FILENAME_PATTERN = re.compile(r"EXTF_.{0,51}\.csv")  # no line break: it is sent as an HTTP header
# DATEV's rule is \d{1,10},\d{2}; its own sample also has whole numbers (64083), which it imports.
_SUBMIT_AMOUNT = re.compile(r"\d{1,10}(?:,\d{1,2})?")
# DATEV-Format: no control characters (CR, LF, TAB, ...) inside a field. A quoted line break would
# also make DATEV count one posting as several lines.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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

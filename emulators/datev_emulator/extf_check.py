"""The EXTF header check the emulator runs on an import job (its own small check, not tap_datev's reader).

Bytes in, outcome out: no I/O here."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

MAX_LINES = 99_999
MAX_HEADER_CHARS = 1000
HEADER_FIELDS = 31
RESERVED_FIELDS = (23, 24, 25, 26, 29, 30)
# category → (format name, accepted format versions); Buchungsstapel needs >= 12 at DATEV.
FORMATS: dict[int, tuple[str, frozenset[int]]] = {
    16: ("Debitoren/Kreditoren", frozenset({5})),
    20: ("Kontenbeschriftungen", frozenset({2, 3})),
    21: ("Buchungsstapel", frozenset({12, 13})),
    46: ("Zahlungsbedingungen", frozenset({2})),
    48: ("Diverse Adressen", frozenset({2})),
    65: ("Wiederkehrende Buchungen", frozenset({4})),
    66: ("Natural-Stapel", frozenset({2})),
}
INVALID_FILE = 1008833
INVALID_HEADER = 1008834


@dataclass
class ExtfOutcome:
    succeeded: bool
    fields: dict[str, Any] = field(default_factory=dict)  # job fields known from the header
    details: dict[str, Any] | None = None  # validation_details when failed


def _fail(code: int, title: str, detail: str, affected: list[dict[str, str]] | None = None) -> ExtfOutcome:
    details: dict[str, Any] = {"type": f"http://www.datev.de/hilfe/{code}", "title": title, "detail": detail}
    if affected:
        details["affected_elements"] = affected
    return ExtfOutcome(False, details=details)


def decode(data: bytes) -> str | None:
    """Encoding from the BOM (UTF-8, UTF-16LE/BE); no BOM means code page 1252."""
    try:
        if data.startswith(b"\xef\xbb\xbf"):
            return data[3:].decode("utf-8")
        if data.startswith(b"\xff\xfe"):
            return data[2:].decode("utf-16-le")
        if data.startswith(b"\xfe\xff"):
            return data[2:].decode("utf-16-be")
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return None


def date8(text: str) -> date | None:
    """A DATEV YYYYMMDD date, or None when the text is not one."""
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\d{1,12}", text) else None


def _fiscal_year_problem(
    fy_begin: date, account_length: int, fiscal_years: list[dict[str, Any]]
) -> dict[str, str] | None:
    """DATEV imports into a fiscal year the client has, with that year's account length."""
    for year in fiscal_years:
        if date8(str(year.get("fiscal_year_start", ""))[:10].replace("-", "")) != fy_begin:
            continue
        if year.get("account_length") not in (None, account_length):
            return {
                "name": "Length of Ledger Account",
                "reason": "Error in header field - Length of Ledger Account - does not match the "
                f"account length {year['account_length']} of the fiscal year (14)",
            }
        return None
    starts = ", ".join(str(y.get("fiscal_year_start", ""))[:10] for y in fiscal_years) or "none"
    return {
        "name": "FY Begin",
        "reason": f"Error in header field - FY Begin - no fiscal year of the client begins on "
        f"{fy_begin.isoformat()}; fiscal years: {starts} (13)",
    }


def check_extf(
    data: bytes, consultant: int, client: int, fiscal_years: list[dict[str, Any]] | None = None
) -> ExtfOutcome:
    """DATEV's import checks on one file for the client (consultant, client, its fiscal years)."""
    if not data:
        return _fail(INVALID_FILE, "Invalid file", "No payload")
    text = decode(data)
    if text is None:
        return _fail(
            INVALID_FILE, "Invalid file", "Only Windows-1252, UTF-8, UTF16LE, and UTF16BE are supported"
        )
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        return _fail(INVALID_FILE, "Invalid file", "No payload")
    header_line = lines[0]
    if len(header_line) > MAX_HEADER_CHARS:
        return _fail(
            INVALID_HEADER, "Invalid EXTF-header", "EXTF-header exceeds maximum length of 1000 characters"
        )
    header = next(csv.reader([header_line], delimiter=";", quotechar='"'))
    if len(header) < HEADER_FIELDS:
        return _fail(INVALID_HEADER, "Invalid EXTF-header", "Missing columns in EXTF-header")
    h = [""] + [value.strip() for value in header]  # 1-based like DATEV's field numbers

    errors: list[dict[str, str]] = []

    def bad(number: int, name: str, reason: str = "is invalid") -> None:
        errors.append({"name": name, "reason": f"Error in header field - {name} - {reason} ({number})"})

    if h[1] != "EXTF":
        bad(1, "DATEV Format Label", "must be EXTF")
    if h[2] != "700":
        bad(2, "Version Number")
    category = _int(h[3])
    if category not in FORMATS:
        bad(3, "Data Category")
    version = _int(h[5])
    if version is None:
        bad(5, "Format Version")
    if not re.fullmatch(r"\d{17}", h[6]):
        bad(6, "Created On")
    if h[7]:
        bad(7, "Imported")
    header_consultant = _int(h[11])
    if header_consultant is None or not 1001 <= header_consultant <= 9_999_999:
        bad(11, "Consultant")
    header_client = _int(h[12])
    if header_client is None or not 1 <= header_client <= 99_999:
        bad(12, "Client")
    fy_begin = date8(h[13])
    if fy_begin is None:
        bad(13, "FY Begin")
    account_length = _int(h[14])
    if account_length is None or not 4 <= account_length <= 8:
        bad(14, "Length of Ledger Account")
    date_from = date_to = None
    if category == 21:
        date_from, date_to = date8(h[15]), date8(h[16])
        if date_from is None:
            bad(15, "Date From")
        if date_to is None:
            bad(16, "Date To")
    for number in RESERVED_FIELDS:
        if h[number]:
            bad(number, "Reserved", "must be empty")
    if errors:
        return _fail(INVALID_HEADER, "Invalid EXTF-header", "Fields with error", errors)

    assert category is not None and version is not None
    name, versions = FORMATS[category]
    if h[4] != name or version not in versions:
        return _fail(
            INVALID_HEADER,
            "Invalid EXTF-header",
            "Invalid combination of data category, format name and format version",
            [{"name": "Format Version", "reason": f"{category}/{h[4]}/{version} is not accepted"}],
        )
    if date_from and date_to and date_from > date_to:
        return _fail(INVALID_HEADER, "Invalid EXTF-header", "DateFrom must not be greater than DateTo")
    if header_consultant != consultant:
        return _fail(
            INVALID_HEADER,
            "Invalid EXTF-header",
            "The consultant-number in the EXTF-header does not match with the upload request",
        )
    if header_client != client:
        return _fail(
            INVALID_HEADER,
            "Invalid EXTF-header",
            "The client-number in the EXTF-header does not match with the upload request",
        )
    assert fy_begin is not None and account_length is not None
    if fiscal_years is not None:
        problem = _fiscal_year_problem(fy_begin, account_length, fiscal_years)
        if problem is not None:
            return _fail(INVALID_HEADER, "Invalid EXTF-header", "Fields with error", [problem])
    records = sum(1 for line in lines[2:] if line.strip())
    if records == 0:
        return _fail(INVALID_FILE, "Invalid file", "No payload")
    if records > MAX_LINES:
        return _fail(INVALID_FILE, "Invalid file", "More than 99999 postings")
    label = h[17]
    fields: dict[str, Any] = {
        "data_category_id": category,
        "fiscal_year_begin": fy_begin.isoformat(),
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        "label": (label[:250] + "...") if len(label) > 250 else (label or None),
        "number_of_accounting_records": records,
    }
    return ExtfOutcome(True, fields={k: v for k, v in fields.items() if v is not None})

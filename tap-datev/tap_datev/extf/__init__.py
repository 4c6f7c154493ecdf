"""EXTF (DATEV-Format) files: bytes in, header + rows + records out. No I/O.

- read.py: `read_extf`, lenient (also older format versions and files DATEV rejected); raises only
  when a file is unreadable. The data lines of a file in a plain encoding stay bytes (body.py) until
  used.
- checks.py: `check_for_submit`, every rule DATEV's import enforces that can be checked locally,
  refusing with the file, line and field named; then what a checked file says (posting digest,
  totals, CR LF line ends, fit with the client's fiscal years).
- records.py: the tap's records (booking_lines, gl_accounts, business_partners); booking_lines of a
  body a block of lines at a time, whole columns at once (booking_columns.py, pyarrow).
"""

from tap_datev.extf.checks import (
    FILENAME_PATTERN,
    MAX_SUBMIT_BYTES,
    MAX_SUBMIT_LINES,
    POSTING_DIGEST_VERSION,
    BatchTotals,
    FiscalYear,
    add_bom,
    batch_totals,
    check_fiscal_year,
    check_for_submit,
    posting_digest,
    with_crlf,
)
from tap_datev.extf.read import DATEV_TZ, HEADER_FIELDS, ExtfError, ExtfFile, ExtfHeader, read_extf
from tap_datev.extf.records import booking_lines, business_partners, gl_accounts

__all__ = [
    "DATEV_TZ",
    "FILENAME_PATTERN",
    "HEADER_FIELDS",
    "MAX_SUBMIT_BYTES",
    "MAX_SUBMIT_LINES",
    "POSTING_DIGEST_VERSION",
    "BatchTotals",
    "ExtfError",
    "ExtfFile",
    "ExtfHeader",
    "FiscalYear",
    "add_bom",
    "batch_totals",
    "booking_lines",
    "business_partners",
    "check_fiscal_year",
    "check_for_submit",
    "gl_accounts",
    "posting_digest",
    "read_extf",
    "with_crlf",
]

"""Records of the tap's schemas from read EXTF files: booking lines (category 21), GL account labels
(20) and business partners (16). No I/O."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from itertools import chain, compress
from operator import itemgetter
from typing import Any

from tap_datev.booking_line import (
    DateResolver,
    RecordContext,
    amount_text,
    column_converter,
    fill_derived,
    parse_int,
    parse_unsigned,
    scaled,
)
from tap_datev.extf.read import ExtfError, ExtfFile
from tap_datev.extf_columns import BUCHUNGSSTAPEL, DEBITOREN_KREDITOREN, KONTENBESCHRIFTUNGEN

#: Columns whose values feed the derived fields: converted with those, not as typed columns.
SPECIAL_FIELDS = frozenset({"umsatz", "kurs", "basis_umsatz", "belegdatum"})


def booking_lines(
    f: ExtfFile,
    *,
    client_id: str,
    batch_id: str,
    job_id: str | None,
    job_result: str | None,
    labels: Mapping[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of schemas/booking_lines.json for a Buchungsstapel (category 21, any format version),
    made as they are consumed (a file that is no Buchungsstapel is refused at the call).

    Values that cannot be converted become null with a warning appended to `f.warnings`.
    This is the tap's hot path. A file read as a body (extf/body.py) is read a block of lines at a
    time, whole columns converted at once (extf/booking_columns.py); the lines those checks flag, and
    every other file, go through LineRecords, one line at a time.
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
    ctx = RecordContext(client_id, batch_id, job_id, job_result, "extf", h.currency, labels, f.warnings)
    lines = LineRecords(f, ctx)
    if f.body is not None and "data_rows" not in f.__dict__:
        from tap_datev.extf.booking_columns import body_records  # pyarrow: only when needed

        return chain.from_iterable(body_records(f, f.body, lines))
    return map(lines.record, f.raw_rows, f.line_numbers)


class LineRecords:
    """booking_lines records one line at a time: per line, only the non-empty typed values are
    touched in Python; filtering and copying run in C (itemgetter, compress, dict.update)."""

    def __init__(self, f: ExtfFile, ctx: RecordContext) -> None:
        self.columns = f.columns
        self.filename = f.filename
        self.ctx = ctx
        self.template = ctx.template()
        h = f.header
        self.resolver = DateResolver(h.date_from, h.date_to, h.fiscal_year_start)
        self.warn = f.warnings.append
        self.fields = [c.field for c in self.columns]
        # Umsatz, Kurs, Basis-Umsatz and Belegdatum feed the derived fields and are converted below, once.
        typed = [
            (i, c, conv)
            for i, c in enumerate(self.columns)
            if c.field not in SPECIAL_FIELDS and (conv := column_converter(c))
        ]
        self.typed_meta = [(c.field, conv, c.name) for _, c, conv in typed]
        #: field -> converter of every typed column (Kurs included), for the columnar path
        self.converters = {c.field: conv for c in self.columns if (conv := column_converter(c))}
        self.typed_values = itemgetter(*[i for i, _, _ in typed])

    def record(self, row: list[str], line: int) -> dict[str, Any]:
        n, name, warn = len(self.columns), self.filename, self.warn
        if len(row) != n:
            if len(row) < n or any(row[n:]):  # empty trailing fields are harmless
                warn(
                    f"{name} line {line}: {len(row)} fields instead of {n}; missing ones null, extra ignored"
                )
            row = (row + [""] * n)[:n]
        rec = self.template.copy()
        rec.update(compress(zip(self.fields, row, strict=True), row))  # the non-empty raw values only
        values = self.typed_values(row)
        present = compress(values, values)
        for (field_name, conv, german), raw in zip(compress(self.typed_meta, values), present, strict=True):
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
            booking_date, problem = self.resolver.resolve(row[9])
            if problem is not None:
                warn(f"{name} line {line}, field 'Belegdatum': {problem}")
        debit_credit: str | None = row[1]
        if debit_credit not in ("S", "H"):
            warn(f"{name} line {line}, field 'Soll/Haben-Kennzeichen': {debit_credit!r} is neither S nor H")
            debit_credit = None
        fill_derived(
            rec,
            self.ctx,
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
        return rec


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

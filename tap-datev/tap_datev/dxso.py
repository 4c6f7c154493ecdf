"""DXSO ledger XML (LedgerImport v040/v050/v060) -> booking lines. Bytes in, values out; no I/O.

A LedgerImport file holds one `consolidate` element (one invoice or cash transaction) with up to
5000 `accountsPayableLedger` / `accountsReceivableLedger` / `cashLedger` elements, each a flat list
of child elements (`date`, `amount`, `accountNo`, `bpAccountNo`, `currencyCode`, `invoiceId`, ...).

Parsed with expat directly: it reports the source line of each ledger element (ElementTree does not),
and a DOCTYPE (the door to entity expansion attacks) is refused outright.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from xml.parsers import expat

from tap_datev.booking_line import (
    ParseError,
    RecordContext,
    fill_derived,
    money,
    parse_signed_dot,
    scaled,
)

NAMESPACES: frozenset[str] = frozenset(
    f"http://xml.datev.de/bedi/tps/ledger/{v}" for v in ("v040", "v050", "v060")
)
LEDGERS: frozenset[str] = frozenset({"accountsPayableLedger", "accountsReceivableLedger", "cashLedger"})

# DXSO element -> booking_lines column field (text copied as is unless converted below).
_TEXT_COLUMNS: dict[str, str] = {
    "buCode": "bu_schluessel",
    "invoiceId": "belegfeld_1",
    "bookingText": "buchungstext",
    "costCategoryId": "kost1_kostenstelle",
    "costCategoryId2": "kost2_kostenstelle",
    "vatId": "eu_land_u_ustid_bestimmung",
    "typeOfReceivable": "forderungsart",
    "orderId": "auftragsnummer",
}
_INT_COLUMNS: dict[str, str] = {"accountNo": "konto", "bpAccountNo": "gegenkonto"}
_DATE_COLUMNS: dict[str, str] = {"deliveryDate": "leistungsdatum", "dueDate": "faelligkeit"}
_DECIMAL_COLUMNS: dict[str, tuple[str, int]] = {
    "discountAmount": ("skonto", 2),
    "costAmount": ("kost_menge", 4),
    "tax": ("steuersatz", 2),
}
# Handled by the record logic itself.
_CORE = {"date", "amount", "currencyCode", "exchangeRate", "supplierName", "customerName"}
_MAPPED = _CORE | set(_TEXT_COLUMNS) | set(_INT_COLUMNS) | set(_DATE_COLUMNS) | set(_DECIMAL_COLUMNS)


class DxsoError(ParseError):
    """An unreadable ledger XML; names file, line and element like ExtfError."""


@dataclass(frozen=True)
class DxsoLine:
    ledger: str  # accountsPayableLedger | accountsReceivableLedger | cashLedger
    line_number: int  # source line of the ledger element's start tag
    values: dict[str, str]  # child element local name -> text (NFC, stripped)
    namespace: str
    filename: str = "<bytes>"
    consolidate: dict[str, str] = field(default_factory=dict)  # attributes of <consolidate>


def _local(name: str) -> tuple[str, str]:
    # expat with namespace_separator=" " reports "namespace localname"
    ns, _, local = name.rpartition(" ")
    return ns, local


def read_ledger_xml(data: bytes, filename: str = "<bytes>") -> list[DxsoLine]:
    """All ledger lines of one LedgerImport file, in file order. Raises DxsoError when unreadable."""
    parser = expat.ParserCreate(namespace_separator=" ")
    lines: list[DxsoLine] = []
    consolidate: dict[str, str] = {}
    state: dict[str, Any] = {"ns": None, "depth": 0, "ledger": None, "child": None, "text": []}

    def fail(reason: str, element: str | None = None) -> None:
        raise DxsoError(filename, parser.CurrentLineNumber, element, reason)

    def start(name: str, attrs: dict[str, str]) -> None:
        ns, local = _local(name)
        depth = state["depth"] = state["depth"] + 1
        if depth == 1:
            if local != "LedgerImport" or ns not in NAMESPACES:
                fail(f"root element must be LedgerImport in {sorted(NAMESPACES)}, not {{{ns}}}{local}")
            state["ns"] = ns
        elif depth == 2 and local == "consolidate":
            consolidate.update({_local(k)[1]: _nfc(v) for k, v in attrs.items()})
        elif depth == 3 and local in LEDGERS:
            state["ledger"] = (local, parser.CurrentLineNumber, {})
        elif depth == 4 and state["ledger"] is not None:
            state["child"], state["text"] = local, []

    def end(name: str) -> None:
        depth = state["depth"]
        state["depth"] = depth - 1
        if depth == 4 and state["child"] is not None and state["ledger"] is not None:
            state["ledger"][2][state["child"]] = _nfc("".join(state["text"]).strip())
            state["child"] = None
        elif depth == 3 and state["ledger"] is not None:
            ledger, line, values = state["ledger"]
            lines.append(DxsoLine(ledger, line, values, state["ns"], filename, consolidate))
            state["ledger"] = None

    def chars(text: str) -> None:
        if state["child"] is not None:
            state["text"].append(text)

    def doctype(*_: Any) -> None:
        fail("a DOCTYPE is not allowed in a ledger XML")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.StartDoctypeDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise DxsoError(
            filename, exc.lineno, None, f"not well-formed XML: {expat.errors.messages[exc.code]}"
        ) from None
    if state["ns"] is None:
        raise DxsoError(filename, None, None, "no LedgerImport element found")
    return lines


def _nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _debit_credit(ledger: str, amount: Decimal) -> str:
    """S/H for `konto` (accountNo).

    Payables: a positive amount is an incoming invoice, the expense account is debited (S) against
    the creditor (bpAccountNo). Receivables and cash: a positive amount is revenue/receipt, the
    account is credited (H). A negative amount (credit note, cash out) flips the side.
    """
    debit = ledger == "accountsPayableLedger"
    if amount < 0:
        debit = not debit
    return "S" if debit else "H"


def booking_lines(
    lines: Iterable[DxsoLine],
    *,
    client_id: str,
    batch_id: str,
    job_id: str | None,
    job_result: str | None,
    labels: Mapping[str, str] | None = None,
    warnings: list[str] | None = None,
    line_base: int = 0,
) -> Iterator[dict[str, Any]]:
    """Records of schemas/booking_lines.json (kind "dxso"); unconvertible values become null and a
    message is appended to `warnings` when given.

    `line_number` is the ledger element's line in its file plus `line_base`: a DXSO job holding
    several ledger files under one batch_id needs a different base per file (the tap uses the line
    count of the package's earlier ledger files) to keep the key (client_id, batch_id, line_number)
    unique.
    """
    ctx = RecordContext(
        client_id, batch_id, job_id, job_result, "dxso", None, labels, [] if warnings is None else warnings
    )
    warn = ctx.warnings.append
    template = ctx.template()
    for line in lines:
        where = f"{line.filename} line {line.line_number}"
        v = line.values
        rec = template.copy()

        def number(element: str, where: str = where, v: dict[str, str] = v) -> Decimal | None:
            raw = v.get(element)
            if not raw:
                return None
            try:
                return parse_signed_dot(raw)
            except ValueError as exc:
                warn(f"{where}, field '{element}': {exc}")
                return None

        for element, column in _TEXT_COLUMNS.items():
            rec[column] = v.get(element) or None
        for element, column in _INT_COLUMNS.items():
            raw = v.get(element)
            if raw:
                if raw.isdigit() and raw.isascii():
                    rec[column] = int(raw)
                else:
                    warn(f"{where}, field '{element}': {raw!r} is not an account number")
        for element, column in _DATE_COLUMNS.items():
            rec[column] = _iso_date(v.get(element), where, element, warn)
        for element, (column, scale) in _DECIMAL_COLUMNS.items():
            value = number(element)
            rec[column] = None if value is None else scaled(abs(value), scale)
        booking_date = _iso_date(v.get("date"), where, "date", warn)
        if booking_date is not None:
            rec["belegdatum"] = booking_date[8:10] + booking_date[5:7]
        signed = number("amount")
        if signed is None:
            warn(f"{where}, field 'amount': missing or not a number")
        amount = None if signed is None else money(abs(signed))
        debit_credit = None if signed is None else _debit_credit(line.ledger, signed)
        rate = number("exchangeRate")
        currency = v.get("currencyCode") or line.consolidate.get("consolidatedCurrencyCode") or None
        rec["umsatz"] = amount
        rec["soll_haben_kennzeichen"] = debit_credit
        rec["wkz_umsatz"] = currency
        rec["kurs"] = None if rate is None else scaled(rate, 6)
        rec["partner_name"] = v.get("supplierName") or v.get("customerName") or None
        extra = {k: val for k, val in v.items() if k not in _MAPPED and val}
        extra["ledger"] = line.ledger
        extra["file"] = line.filename
        rec["extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True)
        fill_derived(
            rec,
            ctx,
            line_number=line_base + line.line_number,
            amount=amount,
            debit_credit=debit_credit,
            currency=currency,
            rate=rate,
            base=None,
            base_currency=None,
            booking_date=booking_date,
            filename=line.filename,
        )
        yield rec


def _iso_date(raw: str | None, where: str, element: str, warn: Any) -> str | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10]).isoformat()
    except ValueError:
        warn(f"{where}, field '{element}': {raw!r} is not a date YYYY-MM-DD")
        return None


def ledger_totals(lines: Iterable[DxsoLine]) -> tuple[int, Decimal | None, Decimal | None]:
    """(number of ledger lines, sum of the debit amounts, sum of the credit amounts): unsigned, per
    the side booking_lines gives `accountNo`, in each line's own currency. The sums are None when a
    line has no readable amount (booking_lines warns about that line)."""
    count = 0
    sums: dict[str, Decimal] | None = {"S": Decimal(0), "H": Decimal(0)}
    for line in lines:
        count += 1
        try:
            signed = parse_signed_dot(line.values.get("amount") or "")
        except ValueError:
            sums = None
            continue
        if sums is not None:
            sums[_debit_credit(line.ledger, signed)] += abs(signed)
    if sums is None:
        return count, None, None
    return count, sums["S"], sums["H"]

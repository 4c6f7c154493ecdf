"""The postings of an accepted EXTF Buchungsstapel as DATEV books them (Accounting Data Exchange fields).

Columns are read by position (DATEV's v700 layout, 1-based as in the format description); the year of
the four-digit Belegdatum comes from the fiscal year named in the header. Bytes in, postings out."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from datev_emulator.extf_check import date8, decode

CENT = Decimal("0.01")
RATE_STEP = Decimal("0.000001")  # exchangeRate: at most 6 decimals, minimum 1e-06
MAX_RATE = Decimal("99999.999999")
MARK_OF_ORIGIN = re.compile(r"[A-Z][A-Z0-9]?")
# Header field 20 (Rechnungslegungszweck) → AccountingSequence.accountingReason.
ACCOUNTING_REASONS = {
    "": "independent_from_accounting_reason",
    "0": "independent_from_accounting_reason",
    "11": "reserved1",
    "12": "reserved2",
    "30": "commercial_law",
    "40": "tax_law",
    "50": "for_calculation",
    "64": "ifrs",
}


@dataclass(frozen=True)
class ExtfBatch:
    """What the header says about the Buchungsstapel, in AccountingSequence terms."""

    fiscal_year_begin: date
    date_from: date | None
    date_to: date | None
    initials: str
    mark_of_origin: str | None
    is_committed: bool
    record_type: str
    accounting_reason: str


def _amount(text: str) -> Decimal | None:
    text = text.strip()
    if not re.fullmatch(r"\d{1,10},\d{1,2}|\d{1,10}", text):
        return None
    return Decimal(text.replace(",", ".")).quantize(CENT)


def _rows(data: bytes) -> list[list[str]] | None:
    text = decode(data)
    if text is None:
        return None
    return [[value.strip() for value in row] for row in csv.reader(text.splitlines(), delimiter=";")]


def read_batch(data: bytes) -> ExtfBatch | None:
    rows = _rows(data)
    if not rows or len(rows[0]) < 31:
        return None
    h = ["", *rows[0]]  # 1-based like DATEV's field numbers
    begin = date8(h[13])
    if begin is None:
        return None
    mark = h[8] if MARK_OF_ORIGIN.fullmatch(h[8]) else None
    return ExtfBatch(
        fiscal_year_begin=begin,
        date_from=date8(h[15]),
        date_to=date8(h[16]),
        initials=h[18][:2],
        mark_of_origin=mark,
        is_committed=h[21] == "1",
        record_type="annual_financial_statements" if h[19] == "2" else "financial_accounting",
        accounting_reason=ACCOUNTING_REASONS.get(h[20], "independent_from_accounting_reason"),
    )


def _posting_date(ttmm: str, year_begin: date, year_end: date) -> date | None:
    """Belegdatum TTMM placed in the fiscal year (a year from July holds July-December of its first
    calendar year and January-June of the next)."""
    if not re.fullmatch(r"\d{3,4}", ttmm):
        return None
    ttmm = ttmm.zfill(4)
    for year in (year_begin.year, year_end.year):
        try:
            day = date(year, int(ttmm[2:]), int(ttmm[:2]))
        except ValueError:
            continue
        if year_begin <= day <= year_end:
            return day
    return None


def _money(row: list[str], header_currency: str) -> tuple[Decimal, str, Decimal | None] | None:
    """(amount in the row's currency, the currency, exchange rate) as an AccountPosting carries them.

    The Accounting Data Exchange document states the amount in the posting's currency, not in EUR:
    CurrencyCode "indicates the currency used for the amount", and exchangeRate "stipulates how the
    amount stated and transferred in a foreign currency is to be translated into the base currency".
    So amountDebit/amountCredit keep the file's Umsatz and exchangeRate its Kurs (units of the currency
    per EUR, as in EXTF). DATEV books a foreign row only with a Kurs or a Basis-Umsatz in EUR; with the
    Basis-Umsatz alone the rate is Umsatz / Basis-Umsatz."""
    amount = _amount(row[1])
    if amount is None or amount == 0:
        return None
    currency = row[3] or header_currency or "EUR"
    if currency == "EUR":
        return amount, currency, None
    rate = Decimal(row[4].replace(",", ".")) if re.fullmatch(r"\d{1,4}(,\d{1,6})?", row[4]) else None
    if rate:
        return amount, currency, rate
    base = _amount(row[5])
    if base and row[6] == "EUR":
        derived = (amount / base).quantize(RATE_STEP, ROUND_HALF_UP)
        return (amount, currency, derived) if RATE_STEP <= derived <= MAX_RATE else None
    return None


def eur_amount(posting: dict[str, Any], key: str) -> Decimal:
    """A posting's amount (amountDebit or amountCredit) in EUR, DATEV's base currency: amount ÷
    exchangeRate, half-up to cents, as the tap converts it."""
    value: Decimal = posting[key]
    rate = posting.get("exchangeRate")
    if posting.get("currencyCode", "EUR") == "EUR" or not rate:
        return value
    return (value / rate).quantize(CENT, ROUND_HALF_UP)


def read_postings(
    data: bytes, sequence_id: int, year_begin: date, year_end: date
) -> Iterator[dict[str, Any]]:
    """The bookable rows of the file as AccountPosting objects (Decimal amounts). Rows DATEV would not
    book (no account, no amount, a date outside the fiscal year, a foreign amount without Kurs or EUR
    value)
    are left out."""
    rows = _rows(data)
    if not rows or len(rows[0]) < 31:
        return
    header = ["", *rows[0]]
    mark = header[8] if MARK_OF_ORIGIN.fullmatch(header[8]) else None
    record_type = "annual_financial_statements" if header[19] == "2" else "financial_accounting"
    for raw in rows[2:]:
        if not any(raw):
            continue
        row = ["", *raw, *([""] * max(0, 125 - len(raw)))]
        money = _money(row, header[22])
        account, contra = row[7], row[8]
        day = _posting_date(row[10], year_begin, year_end)
        if money is None or day is None or not account.isdigit() or not contra.isdigit():
            continue
        if not (1 <= int(account) <= 99_999_999 and 1 <= int(contra) <= 999_999_999):
            continue
        amount, currency, rate = money
        debit = row[2] == "S"
        posting: dict[str, Any] = {
            "accountNumber": int(account),
            "contraAccountNumber": int(contra),
            "amountDebit": amount if debit else Decimal("0.00"),
            "amountCredit": Decimal("0.00") if debit else amount,
            "accountingSequenceId": sequence_id,
            "date": day.isoformat(),
            "currencyCode": currency,
            "recordType": record_type,
            "generalReversal": row[118] == "1",
            "isOpeningBalancePosting": False,
        }
        if rate is not None:
            posting["exchangeRate"] = rate
        if row[9].isdigit() and 1 <= int(row[9]) <= 9999:
            posting["accountingTransactionKey"] = int(row[9])
        optional = {
            "documentField1": row[11][:36],
            "documentField2": row[12][:12],
            "postingDescription": row[14][:60],
            "kost1CostCenterId": row[37][:36],
            "kost2CostCenterId": row[38][:36],
        }
        posting.update({key: value for key, value in optional.items() if value})
        discount = _amount(row[13])
        if discount:
            posting["cashDiscount"] = discount
        delivery = row[115]
        if re.fullmatch(r"\d{8}", delivery):
            posting["deliveryDate"] = f"{delivery[4:]}-{delivery[2:4]}-{delivery[:2]}"
        if mark:
            posting["markOfOrigin"] = mark
        yield posting

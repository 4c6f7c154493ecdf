"""Turning one parsed booking line into a `booking_lines` record (shared by EXTF and DXSO).

Values in: raw text as the file holds it. Values out: JSON-ready record fields, money as strings with
exactly two decimals (never float), dates as ISO strings, signed amounts for both sides so that the
spend per GL account is a plain SUM over `account_amount_eur` (plus `contra_account_amount_eur` for
the contra side).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from tap_datev.extf_columns import BUCHUNGSSTAPEL_V13, Column

CENT = Decimal("0.01")
EUR = "EUR"

_UNSIGNED = re.compile(r"\d{1,13}(?:,\d+)?")  # 13 digits: fits DECIMAL(15, 2)
_TTMM = re.compile(r"\d{3,4}")
_DATE8 = re.compile(r"\d{8}")

#: Fields every booking_lines record carries besides the EXTF columns.
DERIVED_FIELDS: tuple[str, ...] = (
    "client_id",
    "batch_id",
    "job_id",
    "job_result",
    "kind",
    "line_number",
    "booking_date",
    "currency",
    "amount",
    "debit_credit",
    "account_amount",
    "contra_account_amount",
    "account_amount_eur",
    "contra_account_amount_eur",
    "is_general_reversal",
    "account_label",
    "contra_account_label",
    "partner_name",
    "extra",
)

#: All EXTF column fields of the one booking_lines schema (v13; older versions leave the rest null).
COLUMN_FIELDS: tuple[str, ...] = tuple(c.field for c in BUCHUNGSSTAPEL_V13)


class ParseError(ValueError):
    """A file problem naming the file, line and field: "EXTF_x.csv line 7, field 'Umsatz': <reason>"."""

    def __init__(self, filename: str, line: int | None, field: str | None, reason: str) -> None:
        self.filename = filename
        self.line = line
        self.field = field
        self.reason = reason
        where = filename if line is None else f"{filename} line {line}"
        if field is not None:
            where = f"{where}, field '{field}'"
        super().__init__(f"{where}: {reason}")


# --- raw value parsers (raise ValueError with a message a user can act on) ------------------------


def parse_unsigned(raw: str) -> Decimal:
    """EXTF number: digits with an optional decimal comma, no sign, no thousands separator."""
    if not _UNSIGNED.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a number like 1234,50 (decimal comma, no thousands separator)")
    return Decimal(raw.replace(",", "."))


def parse_signed_dot(raw: str) -> Decimal:
    """XML decimal (DXSO): optional sign, decimal point."""
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a decimal number like -1234.50") from None
    if not value.is_finite():
        raise ValueError(f"{raw!r} is not a finite number")
    return value


def money(value: Decimal) -> str:
    """Exactly two decimals, half-up; never '-0.00'."""
    q = value.quantize(CENT, ROUND_HALF_UP)
    return "0.00" if q == 0 else f"{q:f}"  # "f": never exponent notation


def scaled(value: Decimal, scale: int) -> str:
    """Exactly `scale` decimals, half-up."""
    return f"{value.quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP):f}"


def parse_int(raw: str) -> int:
    if not raw.isdigit() or not raw.isascii():
        raise ValueError(f"{raw!r} is not a whole number (digits only)")
    return int(raw)


def parse_date8(raw: str) -> str:
    """TTMMJJJJ -> ISO date."""
    if not _DATE8.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a date TTMMJJJJ")
    try:
        return date(int(raw[4:]), int(raw[2:4]), int(raw[:2])).isoformat()
    except ValueError:
        raise ValueError(f"{raw!r} is an impossible date (TTMMJJJJ)") from None


def column_converter(col: Column) -> Callable[[str], Any] | None:
    """Record value from raw text for one typed column; None for text columns (kept as is)."""
    if col.kind == "int":
        return parse_int
    if col.kind == "date":
        return parse_date8
    if col.kind == "amount":
        return amount_text
    if col.kind == "decimal":
        scale = col.scale

        def convert(raw: str) -> str:
            return scaled(parse_unsigned(raw), scale)

        return convert
    return None


# --- Belegdatum (TTMM) -> full date --------------------------------------------------------------


def fiscal_year_end(start: date) -> date:
    """Last day of the fiscal year beginning at `start` (WJ-Beginn)."""
    try:
        return start.replace(year=start.year + 1) - timedelta(days=1)
    except ValueError:  # a fiscal year starting on 29 Feb
        return start.replace(year=start.year + 1, day=28)


class DateResolver:
    """Resolves TTMM to the full date inside the batch period.

    The period is the header's `Datum vom`..`Datum bis` (which lie within one fiscal year starting at
    `WJ-Beginn`); without them, the fiscal year itself. A fiscal year need not start in January:
    vom 20250701 / bis 20260630 gives 0101 -> 2026-01-01 and 1507 -> 2025-07-15.
    Results are cached per TTMM value: a batch has at most 366 distinct ones.
    """

    def __init__(self, date_from: date | None, date_to: date | None, fiscal_year_start: date | None) -> None:
        self._period: tuple[date, date] | None = None
        if date_from and date_to and date_from <= date_to:
            self._period = (date_from, date_to)
        elif fiscal_year_start:
            self._period = (fiscal_year_start, fiscal_year_end(fiscal_year_start))
        self._cache: dict[str, tuple[str | None, str | None]] = {}

    def resolve(self, raw: str) -> tuple[str | None, str | None]:
        """(ISO date or None, problem or None). A possible date outside the period comes back with
        the period's first year and a problem."""
        hit = self._cache.get(raw)
        if hit is None:
            hit = self._cache[raw] = self._resolve(raw)
        return hit

    def _resolve(self, raw: str) -> tuple[str | None, str | None]:
        if not _TTMM.fullmatch(raw):
            return None, f"{raw!r} is not a date TTMM (day and month, 4 digits)"
        ttmm = raw.zfill(4)
        day, month = int(ttmm[:2]), int(ttmm[2:])
        if self._period is None:
            return None, "the header has neither Datum vom/bis nor WJ-Beginn to supply the year"
        start, end = self._period
        possible: list[date] = []
        for year in range(start.year, end.year + 1):
            try:
                candidate = date(year, month, day)
            except ValueError:
                continue
            if start <= candidate <= end:
                return candidate.isoformat(), None
            possible.append(candidate)
        if not possible:
            return None, f"{ttmm} is an impossible date (day {day}, month {month})"
        return (
            possible[0].isoformat(),
            f"{ttmm} lies outside the header period Datum vom {start:%d.%m.%Y} .. Datum bis {end:%d.%m.%Y}",
        )


# --- the record ------------------------------------------------------------------------------------

#: Every field of a booking_lines record.
RECORD_FIELDS: tuple[str, ...] = COLUMN_FIELDS + DERIVED_FIELDS

# An unsigned amount already in canonical form apart from the comma: the hot path needs no Decimal.
_CANONICAL = re.compile(r"(?:0|[1-9]\d{0,12}),\d\d")


def amount_text(raw: str) -> str:
    """Unsigned EXTF amount -> '1234.50' (exactly two decimals); ValueError when not an amount."""
    if _CANONICAL.fullmatch(raw):
        return raw.replace(",", ".")
    return money(parse_unsigned(raw))


def negate(text: str) -> str:
    """Negation of a canonical money string (no '-0.00')."""
    if text[0] == "-":
        return text[1:]
    return text if text == "0.00" else "-" + text


@dataclass
class RecordContext:
    """Per-file settings of the records and where warnings go."""

    client_id: str
    batch_id: str
    job_id: str | None
    job_result: str | None
    kind: str
    default_currency: str | None
    labels: Mapping[str, str] | None = None
    warnings: list[str] = field(default_factory=list)

    def template(self) -> dict[str, Any]:
        """A record with every field null except the per-file constants; copied per line."""
        rec: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
        rec.update(
            client_id=self.client_id,
            batch_id=self.batch_id,
            job_id=self.job_id,
            job_result=self.job_result,
            kind=self.kind,
            is_general_reversal=False,
        )
        return rec


def eur_text(
    amount: str, currency: str | None, rate: Decimal | None, base: str | None, base_currency: str | None
) -> str | None:
    """EUR value of an unsigned amount; None when the line does not give one.

    The EUR rule, from DATEV's field definitions (README "Sign convention" says the same):
    1. booking currency (WKZ Umsatz, else the header's WKZ) EUR: Umsatz (a Kurs on it means nothing);
    2. Basis-Umsatz whose own WKZ Basis-Umsatz is EUR: Basis-Umsatz (DATEV's EUR figure);
    3. a Kurs: Umsatz ÷ Kurs, rounded half-up to cents;
    4. otherwise none (a Basis-Umsatz in another currency, or without its WKZ, is not EUR).
    """
    if currency == EUR:
        return amount
    if base is not None and base_currency == EUR:
        return base
    if rate:
        return money(Decimal(amount) / rate)
    return None


def _datev_money(text: str) -> str:
    return text.replace(".", ",")


def no_eur_warning(
    amount: str, currency: str | None, rate: Decimal | None, base: str | None, base_currency: str | None
) -> str:
    """What the line had instead of an EUR amount, in the file's own notation."""
    parts = [f"Umsatz {_datev_money(amount)} {currency or '(no WKZ)'}"]
    if base is not None:
        parts.append(f"Basis-Umsatz {_datev_money(base)} {base_currency or '(no WKZ Basis-Umsatz)'}")
    parts.append("no Kurs" if rate is None else f"Kurs {rate} (0 is not a rate)")
    return ", ".join(parts) + ": no EUR amount"


def fill_derived(
    rec: dict[str, Any],
    ctx: RecordContext,
    *,
    line_number: int,
    amount: str | None,
    debit_credit: str | None,
    currency: str | None,
    rate: Decimal | None,
    base: str | None,
    base_currency: str | None,
    booking_date: str | None,
    filename: str,
) -> None:
    """Adds the derived fields to `rec` (a copy of ctx.template() holding the column fields).

    `amount` and `base` are canonical unsigned money strings (amount_text / money).
    """
    rec["line_number"] = line_number
    rec["booking_date"] = booking_date
    currency = currency or ctx.default_currency
    rec["currency"] = currency
    rec["debit_credit"] = debit_credit
    rec["amount"] = amount
    if amount is not None:
        eur = eur_text(amount, currency, rate, base, base_currency)
        if eur is None:
            warning = no_eur_warning(amount, currency, rate, base, base_currency)
            ctx.warnings.append(f"{filename} line {line_number}: {warning}")
        if debit_credit == "S":
            rec["account_amount"], rec["contra_account_amount"] = amount, negate(amount)
            if eur is not None:
                rec["account_amount_eur"], rec["contra_account_amount_eur"] = eur, negate(eur)
        elif debit_credit == "H":
            rec["account_amount"], rec["contra_account_amount"] = negate(amount), amount
            if eur is not None:
                rec["account_amount_eur"], rec["contra_account_amount_eur"] = negate(eur), eur
    # Generalumkehr: DATEV's file already carries the flipped S/H, so only flag it (no second negation).
    if rec["generalumkehr"] == "1":
        rec["is_general_reversal"] = True
    labels = ctx.labels
    if labels:
        konto, gegenkonto = rec["konto"], rec["gegenkonto"]
        if konto is not None:
            rec["account_label"] = labels.get(str(konto))
        if gegenkonto is not None:
            rec["contra_account_label"] = labels.get(str(gegenkonto))

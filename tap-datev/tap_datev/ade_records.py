"""Accounting Data Exchange objects → records: camelCase → snake_case, exact decimals as strings,
and for account postings the booking_lines sign convention and key.

Sign convention (README "Sign convention", as booking_lines): an AccountPosting is given from its
account's side (`amountDebit` = Soll, `amountCredit` = Haben). `account_amount` = debit - credit
(debit positive), `contra_account_amount` its negation, `debit_credit` S or H for the account, `amount`
unsigned. EUR by the booking_lines rule without Basis-Umsatz (ADE has none): currency EUR → the
amount; an exchange rate → amount ÷ rate, half-up to cents; otherwise no EUR amount.

The amounts are in the posting's currency, not in EUR: the OpenAPI document (1.5.8) says CurrencyCode
"indicates the currency used for the amount" and exchangeRate (Fremdwährungskurs) "stipulates how the
amount stated and transferred in a foreign currency is to be translated into the base currency" - the
Kurs of EXTF, units of the currency per EUR, hence the division.
"""

from __future__ import annotations

import re
import typing as t
from decimal import ROUND_HALF_UP, Decimal

from tap_datev.booking_line import EUR, money, negate
from tap_datev.errors import TapDatevError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

# Decimal columns of the ADE objects: API name → scale (the schemas declare the same precision).
DECIMAL_SCALES: dict[str, int] = {
    "amountDebit": 2,
    "amountCredit": 2,
    "cashDiscount": 2,
    "exchangeRate": 6,
    "taxRate": 2,
    "euTaxRate": 2,
    "euTaxRateForCountryOfOrigin": 2,
    "kostQuantity": 4,
    "quantity": 2,
    "weight": 2,
    "cashDiscount1Percentage": 2,
    "cashDiscount2Percentage": 2,
    "openingBalanceDebit": 2,
    "openingBalanceCredit": 2,
    "annualValueDebit": 2,
    "annualValueCredit": 2,
    "balance": 2,
    "monthlyBalance": 2,
}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class AdeValueError(TapDatevError, ValueError):
    """A value that has no exact column: names the object and field."""


def snake(name: str) -> str:
    """`accountingSequenceId` → `accounting_sequence_id`, `kost1CostCenterId` → `kost1_cost_center_id`."""
    return _CAMEL.sub("_", name).lower()


def exact(value: t.Any, scale: int, where: str) -> str:
    """A JSON number (int or Decimal) as text with exactly `scale` decimals; never rounds."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise AdeValueError(f"{where}: {value!r} is not a number")
    number = Decimal(value)
    step = Decimal(1).scaleb(-scale)
    quantized = number.quantize(step, ROUND_HALF_UP)
    if quantized != number:
        raise AdeValueError(f"{where}: {value} has more than {scale} decimals")
    return f"{quantized.copy_abs() if quantized == 0 else quantized:f}"  # never "-0.00"


def flat(obj: Mapping[str, t.Any], where: str, prefix: str = "") -> dict[str, t.Any]:
    """An ADE object's fields as columns: nested objects flattened with their name as prefix, lists
    kept (as arrays of flattened objects), decimals as exact strings."""
    out: dict[str, t.Any] = {}
    for key, value in obj.items():
        column = prefix + snake(key)
        if isinstance(value, dict):
            out.update(flat(value, where, column + "_"))
        elif isinstance(value, list):
            out[column] = [flat(v, where) if isinstance(v, dict) else v for v in value]
        elif key in DECIMAL_SCALES and value is not None:
            out[column] = exact(value, DECIMAL_SCALES[key], f"{where}, field {key}")
        elif isinstance(value, Decimal):
            out[column] = f"{value:f}"
        else:
            out[column] = value
    return out


def _amount(posting: Mapping[str, t.Any], key: str, where: str) -> Decimal:
    value = posting.get(key)
    return Decimal(exact(value, 2, f"{where}, field {key}")) if value is not None else Decimal(0)


def posting_columns(
    posting: Mapping[str, t.Any], default_currency: str | None, where: str
) -> dict[str, t.Any]:
    """The derived booking columns of one AccountPosting (see the module docstring)."""
    debit = _amount(posting, "amountDebit", where)
    credit = _amount(posting, "amountCredit", where)
    net = debit - credit
    side = "H" if net < 0 or (net == 0 and credit != 0) else "S"
    account_amount = money(net)
    amount = money(abs(net))
    currency = posting.get("currencyCode") or default_currency
    rate = posting.get("exchangeRate")
    eur: str | None = None
    if currency == EUR:
        eur = account_amount
    elif rate:
        eur = money(net / Decimal(rate))
    return {
        "currency": currency,
        "debit_credit": side,
        "amount": amount,
        "account_amount": account_amount,
        "contra_account_amount": negate(account_amount),
        "account_amount_eur": eur,
        "contra_account_amount_eur": negate(eur) if eur is not None else None,
        "is_general_reversal": bool(posting.get("generalReversal")),
    }

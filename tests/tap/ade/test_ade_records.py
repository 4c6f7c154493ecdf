"""AccountPosting lines → record columns: numbers straight to Decimal (never through float), exact
decimal text or a clear error, and the booking_lines sign and EUR rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tap_datev.ade_client import content_hash, parse_line
from tap_datev.ade_records import AdeValueError, exact, flat, posting_columns


def test_numbers_are_read_as_decimals_exactly() -> None:
    # 0.1 + 0.2 through float is 0.30000000000000004; 17 significant digits do not survive a float.
    posting = parse_line(b'{"amountDebit":0.1,"amountCredit":0.2,"quantity":12345678.90123457}')
    assert posting["amountDebit"] + posting["amountCredit"] == Decimal("0.3")
    assert posting["quantity"] == Decimal("12345678.90123457")


def test_decimals_keep_their_scale_or_fail_naming_the_field() -> None:
    assert exact(Decimal("1234.5"), 2, "x") == "1234.50"
    assert exact(7, 2, "x") == "7.00"
    assert exact(Decimal("-0"), 2, "x") == "0.00"
    with pytest.raises(AdeValueError, match=r"posting 3, field amountDebit: 1\.005 has more than 2 decimals"):
        flat({"amountDebit": Decimal("1.005")}, "posting 3")


@pytest.mark.parametrize(
    ("debit", "credit", "side", "account_amount"),
    [("119.00", "0", "S", "119.00"), ("0", "1234.56", "H", "-1234.56"), ("0", "0", "S", "0.00")],
)
def test_sides_follow_the_booking_lines_convention(
    debit: str, credit: str, side: str, account_amount: str
) -> None:
    posting = {"amountDebit": Decimal(debit), "amountCredit": Decimal(credit), "currencyCode": "EUR"}
    columns = posting_columns(posting, "EUR", "x")
    assert columns["debit_credit"] == side
    assert columns["account_amount"] == columns["account_amount_eur"] == account_amount
    assert Decimal(columns["contra_account_amount"]) == -Decimal(account_amount)
    assert columns["amount"] == account_amount.lstrip("-")


def test_eur_by_the_booking_lines_rule_without_basis_umsatz() -> None:
    usd = {
        "amountDebit": Decimal("1100.00"),
        "amountCredit": 0,
        "currencyCode": "USD",
        "exchangeRate": Decimal("1.1"),
    }
    assert posting_columns(usd, "EUR", "x")["account_amount_eur"] == "1000.00"
    no_rate = {"amountCredit": Decimal("10.00"), "currencyCode": "CHF"}
    columns = posting_columns(no_rate, "EUR", "x")
    assert (columns["account_amount"], columns["account_amount_eur"]) == ("-10.00", None)
    assert posting_columns({"amountDebit": Decimal("5.00")}, "EUR", "x")["currency"] == "EUR"


def test_the_content_hash_ignores_key_order_and_sees_every_value() -> None:
    one = parse_line(b'{"accountNumber":4830,"amountDebit":2083.33,"date":"2026-01-31"}')
    same = parse_line(b'{"date":"2026-01-31","amountDebit":2083.33,"accountNumber":4830}')
    other = parse_line(b'{"accountNumber":4830,"amountDebit":2083.34,"date":"2026-01-31"}')
    assert content_hash(one) == content_hash(same) != content_hash(other)

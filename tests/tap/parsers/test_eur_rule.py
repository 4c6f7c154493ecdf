"""The one EUR rule of booking_lines (booking_line.eur_text; README "Sign convention"), branch by branch.

1. booking currency EUR → Umsatz (a Kurs on an EUR row is meaningless and ignored);
2. Basis-Umsatz with WKZ Basis-Umsatz EUR → Basis-Umsatz;
3. a Kurs → Umsatz ÷ Kurs, half-up to cents;
4. otherwise no EUR amount, and one warning naming the line and what it had.
"""

from __future__ import annotations

import typing as t

import pytest
from extf_builder import booking, extf_bytes, q

from tap_datev import extf

# Columns: 3 WKZ Umsatz, 4 Kurs, 5 Basis-Umsatz, 6 WKZ Basis-Umsatz.


def _line(amount: str, sh: str = "S", **fields: str) -> list[str]:
    at = {3: q(fields.get("wkz", "")), 4: fields.get("kurs", ""), 5: fields.get("basis", "")}
    at[6] = q(fields["basis_wkz"]) if "basis_wkz" in fields else ""
    return booking(amount, sh, at=at)


def _eur(*lines: list[str], header_wkz: str = "EUR") -> tuple[list[dict[str, t.Any]], list[str]]:
    f = extf.read_extf(extf_bytes(lines, header={22: q(header_wkz)}), "EXTF_eur.csv")
    recs = list(extf.booking_lines(f, client_id="29098-55003", batch_id="b", job_id=None, job_result=None))
    return recs, f.warnings


@pytest.mark.parametrize(
    ("line", "account_eur"),
    [
        # 1. EUR row: Umsatz, whatever else the line carries
        (_line("100,00"), "100.00"),  # WKZ from the header
        (_line("100,00", "H", wkz="EUR"), "-100.00"),
        (_line("100,00", wkz="EUR", kurs="1,100000"), "100.00"),  # Kurs on EUR is meaningless
        (_line("100,00", wkz="EUR", basis="90,00", basis_wkz="USD"), "100.00"),
        # 2. Basis-Umsatz in EUR, before any Kurs
        (_line("124,00", "H", wkz="CHF", kurs="1,240402", basis="100,00", basis_wkz="EUR"), "-100.00"),
        (_line("50,00", wkz="USD", basis="45,55", basis_wkz="EUR"), "45.55"),
        # 3. Kurs: Umsatz ÷ Kurs, half up
        (_line("10,01", wkz="USD", kurs="2,0"), "5.01"),
        (_line("14,40", wkz="USD", kurs="1,2", basis="12,00", basis_wkz="USD"), "12.00"),
    ],
)
def test_eur_amount(line: list[str], account_eur: str) -> None:
    (rec,), warnings = _eur(line)
    assert rec["account_amount_eur"] == account_eur
    assert rec["contra_account_amount_eur"] == (
        account_eur[1:] if account_eur[0] == "-" else "-" + account_eur
    )
    assert warnings == []


@pytest.mark.parametrize(
    ("line", "had"),
    [
        (
            _line("14,40", wkz="USD", basis="12,00", basis_wkz="USD"),
            "Umsatz 14,40 USD, Basis-Umsatz 12,00 USD, no Kurs",
        ),
        (_line("3,00", wkz="GBP"), "Umsatz 3,00 GBP, no Kurs"),
        (
            _line("3,00", wkz="GBP", basis="2,50"),
            "Umsatz 3,00 GBP, Basis-Umsatz 2,50 (no WKZ Basis-Umsatz), no Kurs",
        ),
    ],
)
def test_no_eur_amount_warns_once_naming_line_and_what_was_there(line: list[str], had: str) -> None:
    recs, warnings = _eur(_line("1,00"), line)  # lines 3 (EUR) and 4
    rec = recs[1]
    assert (rec["account_amount_eur"], rec["contra_account_amount_eur"]) == (None, None)
    assert rec["account_amount"] is not None  # the booking-currency amount still lands
    assert warnings == [f"EXTF_eur.csv line 4: {had}: no EUR amount"]


def test_header_currency_decides_rows_without_wkz() -> None:
    (rec,), warnings = _eur(_line("20,00", kurs="0,800000"), header_wkz="CHF")
    assert (rec["currency"], rec["account_amount_eur"]) == ("CHF", "25.00")
    assert warnings == []

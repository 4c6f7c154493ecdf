"""What the tax advisor books in DATEV directly (payroll, depreciation, opening balances, closing entries),
so the ledger differs from the EXTF batches the company submitted, as it does in life.

Kept in the store's "ledger" document: per client and fiscal year a list of accounting sequences, each
with its postings (amounts as decimal strings) or a count of generated postings (bulk test data made
on read, never stored)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")
ADE_SCOPE = "datev:accounting:exchange"
POSTING_FIELDS = frozenset(
    {
        "accountNumber",
        "contraAccountNumber",
        "amountDebit",
        "amountCredit",
        "date",
        "postingDescription",
        "documentField1",
        "documentField2",
        "kost1CostCenterId",
        "kost2CostCenterId",
        "accountingTransactionKey",
        "taxRate",
    }
)
AMOUNT_FIELDS = ("amountDebit", "amountCredit")
# The advisor's accounts in the client's chart (DATEV Kontenrahmen SKR03 = 3, SKR04 = 4): the two
# number the same accounts differently (SKR04's class 4 is revenue, where SKR03 books salaries).
ADVISOR_ACCOUNTS: dict[int, dict[str, int]] = {
    3: {
        "bank": 1200,
        "opening_balances": 9000,
        "machines": 210,
        "salaries": 4120,
        "social_security": 4130,
        "wages_payable": 1740,
        "social_security_payable": 1742,
        "depreciation": 4830,
        "audit_costs": 4957,
        "audit_provision": 977,
        "advice_costs": 4950,
        "other_provisions": 970,
    },
    4: {
        "bank": 1800,
        "opening_balances": 9000,
        "machines": 440,
        "salaries": 6020,
        "social_security": 6110,
        "wages_payable": 3720,
        "social_security_payable": 3740,
        "depreciation": 6220,
        "audit_costs": 6827,
        "audit_provision": 3095,
        "advice_costs": 6825,
        "other_provisions": 3070,
    },
}
# Expense accounts the generated bulk postings rotate over (SKR03), against the bank account.
BULK_ACCOUNTS = (4210, 4240, 4360, 4530, 4610, 4900, 4930, 4950)


def fiscal_year_id(begin: str) -> int:
    """`2025-01-01` → 20250101, DATEV's fiscalYearId."""
    return int(begin.replace("-", ""))


def _month_ends(begin: date, months: int) -> list[date]:
    ends = []
    for i in range(months):
        month = begin.month - 1 + i
        first_next = date(begin.year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
        ends.append(first_next - timedelta(days=1))
    return ends


def _posting(
    posting_id: str, accounts: tuple[int, int], debit: str, day: date, texts: tuple[str, str], **extra: Any
) -> dict[str, Any]:
    """A stored advisor posting: (account, contra account), debit amount, (description, document)."""
    return {
        "posting_id": posting_id,
        "accountNumber": accounts[0],
        "contraAccountNumber": accounts[1],
        "amountDebit": debit,
        "amountCredit": "0.00",
        "date": day.isoformat(),
        "postingDescription": texts[0],
        "documentField1": texts[1],
        "currencyCode": "EUR",
        "generalReversal": False,
        "isOpeningBalancePosting": False,
        **extra,
    }


def _sequence(
    number: int,
    dates: tuple[date, date],
    mark: str,
    committed: bool,
    postings: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "accountingSequenceId": number,
        "accountingSequenceNumber": str(number),
        "dateFrom": dates[0].isoformat(),
        "dateTo": dates[1].isoformat(),
        "initials": "SB",
        "markOfOrigin": mark,
        "isCommitted": committed,
        "recordType": "financial_accounting",
        "accountingReason": "independent_from_accounting_reason",
        "inspectionStatus": "not_specified",
        "postings": postings,
        "generated": 0,
        **extra,
    }


def advisor_year(
    client_number: int, begin: date, end: date, is_open: bool, chart: int = 3
) -> list[dict[str, Any]]:
    """The advisor's sequences of one fiscal year, on the accounts of the client's chart (`chart`: 3 or
    4). A past year is committed throughout and has its closing entries; the open year's depreciation
    is still uncommitted (the advisor may change it)."""
    a = ADVISOR_ACCOUNTS[chart]
    factor = Decimal(client_number % 100) / 10  # 55003 → 0.3: each client's figures differ a little
    months = _month_ends(begin, 10 if is_open else 12)
    salary = str((Decimal("18450.00") + factor * 1000).quantize(CENT))
    social = str((Decimal(salary) * Decimal("0.2")).quantize(CENT))
    depreciation = str((Decimal("25000.00") / 12).quantize(CENT))  # 2083.33 a month
    opening_entries = [
        _posting(
            "eb-1",
            (a["bank"], a["opening_balances"]),
            "125000.00",
            begin,
            ("Saldovortrag Bank", "EB"),
            isOpeningBalancePosting=True,
        ),
        _posting(
            "eb-2",
            (a["machines"], a["opening_balances"]),
            "250000.00",
            begin,
            ("Saldovortrag Maschinen", "EB"),
            isOpeningBalancePosting=True,
        ),
    ]
    payroll = [
        _posting(
            f"lohn-{i}-{n}",
            accounts,
            amount,
            day,
            (f"{text} {day:%m/%Y}", f"LA-{day:%Y-%m}"),
            kost1CostCenterId="100",
        )
        for i, day in enumerate(months, 1)
        for n, accounts, amount, text in (
            (1, (a["salaries"], a["wages_payable"]), salary, "Gehälter"),
            (2, (a["social_security"], a["social_security_payable"]), social, "Soziale Abgaben"),
        )
    ]
    afa = [
        _posting(
            f"afa-{i}",
            (a["depreciation"], a["machines"]),
            depreciation,
            day,
            (f"AfA Maschinen {day:%m/%Y}", f"AfA-{day:%Y-%m}"),
        )
        for i, day in enumerate(months, 1)
    ]
    sequences = [
        _sequence(1, (begin, begin), "EB", True, opening_entries),
        _sequence(2, (begin, months[-1]), "LG", True, payroll),
        _sequence(3, (begin, months[-1]), "AN", not is_open, afa),
    ]
    if not is_open:
        closing = [
            _posting(
                f"ja-{n}", accounts, amount, end, (text, f"JA-{n}"), recordType="annual_financial_statements"
            )
            for n, accounts, amount, text in (
                (1, (a["audit_costs"], a["audit_provision"]), "4500.00", "Rückstellung Jahresabschluss"),
                (2, (a["advice_costs"], a["other_provisions"]), "1250.00", "Rückstellung Steuerberatung"),
            )
        ]
        sequences.append(
            _sequence(4, (end, end), "JA", True, closing, recordType="annual_financial_statements")
        )
    return sequences


def seed_ledger(clients: list[dict[str, Any]]) -> dict[str, Any]:
    """The advisor's bookings for every client that booked the Datenservice Export Rechnungswesen."""
    advisor: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for client in clients:
        if not any(ADE_SCOPE in service["scopes"] for service in client["services"]):
            continue
        years = sorted(client["basic_accounting_information"], key=lambda y: y["fiscal_year_start"])
        advisor[client["id"]] = {
            str(fiscal_year_id(year["fiscal_year_start"])): advisor_year(
                client["client_number"],
                date.fromisoformat(year["fiscal_year_start"]),
                date.fromisoformat(year["fiscal_year_end"]),
                is_open=year is years[-1],
                chart=year.get("datev_chart_of_accounts") or 3,
            )
            for year in years
        }
    return {"advisor": advisor, "extf_sequences": {}}


def generated_postings(sequence: dict[str, Any], begin: date, end: date) -> Iterator[dict[str, Any]]:
    """`sequence["generated"]` deterministic postings spread over the fiscal year (bulk test data)."""
    days = (end - begin).days + 1
    number = sequence["accountingSequenceId"]
    for i in range(sequence["generated"]):
        yield {
            "accountNumber": BULK_ACCOUNTS[i % len(BULK_ACCOUNTS)],
            "contraAccountNumber": 1200,
            "amountDebit": (Decimal(1000 + (i * 7919) % 900_000) / 100).quantize(CENT),
            "amountCredit": Decimal("0.00"),
            "accountingSequenceId": number,
            "date": (begin + timedelta(days=i % days)).isoformat(),
            "postingDescription": f"Sammelbuchung {number}-{i + 1}",
            "documentField1": f"SB-{number}-{i + 1}",
            "currencyCode": "EUR",
            "generalReversal": False,
            "isOpeningBalancePosting": False,
        }


def stored_posting(posting: dict[str, Any], sequence: dict[str, Any]) -> dict[str, Any]:
    """A stored advisor posting as an AccountPosting (Decimal amounts, no emulator-only keys)."""
    out = {k: v for k, v in posting.items() if k != "posting_id"}
    for key in AMOUNT_FIELDS:
        out[key] = Decimal(out[key])
    out["accountingSequenceId"] = sequence["accountingSequenceId"]
    out.setdefault("recordType", sequence["recordType"])
    out.setdefault("markOfOrigin", sequence["markOfOrigin"])
    return out


def change_posting(posting: dict[str, Any], changes: dict[str, Any]) -> None:
    unknown = sorted(set(changes) - POSTING_FIELDS)
    if unknown:
        raise ValueError(f"cannot change {unknown}: changeable fields are {sorted(POSTING_FIELDS)}")
    for key, value in changes.items():
        posting[key] = str(Decimal(str(value)).quantize(CENT)) if key in AMOUNT_FIELDS else value

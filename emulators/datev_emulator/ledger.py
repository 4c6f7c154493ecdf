"""The booked ledger of a client's fiscal year as the Accounting Data Exchange API reads it: the advisor's
sequences plus one sequence per EXTF Buchungsstapel whose import job succeeded, filed in the fiscal year
its header names. Sums and balances and booked accounts are computed from the same postings."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from datev_emulator.advisor import fiscal_year_id, generated_postings, stored_posting
from datev_emulator.context import Context
from datev_emulator.extf_postings import eur_amount, read_batch, read_postings

EXTF_BATCH_CATEGORY = 21
FIRST_EXTF_SEQUENCE = 100
ZERO = Decimal("0.00")
# Captions the emulator's advisor maintains (≤ 40 characters, as DATEV's captions), per chart.
SKR03_CAPTIONS = {
    210: "Maschinen",
    970: "Sonstige Rückstellungen",
    977: "Rückstellungen für Abschluss und Prüfung",
    1000: "Kasse",
    1200: "Bank",
    1400: "Forderungen aus Lieferungen und Leistung",
    1576: "Abziehbare Vorsteuer 19 %",
    1600: "Verbindlichkeiten aus Lieferungen u. L.",
    1740: "Verbindlichkeiten aus Lohn und Gehalt",
    1742: "Verbindlichkeiten soziale Sicherheit",
    1776: "Umsatzsteuer 19 %",
    3400: "Wareneingang 19 % Vorsteuer",
    4120: "Gehälter",
    4130: "Gesetzliche soziale Aufwendungen",
    4210: "Miete",
    4240: "Gas, Strom, Wasser",
    4360: "Versicherungen",
    4530: "Laufende Kfz-Betriebskosten",
    4610: "Werbekosten",
    4830: "Abschreibungen auf Sachanlagen",
    4900: "Sonstige betriebliche Aufwendungen",
    4930: "Bürobedarf",
    4950: "Rechts- und Beratungskosten",
    4957: "Abschluss- und Prüfungskosten",
    8400: "Erlöse 19 % USt",
    9000: "Saldenvorträge, Sachkonten",
    10000: "Müller Anlagenbau GmbH",
    70000: "Schmidt Stahlhandel GmbH",
}
SKR04_CAPTIONS = {
    440: "Maschinen",
    1800: "Bank",
    3070: "Sonstige Rückstellungen",
    3095: "Rückstellungen für Abschluss und Prüfung",
    3720: "Verbindlichkeiten aus Lohn und Gehalt",
    3740: "Verbindlichkeiten soziale Sicherheit",
    6020: "Gehälter",
    6110: "Gesetzliche soziale Aufwendungen",
    6220: "Abschreibungen auf Sachanlagen",
    6825: "Rechts- und Beratungskosten",
    6827: "Abschluss- und Prüfungskosten",
    9000: "Saldenvorträge, Sachkonten",
}


def captions(year: FiscalYear) -> dict[int, str]:
    """The captions of the year's chart of accounts (SKR04 = 4; anything else is read as SKR03)."""
    return SKR04_CAPTIONS if year.basics.get("datev_chart_of_accounts") == 4 else SKR03_CAPTIONS


SEQUENCE_FIELDS = (
    "accountingSequenceId",
    "accountingSequenceNumber",
    "dateFrom",
    "dateTo",
    "initials",
    "inspectionStatus",
    "markOfOrigin",
    "isCommitted",
    "recordType",
    "accountingReason",
)


@dataclass(frozen=True)
class FiscalYear:
    id: int
    begin: date
    end: date
    basics: dict[str, Any]  # the client's basic_accounting_information entry

    def month_of(self, day: date) -> int:
        """1..12: the month of the fiscal year `day` falls in."""
        return (day.year - self.begin.year) * 12 + day.month - self.begin.month + 1


def fiscal_years(client: dict[str, Any]) -> list[FiscalYear]:
    years = [
        FiscalYear(
            fiscal_year_id(y["fiscal_year_start"]),
            date.fromisoformat(y["fiscal_year_start"]),
            date.fromisoformat(y["fiscal_year_end"]),
            y,
        )
        for y in client["basic_accounting_information"]
    ]
    return sorted(years, key=lambda y: y.id)


class Ledger:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _doc(self) -> dict[str, Any]:
        doc = self.ctx.store.doc("ledger")
        doc.setdefault("advisor", {})
        doc.setdefault("extf_sequences", {})
        return doc

    def advisor_sequences(self, client_id: str, year: FiscalYear) -> list[dict[str, Any]]:
        """The advisor's sequences of the year (stored; the list is the store's own, change under lock)."""
        years: dict[str, list[dict[str, Any]]] = self._doc()["advisor"].setdefault(client_id, {})
        return years.setdefault(str(year.id), [])

    def _extf_batches(self, client_id: str, year: FiscalYear) -> list[tuple[dict[str, Any], bytes]]:
        """(sequence, file bytes) of the succeeded Buchungsstapel imports filed in this fiscal year."""
        now = self.ctx.clock.now()
        with self.ctx.store.lock:
            jobs = [
                job
                for job in self.ctx.store.doc("extf").get("jobs", {}).values()
                if job["client_id"] == client_id
                and job.get("outcome_succeeded")
                and now >= job["ready_at"]
                and job.get("outcome_fields", {}).get("data_category_id") == EXTF_BATCH_CATEGORY
            ]
            jobs.sort(key=lambda j: (j["timestamp"], j["id"]))
            numbers = self._doc()["extf_sequences"]
            if any(job["id"] not in numbers for job in jobs):
                for job in jobs:
                    numbers.setdefault(job["id"], FIRST_EXTF_SEQUENCE + len(numbers))
                self.ctx.store.save("ledger")
            numbered = [(job, numbers[job["id"]]) for job in jobs]
        batches = []
        for job, number in numbered:
            path = self.ctx.store.blob_path("extf", client_id, f"{job['id']}.csv")
            data = path.read_bytes() if path.exists() else b""
            batch = read_batch(data)
            if batch is None or batch.fiscal_year_begin != year.begin:
                continue
            sequence: dict[str, Any] = {
                "accountingSequenceId": number,
                "accountingSequenceNumber": str(number),
                "dateFrom": (batch.date_from or year.begin).isoformat(),
                "dateTo": (batch.date_to or year.end).isoformat(),
                "inspectionStatus": "not_specified",
                "isCommitted": batch.is_committed,
                "recordType": batch.record_type,
                "accountingReason": batch.accounting_reason,
            }
            if batch.initials:
                sequence["initials"] = batch.initials
            if batch.mark_of_origin:
                sequence["markOfOrigin"] = batch.mark_of_origin
            batches.append((sequence, data))
        return batches

    def sequences(self, client_id: str, year: FiscalYear) -> list[dict[str, Any]]:
        """AccountingSequence objects of the year, advisor's first, then the EXTF batches."""
        with self.ctx.store.lock:
            advisor = [
                {k: s[k] for k in SEQUENCE_FIELDS if k in s} for s in self.advisor_sequences(client_id, year)
            ]
        return advisor + [sequence for sequence, _ in self._extf_batches(client_id, year)]

    def postings(self, client_id: str, year: FiscalYear) -> Iterator[dict[str, Any]]:
        """Every booked AccountPosting of the year (amounts as Decimal), sequence by sequence."""
        with self.ctx.store.lock:
            advisor = copy.deepcopy(self.advisor_sequences(client_id, year))
        for sequence in advisor:
            for posting in sequence["postings"]:
                yield stored_posting(posting, sequence)
            yield from generated_postings(sequence, year.begin, year.end)
        for sequence, data in self._extf_batches(client_id, year):
            yield from read_postings(data, sequence["accountingSequenceId"], year.begin, year.end)


def _side(amount: Decimal) -> tuple[Decimal, str]:
    """A signed debit-minus-credit amount as DATEV shows it: absolute value and S (debit) or H (credit)."""
    return (abs(amount), "S" if amount >= 0 else "H")


def sums_and_balances(postings: Iterable[dict[str, Any]], year: FiscalYear) -> list[dict[str, Any]]:
    """Per account: opening balance, movement per fiscal-year month, annual debit/credit, balance. A
    posting moves its account by (debit, credit) and its contra account by (credit, debit)."""
    opening: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    annual: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    monthly: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for posting in postings:
        # Sums and balances are in the base currency (EUR); a posting's amounts are in its currency.
        debit, credit = eur_amount(posting, "amountDebit"), eur_amount(posting, "amountCredit")
        month = year.month_of(date.fromisoformat(posting["date"]))
        for account, d, c in (
            (posting["accountNumber"], debit, credit),
            (posting["contraAccountNumber"], credit, debit),
        ):
            target = opening if posting.get("isOpeningBalancePosting") else annual
            target[account][0] += d
            target[account][1] += c
            if not posting.get("isOpeningBalancePosting"):
                monthly[account][month] += d - c
    rows = []
    names = captions(year)
    for account in sorted(set(opening) | set(annual)):
        open_d, open_c = opening[account]
        year_d, year_c = annual[account]
        balance, balance_side = _side(open_d - open_c + year_d - year_c)
        months = []
        for month, movement in sorted(monthly[account].items()):
            value, side = _side(movement)
            months.append(
                {
                    "fiscalYearMonth": month,
                    "monthlyBalance": value,
                    "monthlyBalanceDebitCreditIdentifier": side,
                }
            )
        row: dict[str, Any] = {
            "accountNumber": account,
            "caption": names.get(account),
            "openingBalanceDebit": open_d,
            "openingBalanceCredit": open_c,
            "sumsAndBalancesMonthValues": months,
            "annualValueDebit": year_d,
            "annualValueCredit": year_c,
            "balance": balance,
            "balanceDebitCreditIdentifier": balance_side,
        }
        rows.append(row)
    return rows


def general_ledger_accounts(
    booked: set[int], year: FiscalYear, *, only_booked: bool, includes_personal: bool
) -> list[dict[str, Any]]:
    """Captioned GL accounts (or, with only_booked, the booked ones, captioned or not); business partner
    accounts (longer than the account length) only when asked for, and only booked and captioned."""
    names = captions(year)
    personal_from = 10 ** year.basics["account_length"]
    if only_booked:
        numbers = {n for n in booked if n < personal_from}
    else:
        numbers = {n for n in names if n < personal_from}
    if includes_personal:
        numbers |= {n for n in booked if n >= personal_from and n in names}
    return [{"accountNumber": n, "caption": names.get(n)} for n in sorted(numbers)]


def booked_accounts(postings: Iterable[dict[str, Any]]) -> set[int]:
    accounts: set[int] = set()
    for posting in postings:
        accounts.add(posting["accountNumber"])
        accounts.add(posting["contraAccountNumber"])
    return accounts

"""Accounting Data Exchange v1 in the emulator: every implemented operation validated against DATEV's
OpenAPI document, a ledger made of the advisor's bookings plus the EXTF batches whose jobs succeeded,
sums and balances that add up to the postings to the cent, the account-postings job's life (PENDING →
COMPLETED or FAILED → DELETED after 12 h), ndjson pages of 50,000 and RFC 9457 errors.

Not implemented (SKR14 agriculture only): agricultural-financial-statement and the
sums-and-balances-quantity-and-weight job.
"""

from __future__ import annotations

import json
import typing as t
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
import requests
from datev_emu_helpers import ADE, EXTF, Flow
from datev_emu_openapi import DUE_IN_DAYS_ERRORS, TERMS_OF_PAYMENT_ERRORS, Validator

from datev_emulator.ade_api import json_line
from datev_emulator.extf_postings import read_postings
from datev_emulator.ledger import FiscalYear, sums_and_balances

if t.TYPE_CHECKING:
    from pathlib import Path

    from datev_emulator.server import RunningEmulator

CLIENT = f"{ADE}/clients/29098-55003"
SKR14_ONLY = {
    (ADE, "get", "/clients/{clientId}/fiscal-years/{fiscalYearId}/agricultural-financial-statement"),
    (ADE, "post", "/clients/{clientId}/fiscal-years/{fiscalYearId}/sums-and-balances-quantity-and-weight"),
    (ADE, "get", "/clients/{clientId}/sums-and-balances-quantity-and-weight-jobs/{jobId}"),
}
EXTF_HEADER = (
    '"EXTF";700;21;"Buchungsstapel";13;20250203101500000;;"RE";"";"";29098;55003;{begin};4;{begin};'
    '{end};"Februar";"WD";1;0;0;"EUR";;"";;;"03";;;"";""'
)
COLUMNS = (
    "Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;Kurs;Basis-Umsatz;WKZ Basis-Umsatz;"
    "Konto;Gegenkonto (ohne BU-Schlüssel);BU-Schlüssel;Belegdatum;Belegfeld 1;Belegfeld 2;Skonto;Buchungstext"
)
EXTF_ROWS = (
    '1234,50;"S";"EUR";;;"";4930;1200;"";1502;"RE-4711";"";;"Büromaterial Februar"',
    '0,10;"S";"";;;"";4210;1200;"";2802;"RE-4712";"";;"Rundung"',
    '1100,00;"H";"USD";1,1;;"";8400;10000;"";2002;"AR-1";"";;"Export USA"',
)


def extf_batch(begin: str = "20250101", end: str = "20250228", rows: tuple[str, ...] = EXTF_ROWS) -> bytes:
    header = EXTF_HEADER.format(begin=begin, end=end)
    return "\r\n".join([header, COLUMNS, *rows, ""]).encode("cp1252")


@pytest.fixture
def validator(shared_dir: Path, emulator: RunningEmulator) -> Validator:
    return Validator(shared_dir, emulator.url)


@pytest.fixture
def token(tokens: dict[str, Any]) -> str:
    return str(tokens["access_token"])


def ndjson(response: requests.Response) -> list[Any]:
    """Lines as JSON values, numbers as Decimal (the way a reader keeps amounts exact)."""
    assert response.status_code == 200, response.text
    return [json.loads(line, parse_float=Decimal) for line in response.text.splitlines() if line]


def submit_extf(flow: Flow, emulator: RunningEmulator, token: str, data: bytes) -> None:
    response = flow.api(
        "POST",
        f"{EXTF}/clients/29098-55003/extf-files/import",
        token,
        data=data,
        headers={"Filename": "EXTF_Februar.csv", "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 202, response.text


def export(
    flow: Flow, emulator: RunningEmulator, token: str, year: int, client: str = CLIENT
) -> list[dict[str, Any]]:
    """One full account-postings read: POST the job, wait for it on the emulator clock, read its pages."""
    job = flow.api("POST", f"{client}/fiscal-years/{year}/account-postings", token).json()["jobId"]
    emulator.control.advance(5)
    state = flow.api("GET", f"{client}/jobs/{job}/state", token).json()
    assert state == {"jobState": "COMPLETED"}
    first = flow.api("GET", f"{client}/account-postings-jobs/{job}", token, params={"page": 1})
    postings = ndjson(first)
    for page in range(2, int(first.headers["x-total-pages"]) + 1):
        postings += ndjson(
            flow.api("GET", f"{client}/account-postings-jobs/{job}", token, params={"page": page})
        )
    return postings


def test_every_ade_operation_validates(
    flow: Flow, emulator: RunningEmulator, validator: Validator, token: str
) -> None:
    check = validator.check

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        return flow.api(method, f"{CLIENT}{path}", token, **kwargs)

    assert ndjson(check(call("GET", "/fiscal-years"))) == [20240101, 20250101, 20260101]
    year = ndjson(check(call("GET", "/fiscal-years/20250101")))
    assert year[0]["yearBegin"] == "2025-01-01" and year[0]["accountLength"] == 4
    assert ndjson(check(call("GET", "/fiscal-years/20260101/accounting-sequences")))
    for params in ({}, {"onlyBooked": "true", "includesPersonalAccounts": "true"}):
        assert ndjson(check(call("GET", "/fiscal-years/20250101/general-ledger-accounts", params=params)))
    assert ndjson(check(call("GET", "/fiscal-years/20250101/sums-and-balances")))
    terms = check(
        call("GET", "/fiscal-years/20250101/terms-of-payment"),
        response_errors=(*TERMS_OF_PAYMENT_ERRORS, *DUE_IN_DAYS_ERRORS, *TERMS_OF_PAYMENT_ERRORS),
    )
    assert [term["id"] for term in ndjson(terms)] == [10, 11]

    posted = check(call("POST", "/fiscal-years/20250101/account-postings", params={"documentLinks": "false"}))
    assert posted.status_code == 202
    job = posted.json()["jobId"]
    assert check(call("GET", f"/jobs/{job}/state")).json() == {"jobState": "PENDING"}
    pending = check(call("GET", f"/account-postings-jobs/{job}", params={"page": 1}))
    assert pending.status_code == 409
    emulator.control.advance(5)
    assert check(call("GET", f"/jobs/{job}/state")).json() == {"jobState": "COMPLETED"}
    page = check(call("GET", f"/account-postings-jobs/{job}", params={"page": 1}))
    assert page.headers["x-total-count"] == str(len(ndjson(page)))
    assert (page.headers["x-total-pages"], page.headers["x-current-page"], page.headers["x-page-size"]) == (
        "1",
        "1",
        "50000",
    )

    # Errors: RFC 9457 problem+json with a camelCase requestId.
    missing = check(call("GET", "/fiscal-years/20230101"))
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    body = missing.json()
    assert body["status"] == 404 and body["requestId"] and "request_id" not in body
    assert "20250101, 20260101" in body["detail"]
    assert check(call("GET", f"/account-postings-jobs/{job}", params={"page": 2})).status_code == 404
    assert check(call("GET", "/fiscal-years", headers={"Accept": "text/html"})).status_code == 406
    unbooked = check(flow.api("GET", f"{ADE}/clients/29098-55005/fiscal-years", token))
    assert unbooked.status_code == 403
    assert "Datenservice Export Rechnungswesen" in unbooked.json()["detail"]

    assert validator.covered == validator.all_operations((ADE,)) - SKR14_ONLY


def test_errors_for_scope_header_and_parameters(
    flow: Flow, emulator: RunningEmulator, validator: Validator, token: str
) -> None:
    without_scope = flow.login(scopes=("openid", "datev:accounting:clients"))["access_token"]
    refused = validator.check(flow.api("GET", f"{CLIENT}/fiscal-years", without_scope))
    assert refused.status_code == 403
    assert "datev:accounting:exchange" in refused.json()["detail"]
    no_client_id = flow.api("GET", f"{CLIENT}/fiscal-years", token, client_id=None)
    validator.check(no_client_id, request_errors=(validator.security_error(ADE),))
    assert no_client_id.status_code == 401
    assert "invalid_token" not in no_client_id.headers["WWW-Authenticate"]
    assert "requestId" in no_client_id.json()
    bad_page = flow.api("GET", f"{CLIENT}/account-postings-jobs/{'0' * 8}-0000-0000-0000-{'0' * 12}", token)
    assert bad_page.status_code == 400
    assert "page" in bad_page.json()["detail"]
    bad_trace = flow.api("GET", f"{CLIENT}/fiscal-years", token, headers={"traceparent": "00-xyz"})
    assert bad_trace.status_code == 400
    emulator.control.arm_fault(status=503, retry_after=None, path_prefix=ADE)
    unavailable = validator.check(flow.api("GET", f"{CLIENT}/fiscal-years", token))
    assert unavailable.status_code == 503
    assert unavailable.headers["Content-Type"] == "application/problem+json"
    assert "requestId" in unavailable.json() and "Retry-After" not in unavailable.headers


def test_ledger_holds_advisor_postings_and_succeeded_extf_batches(
    flow: Flow, emulator: RunningEmulator, token: str
) -> None:
    before = export(flow, emulator, token, 20250101)
    submit_extf(flow, emulator, token, extf_batch())
    # The import job has not succeeded yet: DATEV has not booked the batch.
    assert [
        s["accountingSequenceId"]
        for s in ndjson(flow.api("GET", f"{CLIENT}/fiscal-years/20250101/accounting-sequences", token))
    ] == [1, 2, 3, 4]
    after = export(flow, emulator, token, 20250101)  # advances the clock past the EXTF job's delay too

    sequences = ndjson(flow.api("GET", f"{CLIENT}/fiscal-years/20250101/accounting-sequences", token))
    batch = sequences[-1]
    assert (
        batch["accountingSequenceId"],
        batch["isCommitted"],
        batch["markOfOrigin"],
        batch["initials"],
    ) == (
        100,
        False,
        "RE",
        "WD",
    )
    booked = [p for p in after if p["accountingSequenceId"] == 100]
    assert [(p["accountNumber"], p["contraAccountNumber"], p["date"]) for p in booked] == [
        (4930, 1200, "2025-02-15"),
        (4210, 1200, "2025-02-28"),
        (8400, 10000, "2025-02-20"),
    ]
    assert [(p["amountDebit"], p["amountCredit"]) for p in booked] == [
        (Decimal("1234.5"), Decimal("0")),
        (Decimal("0.1"), Decimal("0")),
        # In the posting's currency (the spec's CurrencyCode "indicates the currency used for the
        # amount"), with the Kurs: 1,100.00 USD at 1.1 USD per EUR.
        (Decimal("0"), Decimal("1100")),
    ]
    assert booked[2]["currencyCode"] == "USD" and booked[2]["exchangeRate"] == Decimal("1.1")
    # The advisor's bookings (payroll, depreciation, opening balances, closing entries) are there too.
    assert after[: len(before)] == before
    origins = {p.get("markOfOrigin") for p in before}
    assert origins == {"EB", "LG", "AN", "JA"}
    # The batch is filed in the fiscal year its header names, not in the other one.
    assert all(p["accountingSequenceId"] != 100 for p in export(flow, emulator, token, 20260101))


def test_the_advisor_books_on_the_client_s_chart_of_accounts(
    flow: Flow, emulator: RunningEmulator, token: str
) -> None:
    # Lindner Antriebstechnik keeps SKR04 books, where class 4 is revenue: the advisor's payroll and
    # depreciation go to SKR04's expense accounts, captioned from SKR04.
    skr04 = f"{ADE}/clients/29098-55004"
    pairs = {
        (p["accountNumber"], p["contraAccountNumber"]) for p in export(flow, emulator, token, 20240701, skr04)
    }
    assert {(6020, 3720), (6110, 3740), (6220, 440), (440, 9000), (1800, 9000)} <= pairs
    assert not {a for pair in pairs for a in pair} & {4120, 4130, 4830, 210, 1200}
    accounts = ndjson(flow.api("GET", f"{skr04}/fiscal-years/20240701/general-ledger-accounts", token))
    assert {a["accountNumber"]: a["caption"] for a in accounts}[6020] == "Gehälter"
    balances = ndjson(flow.api("GET", f"{skr04}/fiscal-years/20240701/sums-and-balances", token))
    assert {b["accountNumber"]: b["caption"] for b in balances}[1800] == "Bank"


def test_amounts_are_exact_json_numbers_and_sums_add_up(
    flow: Flow, emulator: RunningEmulator, token: str
) -> None:
    submit_extf(flow, emulator, token, extf_batch())
    postings = export(flow, emulator, token, 20250101)
    raw = flow.api("GET", f"{CLIENT}/fiscal-years/20250101/sums-and-balances", token)
    assert "2083.33" in raw.text and "1234.5," in raw.text and "99999" not in raw.text

    def eur(posting: dict[str, Any], key: str) -> Decimal:
        """Sums and balances are in EUR; a posting's amount is in its currency, at its Kurs."""
        rate = posting.get("exchangeRate")
        return (posting[key] / rate).quantize(Decimal("0.01"), ROUND_HALF_UP) if rate else posting[key]

    expected: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for p in postings:
        kind = "opening" if p["isOpeningBalancePosting"] else "annual"
        debit_eur, credit_eur = eur(p, "amountDebit"), eur(p, "amountCredit")
        for account, debit, credit in (
            (p["accountNumber"], debit_eur, credit_eur),
            (p["contraAccountNumber"], credit_eur, debit_eur),
        ):
            expected[account][f"{kind}Debit"] += debit
            expected[account][f"{kind}Credit"] += credit
    rows = {row["accountNumber"]: row for row in ndjson(raw)}
    assert set(rows) == set(expected)
    for account, sums in expected.items():
        row = rows[account]
        assert row["openingBalanceDebit"] == sums["openingDebit"]
        assert row["annualValueCredit"] == sums["annualCredit"]
        net = sums["openingDebit"] - sums["openingCredit"] + sums["annualDebit"] - sums["annualCredit"]
        assert (row["balance"], row["balanceDebitCreditIdentifier"]) == (abs(net), "S" if net >= 0 else "H")
        monthly = sum(
            (m["monthlyBalance"] * (1 if m["monthlyBalanceDebitCreditIdentifier"] == "S" else -1))
            for m in row["sumsAndBalancesMonthValues"]
        )
        assert monthly == sums["annualDebit"] - sums["annualCredit"]
    assert rows[4930]["caption"] == "Bürobedarf"
    assert rows[8400]["annualValueCredit"] == Decimal("1000")  # 1,100.00 USD at 1.1 USD per EUR


def test_job_fails_on_the_fault_switch_and_is_deleted_after_12_hours(
    flow: Flow, emulator: RunningEmulator, token: str
) -> None:
    requests.post(
        f"{flow.url}/_emulator/settings", json={"ade_failing_jobs": 1}, timeout=10
    ).raise_for_status()
    # Times relative to the jobs' creation, with a minute's margin for real seconds passing on a busy
    # machine (the emulator clock is real time plus an offset).
    created = emulator.control.clock.now()
    failed = flow.api("POST", f"{CLIENT}/fiscal-years/20260101/account-postings", token).json()["jobId"]
    ok = flow.api("POST", f"{CLIENT}/fiscal-years/20260101/account-postings", token).json()["jobId"]
    emulator.control.advance(5)
    assert flow.api("GET", f"{CLIENT}/jobs/{failed}/state", token).json() == {"jobState": "FAILED"}
    assert (
        flow.api("GET", f"{CLIENT}/account-postings-jobs/{failed}", token, params={"page": 1}).status_code
        == 409
    )
    assert flow.api("GET", f"{CLIENT}/jobs/{ok}/state", token).json() == {"jobState": "COMPLETED"}
    emulator.control.set_now(created + 12 * 3600 - 60)
    token = flow.login()["access_token"]  # the first one expired meanwhile
    assert (
        flow.api("GET", f"{CLIENT}/account-postings-jobs/{ok}", token, params={"page": 1}).status_code == 200
    )
    emulator.control.set_now(created + 12 * 3600 + 60)
    assert flow.api("GET", f"{CLIENT}/jobs/{ok}/state", token).json() == {"jobState": "DELETED"}
    gone = flow.api("GET", f"{CLIENT}/account-postings-jobs/{ok}", token, params={"page": 1})
    assert gone.status_code == 404
    assert "deleted" in gone.json()["detail"]


def test_pages_of_50000_with_paging_headers(flow: Flow, emulator: RunningEmulator, token: str) -> None:
    emulator.control.add_advisor_postings("29098-55003", 20260101, 50_001)
    job = flow.api("POST", f"{CLIENT}/fiscal-years/20260101/account-postings", token).json()["jobId"]
    emulator.control.advance(5)
    assert flow.api("GET", f"{CLIENT}/jobs/{job}/state", token).json() == {"jobState": "COMPLETED"}
    first = flow.api("GET", f"{CLIENT}/account-postings-jobs/{job}", token, params={"page": 1})
    second = flow.api("GET", f"{CLIENT}/account-postings-jobs/{job}", token, params={"page": 2})
    total = int(first.headers["x-total-count"])
    assert total > 50_001  # the advisor's own postings besides the generated ones
    assert (first.headers["x-total-pages"], second.headers["x-current-page"]) == ("2", "2")
    assert len(first.text.splitlines()) == 50_000
    assert len(second.text.splitlines()) == total - 50_000
    third = flow.api("GET", f"{CLIENT}/account-postings-jobs/{job}", token, params={"page": 3})
    assert third.status_code == 404


def test_advisor_changes_an_uncommitted_posting_between_two_reads(
    flow: Flow, emulator: RunningEmulator, token: str
) -> None:
    first = export(flow, emulator, token, 20260101)
    control = f"{flow.url}/_emulator/advisor-postings"
    year = {"client_id": "29098-55003", "fiscal_year": 20260101}
    sequences = requests.post(control, json=year, timeout=10).json()
    afa = next(s for s in sequences if s["markOfOrigin"] == "AN")
    assert afa["isCommitted"] is False
    changed = requests.post(
        control, json={**year, "posting_id": "afa-1", "changes": {"amountDebit": "2100.5"}}, timeout=10
    )
    assert changed.status_code == 200
    deleted = requests.post(control, json={**year, "posting_id": "afa-2", "delete": True}, timeout=10)
    assert deleted.status_code == 200
    committed = requests.post(
        control, json={**year, "posting_id": "lohn-1-1", "changes": {"amountDebit": "1"}}, timeout=10
    )
    assert committed.status_code == 400
    assert "committed" in committed.json()["error_description"]

    second = export(flow, emulator, token, 20260101)
    depreciation = [p for p in first if p["accountingSequenceId"] == afa["accountingSequenceId"]]
    now = [p for p in second if p["accountingSequenceId"] == afa["accountingSequenceId"]]
    assert len(now) == len(depreciation) - 1
    assert now[0]["amountDebit"] == Decimal("2100.5")
    assert now[1:] == depreciation[2:]
    assert [p for p in second if p["accountingSequenceId"] != afa["accountingSequenceId"]] == [
        p for p in first if p["accountingSequenceId"] != afa["accountingSequenceId"]
    ]


@pytest.mark.parametrize(
    ("amount", "written"),
    [("1234.50", b"1234.5"), ("0.10", b"0.1"), ("2083.33", b"2083.33"), ("9999999999.99", b"9999999999.99")],
)
def test_amounts_serialise_as_the_exact_decimal(amount: str, written: bytes) -> None:
    assert json_line({"amountDebit": Decimal(amount)}) == b'{"amountDebit":' + written + b"}\n"


def test_an_amount_without_exact_json_number_is_refused() -> None:
    with pytest.raises(ValueError, match="no exact JSON number"):
        json_line({"amountDebit": Decimal("0.12345678901234567890")})


def test_belegdatum_is_placed_in_a_fiscal_year_from_july() -> None:
    data = extf_batch(begin="20250701", end="20260228").replace(b"29098;55003", b"29098;55004")
    postings = list(read_postings(data, 100, date(2025, 7, 1), date(2026, 6, 30)))
    # TTMM 1502 / 2802 / 2002: February of the fiscal year's second calendar year.
    assert [p["date"] for p in postings] == ["2026-02-15", "2026-02-28", "2026-02-20"]
    year = FiscalYear(20250701, date(2025, 7, 1), date(2026, 6, 30), {})
    rows = {row["accountNumber"]: row for row in sums_and_balances(postings, year)}
    assert rows[4930]["sumsAndBalancesMonthValues"][0]["fiscalYearMonth"] == 8

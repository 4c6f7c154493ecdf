"""The dbt marts the demo built (DuckDB file beside the lake) against the generator's known figures.

demo_ledger computes spend and batch figures from its own postings with Decimal arithmetic, and the
emulator's advisor module says what the "advisor" booked in DATEV; the marts compute them in SQL from
what the tap read and the target landed. Lindner Maschinenbau and Antriebstechnik have the
Datenservice Export Rechnungswesen (their spend is DATEV's booked ledger), Lindner Service has not
(its spend is the submitted batches).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import demo_ledger
import duckdb
import pyarrow as pa
import pytest
from conftest import REPO, DemoRuns, dbt
from deltalake import write_deltalake
from demo import read_delta

from datev_emulator.advisor import ADE_SCOPE, seed_ledger
from datev_emulator.seed import demo_clients
from tap_datev.ade_streams import ADE_STREAMS

pytestmark = pytest.mark.slow
BATCHES = demo_ledger.batches()
MARTS = "datev_marts"
# The clients whose DATEV services include the Datenservice Export Rechnungswesen.
BOOKED_CLIENTS = {
    c["id"] for c in demo_clients() if any(ADE_SCOPE in service["scopes"] for service in c["services"])
}
# The tables of the booked ledger: one per Accounting Data Exchange stream of the tap.
BOOKED_LEDGER_TABLES = tuple(stream.name for stream in ADE_STREAMS)
# DATEV's expense account classes (Kontenrahmen): SKR03 classes 3 and 4, SKR04 classes 5 and 6.
EXPENSE_ACCOUNTS = {3: (range(3000, 3960), range(4000, 4996)), 4: (range(5000, 5900), range(6000, 7000))}
SpendFigures = dict[tuple[str, date], tuple[Decimal, Decimal, int]]


def _add(into: SpendFigures, key: tuple[str, date], net: Decimal, vat: Decimal) -> None:
    old = into.get(key, (Decimal(0), Decimal(0), 0))
    into[key] = (old[0] + net, old[1] + vat, old[2] + 1)


def advisor_spend() -> SpendFigures:
    """Spend of the advisor's own bookings in the emulator (payroll, depreciation, closing entries): no
    tax key, so net = gross; expense account debits positive, opening balances are no spend."""
    charts = {e.client_id: e.chart.skr for e in demo_ledger.ENTITIES}
    out: SpendFigures = {}
    for client_id, years in seed_ledger(demo_clients())["advisor"].items():
        classes = EXPENSE_ACCOUNTS[charts[client_id]]
        for sequences in years.values():
            for posting in (p for s in sequences for p in s["postings"]):
                if posting["isOpeningBalancePosting"]:
                    continue
                debit = Decimal(posting["amountDebit"]) - Decimal(posting["amountCredit"])
                month = date.fromisoformat(posting["date"]).replace(day=1)
                for account, amount in (
                    (posting["accountNumber"], debit),
                    (posting["contraAccountNumber"], -debit),
                ):
                    if any(account in r for r in classes):
                        _add(out, (client_id, month), amount, Decimal(0))
    return out


def expected_booked_spend() -> SpendFigures:
    """Booked clients: the EXTF batches DATEV imported plus the advisor's bookings (DXSO invoices are
    posting proposals, not booked); the others: every accepted batch."""
    submitted = [b for b in BATCHES if b.kind == "extf" or b.entity.client_id not in BOOKED_CLIENTS]
    out = demo_ledger.expected_spend(submitted)
    for key, (net, vat, count) in advisor_spend().items():
        old = out.get(key, (Decimal(0), Decimal(0), 0))
        out[key] = (old[0] + net, old[1] + vat, old[2] + count)
    return out


@pytest.fixture(scope="module")
def con(demo_runs: DemoRuns) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(demo_runs.marts), read_only=True) as connection:
        yield connection


def test_monthly_spend_is_the_booked_ledger_where_read_else_the_submitted(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = con.execute(
        f"""SELECT client_id, ledger_source, booking_month, spend_eur, vat_eur, postings
            FROM {MARTS}.spend_monthly_by_entity"""
    ).fetchall()
    landed = {(client, month): (spend, vat, postings) for client, _, month, spend, vat, postings in rows}
    assert landed == expected_booked_spend()
    sources = {client: source for client, source, *_ in rows}
    assert sources == {
        e.client_id: "booked" if e.client_id in BOOKED_CLIENTS else "submitted" for e in demo_ledger.ENTITIES
    }
    assert BOOKED_CLIENTS and set(sources) - BOOKED_CLIENTS  # both kinds in the demo


def test_without_the_booked_ledger_the_marts_build_on_the_submitted_batches(
    demo_runs: DemoRuns, tmp_path: Path
) -> None:
    """ade_enabled off (or a fresh install): the tap declares none of the booked ledger's tables, dbt
    still builds, every client's spend is its submitted batches and the booked figures are empty."""
    project = tmp_path / "project"
    lake = project / ".lake" / "ml_connector" / "datev"
    shutil.copytree(demo_runs.lake, lake, ignore=shutil.ignore_patterns(*BOOKED_LEDGER_TABLES))
    assert not any((lake / name).exists() for name in BOOKED_LEDGER_TABLES)
    build = dbt(project, "build")
    assert build.returncode == 0, build.stdout[-4000:]
    with duckdb.connect(str(project / ".lake" / "marts.duckdb"), read_only=True) as built:
        rows = built.execute(
            f"""SELECT client_id, ledger_source, booking_month, spend_eur, vat_eur, postings
                FROM {MARTS}.spend_monthly_by_entity"""
        ).fetchall()
        statuses = built.execute(
            f"SELECT DISTINCT booked_status FROM {MARTS}.batch_reconciliation"
        ).fetchall()
        (balances,) = built.execute(f"SELECT COUNT(*) FROM {MARTS}.balance_reconciliation").fetchone() or (0,)
        (sequences,) = built.execute(f"SELECT COUNT(*) FROM {MARTS}.booked_sequences").fetchone() or (0,)
    landed = {(client, month): (spend, vat, postings) for client, _, month, spend, vat, postings in rows}
    assert landed == demo_ledger.expected_spend(BATCHES)
    assert {source for _, source, *_ in rows} == {"submitted"}
    assert statuses == [("no booked ledger",)]
    assert (balances, sequences) == (0, 0)


def test_every_imported_batch_is_booked_as_submitted(con: duckdb.DuckDBPyConnection) -> None:
    """submitted batch ↔ DATEV's accounting sequence: lines and sums as the generator wrote them."""
    rows = con.execute(
        f"""SELECT file_name, client_id, booked_status, booked_line_count, booked_debit_sum,
                   booked_credit_sum, accounting_sequence_id, booked_fiscal_year
            FROM {MARTS}.batch_reconciliation"""
    ).fetchall()
    expected = demo_ledger.expected_batches(BATCHES)
    batches = {b.file_name: b for b in BATCHES}
    sequences = set()
    for name, client, status, lines, debit, credit, sequence, fiscal_year in rows:
        batch = batches[name]
        if client not in BOOKED_CLIENTS:
            assert (status, lines, sequence) == ("no booked ledger", None, None), name
        elif batch.kind == "dxso":
            assert (status, lines) == ("not booked", None), name  # posting proposals until the advisor books
        else:
            assert (status, lines, debit, credit) == ("booked", *expected[name][:3]), name
            assert fiscal_year == int(f"{batch.entity.fiscal_year_start:%Y%m%d}"), name
            sequences.add((client, sequence))
    assert len(sequences) == sum(
        1 for b in BATCHES if b.kind == "extf" and b.entity.client_id in BOOKED_CLIENTS
    )


def test_the_advisors_sequences_are_listed_beside_the_submitted_ones(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        f"""SELECT client_id, fiscal_year, origin, COUNT(*), SUM(booked_line_count)
            FROM {MARTS}.booked_sequences GROUP BY ALL"""
    ).fetchall()
    advisor = {
        (client, int(year)): (len(sequences), sum(len(s["postings"]) for s in sequences))
        for client, years in seed_ledger(demo_clients())["advisor"].items()
        for year, sequences in years.items()
    }
    assert {(c, y): (n, p) for c, y, origin, n, p in rows if origin == "advisor"} == advisor
    submitted = sum(n for *_, origin, n, _ in rows if origin == "submitted")
    assert submitted == sum(1 for b in BATCHES if b.kind == "extf" and b.entity.client_id in BOOKED_CLIENTS)


def test_booked_postings_match_datevs_sums_and_balances(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        f"SELECT client_id, balance_status, COUNT(*) FROM {MARTS}.balance_reconciliation GROUP BY ALL"
    ).fetchall()
    assert {client for client, *_ in rows} == BOOKED_CLIENTS
    assert {status for _, status, _ in rows} == {"ok"}


def test_a_changed_booking_is_a_finding_not_a_failed_build(demo_runs: DemoRuns, tmp_path: Path) -> None:
    """A posting whose amount DATEV's sums and balances do not hold (and that no longer matches its
    submitted line): dbt builds with a warning, balance_reconciliation and the demo's report name the
    entity, the accounts, the month and the difference, and the batch's booked_status is differs."""
    project = tmp_path / "project"
    shutil.copytree(demo_runs.project / ".lake" / "ml_connector", project / ".lake" / "ml_connector")
    table = project / ".lake" / "ml_connector" / "datev" / "account_postings"
    postings = read_delta(table)
    works = demo_ledger.ENTITIES[0]
    document = f"LO-{works.months()[0]:%Y%m}"  # January's salaries, in the batch of January
    rows = postings.to_pylist()
    (index,) = [
        i
        for i, r in enumerate(rows)
        if r["document_field1"] == document and r["client_id"] == works.client_id
    ]
    more = Decimal("100.00")
    changed = dict(rows[index])
    for column in ("amount_debit", "amount", "account_amount", "account_amount_eur"):
        changed[column] += more
    for column in ("contra_account_amount", "contra_account_amount_eur"):
        changed[column] -= more
    rows[index] = changed
    write_deltalake(str(table), pa.Table.from_pylist(rows, schema=postings.schema), mode="overwrite")

    build = dbt(project, "build")
    assert build.returncode == 0, build.stdout[-4000:]
    assert "assert_balances_reconcile" in build.stdout and "WARN=1" in build.stdout
    marts = project / ".lake" / "marts.duckdb"
    with duckdb.connect(str(marts), read_only=True) as built:
        findings = built.execute(
            f"""SELECT entity_name, account_number, booking_month, difference_eur
                FROM {MARTS}.balance_reconciliation WHERE balance_status = 'mismatch'
                ORDER BY account_number"""
        ).fetchall()
        batch = built.execute(
            f"""SELECT booked_status, booked_debit_sum - loaded_debit_sum FROM {MARTS}.batch_reconciliation
                WHERE file_name = 'EXTF_Buchungsstapel_{works.client}_{works.months()[0]:%Y_%m}.csv'"""
        ).fetchall()
    month = works.months()[0]
    assert findings == [
        (works.name, works.chart.bank, month, -more),
        (works.name, works.chart.salaries, month, more),
    ]
    assert batch == [("differs", more)]
    report = subprocess.run(  # noqa: PLW1510 - the exit code is checked below
        [
            str(REPO / ".venv-dbt" / "bin" / "python"),
            str(REPO / "scripts" / "demo_report.py"),
            str(marts),
            str(tmp_path / "chart.png"),
        ],
        text=True,
        capture_output=True,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    assert "ok: " in report.stdout and "findings: 2" in report.stdout
    assert (
        f"FINDING {works.name}, account {works.chart.salaries} Gehälter, {month:%Y-%m}: " in report.stdout
        and "difference 100.00 EUR" in report.stdout
    )
    assert f"DIFFERS    EXTF_Buchungsstapel_{works.client}_{month:%Y_%m}.csv" in report.stdout


def test_spend_rows_name_entities_charts_and_fiscal_periods(con: duckdb.DuckDBPyConnection) -> None:
    names = dict(con.execute(f"SELECT DISTINCT client_id, entity_name FROM {MARTS}.spend").fetchall())
    assert names == {e.client_id: e.name for e in demo_ledger.ENTITIES}
    charts = dict(con.execute(f"SELECT DISTINCT client_id, chart_of_accounts FROM {MARTS}.spend").fetchall())
    assert charts == {e.client_id: e.chart.skr for e in demo_ledger.ENTITIES}
    # Lindner Antriebstechnik's fiscal year starts in July: July is period 1, June period 12.
    periods = con.execute(
        f"""SELECT DISTINCT booking_month, fiscal_year, fiscal_period FROM {MARTS}.spend_monthly_by_entity
            WHERE client_id = '29098-55004' ORDER BY booking_month"""
    ).fetchall()
    assert (date(2025, 7, 1), 2025, 1) in periods and (date(2026, 6, 1), 2025, 12) in periods
    # The advisor's payroll of the year before (SKR04 expense accounts) is spend too.
    assert periods[0] == (date(2024, 7, 1), 2024, 1)
    assert all(
        (fiscal_year, period) == (month.year - (month.month < 7), (month.month - 7) % 12 + 1)
        for month, fiscal_year, period in periods
    )
    classes = set(
        con.execute(f"SELECT DISTINCT chart_of_accounts, account_class FROM {MARTS}.spend").fetchall()
    )
    assert classes == {(3, 3), (3, 4), (4, 5), (4, 6)}


def test_only_expense_gl_accounts_are_spend(con: duckdb.DuckDBPyConnection) -> None:
    accounts = {a for (a,) in con.execute(f"SELECT DISTINCT account_number FROM {MARTS}.spend").fetchall()}
    never = {c.bank for c in (demo_ledger.SKR03, demo_ledger.SKR04)} | set(demo_ledger.SUPPLIERS)
    assert accounts and not accounts & never
    assert max(accounts) < 10_000  # four-digit GL accounts; five digits are personal accounts


def test_suppliers_are_named_from_business_partners(con: duckdb.DuckDBPyConnection) -> None:
    suppliers = dict(
        con.execute(
            f"""SELECT DISTINCT supplier_account, supplier_name FROM {MARTS}.spend
                WHERE supplier_account IS NOT NULL"""
        ).fetchall()
    )
    assert suppliers and all(demo_ledger.SUPPLIERS[a] == name for a, name in suppliers.items())
    # Payroll and depreciation have no personal account on the other side.
    (no_supplier,) = con.execute(
        f"""SELECT COUNT(*) FROM {MARTS}.spend
            WHERE supplier_account IS NULL AND account_number = 4120 AND fiscal_year = 2025"""
    ).fetchone() or (0,)
    assert no_supplier == 12 * 2  # Gehälter, SKR03, two entities, each month (one cost centre)


def test_a_line_with_an_unknown_tax_key_stays_gross_and_is_flagged(con: duckdb.DuckDBPyConnection) -> None:
    lines = con.execute(
        f"""SELECT client_id, tax_key, net_eur, vat_eur, gross_eur FROM {MARTS}.spend_lines
            WHERE NOT vat_rate_known"""
    ).fetchall()
    assert sorted(line[0] for line in lines) == [e.client_id for e in demo_ledger.ENTITIES]
    for _, key, net, vat, gross in lines:
        assert (key, net, vat) == (demo_ledger.UNKNOWN_TAX_KEY, gross, 0)
    (flagged,) = con.execute(f"SELECT COUNT(*) FROM {MARTS}.spend WHERE has_unknown_vat_rate").fetchone() or (
        0,
    )
    assert flagged == len(lines)


def test_reconciliation_is_ok_except_the_rejected_batch(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        f"""SELECT file_name, reconciliation_status, loaded_line_count, loaded_debit_sum, loaded_credit_sum,
                   datev_line_count, file_line_count, reason
            FROM {MARTS}.batch_reconciliation"""
    ).fetchall()
    expected = demo_ledger.expected_batches(BATCHES)
    assert {r[0] for r in rows} == set(expected)
    for name, status, lines, debit, credit, datev, file_lines, reason in rows:
        exp_lines, exp_debit, exp_credit, exp_status = expected[name]
        assert (status, lines, debit, credit) == (exp_status, exp_lines, exp_debit, exp_credit), name
        assert file_lines == exp_lines, name  # recorded by the tap from the file at submit time
        if status == "ok":
            assert datev == exp_lines or (datev is None and name.startswith("document.xml"))  # DXSO
        else:
            assert "1008833" in reason and "No payload" in reason


def test_amounts_land_as_decimals(con: duckdb.DuckDBPyConnection) -> None:
    types = dict(
        con.execute(
            f"""SELECT column_name, data_type FROM information_schema.columns
                WHERE table_schema = '{MARTS}' AND table_name = 'spend'"""
        ).fetchall()
    )
    assert all(types[c].startswith("DECIMAL") for c in ("spend_eur", "vat_eur", "gross_eur"))
    (total,) = con.execute(f"SELECT SUM(spend_eur) FROM {MARTS}.spend").fetchone() or (None,)
    assert isinstance(total, Decimal)


def test_file_figures_recorded_by_the_tap_are_reconciled(demo_runs: DemoRuns, tmp_path: Path) -> None:
    """booking_batches carries the tap's submit-time figures (file_line_count, file_debit_sum,
    file_credit_sum, posting_digest): they match the generator, and one wrong count fails the build."""
    project = tmp_path / "project"
    shutil.copytree(demo_runs.project / ".lake" / "ml_connector", project / ".lake" / "ml_connector")
    table = project / ".lake" / "ml_connector" / "datev" / "booking_batches"
    batches = read_delta(table)
    expected = demo_ledger.expected_batches(BATCHES)
    names = batches.column("file_name").to_pylist()
    recorded = zip(
        names,
        batches.column("file_line_count").to_pylist(),
        batches.column("file_debit_sum").to_pylist(),
        batches.column("file_credit_sum").to_pylist(),
        strict=True,
    )
    assert {n: (lines, debit, credit) for n, lines, debit, credit in recorded} == {
        n: expected[n][:3] for n in names
    }
    assert all(
        batches.column("posting_digest").to_pylist()[i] for i, n in enumerate(names) if n.endswith(".csv")
    )
    wrong = sorted(expected)[0]  # a batch DATEV accepted
    counts = [
        lines + (n == wrong)
        for n, lines in zip(names, batches.column("file_line_count").to_pylist(), strict=True)
    ]
    index = batches.schema.get_field_index("file_line_count")
    batches = batches.set_column(index, batches.schema.field(index), pa.array(counts, pa.int64()))
    write_deltalake(str(table), batches, mode="overwrite")

    build = dbt(project, "build")
    assert build.returncode != 0, "the reconciliation test must fail on a mismatch"
    assert "assert_batches_reconcile" in build.stdout
    with duckdb.connect(str(project / ".lake" / "marts.duckdb"), read_only=True) as con:
        rows = con.execute(
            f"""SELECT file_name, reconciliation_status, file_line_count, file_debit_sum, reason
                FROM {MARTS}.batch_reconciliation"""
        ).fetchall()
    statuses = {name: (status, reason) for name, status, *_, reason in rows}
    assert statuses[wrong] == ("mismatch", "lines in the file and in booking_lines differ")
    others = {name: s for name, s in statuses.items() if name != wrong and s[0] != "rejected"}
    agree = {"file, booking_lines and DATEV agree", "file and booking_lines agree (DATEV gives no count)"}
    assert {status for status, _ in others.values()} == {"ok"}
    assert {reason for _, reason in others.values()} <= agree
    assert all(debit == expected[name][1] for name, _, _, debit, _ in rows)

"""The dbt marts the demo built (DuckDB file beside the lake) against the generator's known figures.

demo_ledger computes spend and batch figures from its own postings with Decimal arithmetic; the
marts compute them in SQL from what the tap parsed and the target landed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import demo_ledger
import duckdb
import pyarrow as pa
import pytest
from conftest import DemoRuns, dbt
from deltalake import write_deltalake
from demo import read_delta

pytestmark = pytest.mark.slow
BATCHES = demo_ledger.batches()
MARTS = "datev_marts"


@pytest.fixture(scope="module")
def con(demo_runs: DemoRuns) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(demo_runs.marts), read_only=True) as connection:
        yield connection


def test_monthly_spend_is_the_generators_net_spend_vat_and_postings(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        f"SELECT client_id, booking_month, spend_eur, vat_eur, postings FROM {MARTS}.spend_monthly_by_entity"
    ).fetchall()
    landed = {(client, month): (spend, vat, postings) for client, month, spend, vat, postings in rows}
    assert landed == demo_ledger.expected_spend(BATCHES)


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
    assert periods[0] == (date(2025, 7, 1), 2025, 1)
    assert periods[-1] == (date(2026, 6, 1), 2025, 12)
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
        f"SELECT COUNT(*) FROM {MARTS}.spend WHERE supplier_account IS NULL AND account_number = 4120"
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

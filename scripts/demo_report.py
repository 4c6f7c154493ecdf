"""The demo's last step: the controller's marts printed, and monthly spend per entity as a PNG.

Runs in dbt's virtualenv (.venv-dbt: DuckDB and matplotlib) against the DuckDB file dbt built:
    .venv-dbt/bin/python scripts/demo_report.py .lake/marts.duckdb spend.png
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter

SCHEMA = "datev_marts"
TOP_ACCOUNTS = 3
MONTH_NAMES = ("Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez")


def eur(value: Decimal | float) -> str:
    return f"{value:,.2f}"


# Each entity's fiscal year with the most postings: the year the demo generates (the booked ledger
# also holds the advisor's bookings of the years before and after it).
MAIN_YEAR = f"""(SELECT client_id, arg_max(fiscal_year, n) AS fiscal_year
    FROM (SELECT client_id, fiscal_year, SUM(postings) AS n
          FROM {SCHEMA}.spend_monthly_by_entity GROUP BY ALL)
    GROUP BY client_id)"""


def spend_table(con: duckdb.DuckDBPyConnection) -> None:
    months = con.execute(
        f"""SELECT entity_name, ledger_source, fiscal_year, fiscal_period, booking_month, spend_eur, vat_eur,
                   has_unknown_vat_rate
            FROM {SCHEMA}.spend_monthly_by_entity JOIN {MAIN_YEAR} USING (client_id, fiscal_year)
            ORDER BY entity_name, booking_month"""
    ).fetchall()
    top = con.execute(
        f"""SELECT entity_name, booking_month, coalesce(account_label, CAST(account_number AS VARCHAR)),
                   SUM(spend_eur) AS s
            FROM {SCHEMA}.spend GROUP BY ALL
            ORDER BY entity_name, booking_month, s DESC, 3"""
    ).fetchall()
    tops: dict[tuple[str, object], list[str]] = {}
    for entity, month, label, amount in top:
        tops.setdefault((entity, month), []).append(f"{label} {amount:,.0f}")
    print("\nSpend in EUR net of VAT per entity and fiscal month (top GL accounts by label)")
    print("  from DATEV's booked postings where the booked ledger is read, else the submitted batches")
    entity_seen = None
    for entity, source, year, period, month, spend, vat, unknown in months:
        if entity != entity_seen:
            print(f"\n  {entity} ({source})")
            print(f"    {'FY':<7} {'P':>2} {'month':<8} {'spend EUR':>14} {'VAT EUR':>12}  top accounts")
            entity_seen = entity
        flag = " (!)" if unknown else ""
        accounts = "; ".join(tops[(entity, month)][:TOP_ACCOUNTS])
        print(f"    {year:<7} {period:>2} {month:%Y-%m}  {eur(spend):>14} {eur(vat):>12}  {accounts}{flag}")
    totals = con.execute(
        f"""SELECT entity_name, fiscal_year, ledger_source, SUM(spend_eur), SUM(vat_eur), SUM(postings)
            FROM {SCHEMA}.spend_monthly_by_entity GROUP BY ALL ORDER BY 1, 2"""
    ).fetchall()
    print("\n  Fiscal year totals")
    for entity, year, source, spend, vat, postings in totals:
        print(
            f"    {entity:<30} FY {year} {source:<9} {eur(spend):>16} EUR net  {eur(vat):>14} EUR VAT"
            f"  {postings:>5} postings"
        )
    print("  (!) = a posting with an unknown tax key, counted gross (spend.has_unknown_vat_rate)")


def status_counts(con: duckdb.DuckDBPyConnection, column: str) -> str:
    """`  status: n, ...` of batch_reconciliation's `column`, statuses in order."""
    counts = con.execute(
        f"SELECT {column}, COUNT(*) FROM {SCHEMA}.batch_reconciliation GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return "  " + ", ".join(f"{status}: {n}" for status, n in counts)


def reconciliation(con: duckdb.DuckDBPyConnection) -> None:
    print("\nBatch reconciliation (file at submit time / booking_lines / DATEV's count)")
    print(status_counts(con, "reconciliation_status"))
    others = con.execute(
        f"""SELECT entity_name, file_name, reconciliation_status, reason
            FROM {SCHEMA}.batch_reconciliation WHERE reconciliation_status <> 'ok' ORDER BY 2"""
    ).fetchall()
    for entity, file_name, status, reason in others:
        print(f"  {status.upper():<9} {file_name} ({entity}): {reason}")


def booked(con: duckdb.DuckDBPyConnection) -> None:
    """Submitted vs booked per accounting sequence, and the advisor's own sequences."""
    print("\nBooked in DATEV (submitted batch vs DATEV's accounting sequence: lines, debit and credit sums)")
    print(status_counts(con, "booked_status"))
    rows = con.execute(
        f"""SELECT entity_name, file_name, booked_status, accounting_sequence_id, loaded_line_count,
                   booked_line_count, loaded_debit_sum, booked_debit_sum, booked_reason
            FROM {SCHEMA}.batch_reconciliation
            WHERE booked_status NOT IN ('booked', 'no booked ledger', 'not imported') ORDER BY 2"""
    ).fetchall()
    for entity, file_name, status, sequence, lines, booked_lines, debit, booked_debit, reason in rows:
        figures = ""
        if sequence is not None:
            debits = f"{eur(debit)}/{eur(booked_debit)}"
            figures = f"sequence {sequence}: lines {lines}/{booked_lines}, debit {debits}; "
        print(f"  {status.upper():<10} {file_name} ({entity}): {figures}{reason}")
    sequences = con.execute(
        f"""SELECT entity_name, origin, COUNT(*), SUM(booked_line_count),
                   SUM(CASE WHEN is_committed THEN 0 ELSE 1 END)
            FROM {SCHEMA}.booked_sequences GROUP BY ALL ORDER BY 1, 2 DESC"""
    ).fetchall()
    for entity, origin, n, postings, open_ in sequences:
        print(f"  {entity:<30} {n:>3} sequences {origin:<9} {postings:>5} postings, {open_} not committed")


def balances(con: duckdb.DuckDBPyConnection) -> None:
    """Postings vs DATEV's sums and balances: every mismatch named."""
    counts = dict(
        con.execute(
            f"SELECT balance_status, COUNT(*) FROM {SCHEMA}.balance_reconciliation GROUP BY 1"
        ).fetchall()
    )
    print("\nBalance reconciliation (booked postings vs DATEV's sums and balances, per account and month)")
    print(f"  ok: {counts.get('ok', 0)}, findings: {counts.get('mismatch', 0)}")
    findings = con.execute(
        f"""SELECT entity_name, account_number, coalesce(account_caption, ''), booking_month,
                   posted_movement_eur, datev_movement_eur, difference_eur
            FROM {SCHEMA}.balance_reconciliation WHERE balance_status = 'mismatch' ORDER BY ALL"""
    ).fetchall()
    for entity, account, caption, month, posted, datev, difference in findings:
        print(
            f"  FINDING {entity}, account {account} {caption}, {month:%Y-%m}: postings {eur(posted)}, "
            f"DATEV {eur(datev)}, difference {eur(difference)} EUR"
        )


def chart(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    rows = con.execute(
        f"""SELECT entity_name, fiscal_year, fiscal_period, MONTH(booking_month), spend_eur
            FROM {SCHEMA}.spend_monthly_by_entity JOIN {MAIN_YEAR} USING (client_id, fiscal_year)
            ORDER BY entity_name, fiscal_year, fiscal_period"""
    ).fetchall()
    series: dict[str, dict[int, float]] = {}
    first_month: dict[str, tuple[int, int]] = {}
    for entity, year, period, month, spend in rows:
        series.setdefault(entity, {})[period] = float(spend)
        first_month.setdefault(entity, (year, month))
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=100)
    width = 0.8 / max(len(series), 1)
    for i, (entity, values) in enumerate(series.items()):
        year, month = first_month[entity]
        label = f"{entity} (FY from {MONTH_NAMES[month - 1]} {year})"
        offset = (i - (len(series) - 1) / 2) * width
        ax.bar([p + offset for p in values], list(values.values()), width, label=label)
    ax.set_xticks(range(1, 13), [f"P{p}" for p in range(1, 13)])
    ax.set_xlabel("Fiscal month (period of each entity's fiscal year)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(series), fontsize=9, frameon=False)
    ax.set_ylabel("Spend, EUR net of VAT")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f} €"))
    ax.set_title("Lindner group: monthly spend per legal entity (spend_monthly_by_entity)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No version stamp in the file: a rerun writes the same bytes.
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    print(f"\nChart of monthly spend per entity: {path}")


def main() -> None:
    database, picture = Path(sys.argv[1]), Path(sys.argv[2])
    with duckdb.connect(str(database), read_only=True) as con:
        spend_table(con)
        reconciliation(con)
        booked(con)
        balances(con)
        chart(con, picture)


if __name__ == "__main__":
    main()

"""`make demo`'s script end to end, twice (conftest.demo_runs): DATEV emulator (subprocess) →
`meltano invoke tap-datev:login` (PKCE, the script plays the browser) → the tap's submit of a
generated fiscal year → `meltano run datev-to-databricks` (tap → local Delta tables → dbt:build).

The second run must submit nothing, duplicate nothing, print the same figures, redraw the same
chart and hand Meltano's state back to the tap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import demo_data
import demo_ledger
import pyarrow as pa
import pytest
from conftest import DemoRuns, lake_rows
from deltalake import DeltaTable
from demo import read_delta

from datev_emulator.advisor import ADE_SCOPE
from datev_emulator.seed import demo_clients

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BATCHES = demo_ledger.batches()
# The clients whose DATEV services include the Datenservice Export Rechnungswesen.
BOOKED_CLIENTS = {
    c["id"] for c in demo_clients() if any(ADE_SCOPE in service["scopes"] for service in c["services"])
}


def _table(runs: DemoRuns, name: str) -> pa.Table:
    return read_delta(runs.lake / name)


def _expected_eur_by_client() -> dict[str, Decimal]:
    """Account-side EUR sums of the accepted batches, from the generator's postings (S +, H -)."""
    sums: dict[str, Decimal] = {}
    for batch in BATCHES:
        for p in batch.postings:
            signed = p.amount_eur if p.debit_credit == "S" else -p.amount_eur
            sums[batch.entity.client_id] = sums.get(batch.entity.client_id, Decimal(0)) + signed
    return sums


def _report(stdout: str) -> str:
    """What the demo prints after the job: row counts, spend, reconciliation, chart path."""
    return stdout[stdout.index("\nRows per table") :]


def test_first_run_lands_the_year(demo_runs: DemoRuns) -> None:
    submissions = len(BATCHES) + 2 * len(demo_data.ENTITIES)  # EXTF, DXSO + two scans per entity
    assert "Logged in to DATEV" in demo_runs.first
    assert f"Submitted {submissions} to DATEV; 0 submissions were made before" in demo_runs.first

    clients = _table(demo_runs, "clients").to_pylist()
    assert sorted(c["id"] for c in clients) == ["29098-55003", "29098-55004", "29098-55005"]
    assert {c["id"]: c["datev_chart_of_accounts"] for c in clients}["29098-55004"] == 4

    lines = _table(demo_runs, "booking_lines")
    assert lines.num_rows == sum(len(b.postings) for b in BATCHES)
    assert set(lines.column("job_result").to_pylist()) == {"succeeded"}  # the rejected batch is empty
    sums: dict[str, Decimal] = {}
    for row in lines.select(["client_id", "account_amount_eur"]).to_pylist():
        sums[row["client_id"]] = sums.get(row["client_id"], Decimal(0)) + row["account_amount_eur"]
    assert sums == _expected_eur_by_client()
    texts = set(lines.column("buchungstext").to_pylist())
    assert "Papier, Toner, Ordner (Preis in €)" in texts and "Gehälter 01/2025" in texts
    assert sum(lines.column("is_general_reversal").to_pylist()) == len(demo_data.ENTITIES)

    batches = _table(demo_runs, "booking_batches").to_pylist()
    assert sorted(b["status"] for b in batches) == ["failed"] + ["succeeded"] * (len(BATCHES) - 1)
    assert sorted(b["kind"] for b in batches) == ["dxso"] + ["extf"] * (len(BATCHES) - 1)
    assert _table(demo_runs, "documents").num_rows == 2 * len(demo_data.ENTITIES)
    assert _table(demo_runs, "business_partners").num_rows == 3 * len(demo_ledger.SUPPLIERS)


def test_demo_shows_the_exact_money_types(demo_runs: DemoRuns) -> None:
    prefix = "booking_lines column types (Delta log): "
    (line,) = [x for x in demo_runs.first.splitlines() if x.startswith(prefix)]
    shown = dict(pair.split(" ") for pair in line.removeprefix(prefix).split(", "))
    money = "decimal(15,2)"
    assert shown == {
        "umsatz": money,
        "kurs": "decimal(10,6)",
        "account_amount": money,
        "account_amount_eur": money,
        "contra_account_amount_eur": money,
    }


def test_second_run_adds_nothing_and_prints_the_same(demo_runs: DemoRuns) -> None:
    submissions = len(BATCHES) + 2 * len(demo_data.ENTITIES)
    assert "no new login" in demo_runs.second
    assert f"Submitted nothing to DATEV: all {submissions} submissions were made before" in demo_runs.second
    assert lake_rows(demo_runs.lake) == demo_runs.rows_after_first, "the second run duplicated rows"
    assert _report(demo_runs.second) == _report(demo_runs.first)
    assert demo_runs.chart.read_bytes() == demo_runs.chart_after_first

    state = subprocess.run(  # noqa: PLW1510 - the exit code is checked below
        [
            str(BIN / "meltano"),
            "--environment",
            "demo",
            "state",
            "get",
            "demo:tap-datev-to-target-databricks",
        ],
        cwd=demo_runs.project,
        text=True,
        capture_output=True,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    assert state.returncode == 0, state.stderr[-2000:]
    bookmarks = json.loads(state.stdout)["singer_state"]["bookmarks"]
    assert "booking_batches" in bookmarks


def test_demo_prints_spend_by_entity_name_and_the_rejected_batch(demo_runs: DemoRuns) -> None:
    report = _report(demo_runs.first)
    for entity in demo_ledger.ENTITIES:
        source = "booked" if entity.client_id in BOOKED_CLIENTS else "submitted"
        assert f"\n  {entity.name} ({source})\n" in report
    assert "Gehälter" in report and "Wareneingang 19 % Vorsteuer" in report
    ok = len(BATCHES) - 1
    assert f"ok: {ok}, rejected: 1" in report
    assert "REJECTED  EXTF_Buchungsstapel_55005_Nachtrag.csv (Lindner Service GmbH)" in report
    assert f"Chart of monthly spend per entity: {demo_runs.chart}" in report
    assert demo_runs.chart_after_first.startswith(b"\x89PNG")


def test_tables_carry_comments_and_keys(demo_runs: DemoRuns) -> None:
    """What Catalog Explorer shows, read with delta-rs' own schema call: DATEV's field descriptions as
    column comments, the stream and the tap (from `meltano run`) as the table comment, keys NOT NULL."""
    delta = DeltaTable(str(demo_runs.lake / "booking_lines"))
    fields = pa.schema(delta.schema().to_arrow())
    comments = {f.name: (f.metadata or {}).get(b"comment", b"").decode() for f in fields}
    assert comments["client_id"] == "DATEV client id <consultant>-<client>, e.g. 29098-55003"
    described = json.loads((REPO / "tap-datev" / "tap_datev" / "schemas" / "booking_lines.json").read_text())
    expected = {name: p["description"] for name, p in described["properties"].items() if p.get("description")}
    assert {name: comments[name] for name in expected} == expected
    assert delta.metadata().description.startswith("Singer stream 'booking_lines' of tap-datev")
    assert {f.name for f in fields if not f.nullable} == {"client_id", "batch_id", "line_number"}


def test_foreign_currency_postings_land_in_their_currency_with_the_eur_amount(demo_runs: DemoRuns) -> None:
    """The booked ledger holds an imported CHF or USD line as DATEV's Accounting Data Exchange gives it:
    the amount in currency_code with the Kurs as exchange_rate; account_amount_eur is amount ÷ rate."""
    postings = _table(demo_runs, "account_postings").to_pylist()
    foreign = [
        (b.entity.client_id, p)
        for b in BATCHES
        if b.entity.client_id in {r["client_id"] for r in postings}
        for p in b.postings
        if p.currency
    ]
    assert {p.currency for _, p in foreign} == {"CHF", "USD"}
    for client_id, line in foreign:
        (row,) = [
            r for r in postings if r["client_id"] == client_id and r["document_field1"] == line.document
        ]
        assert (row["currency_code"], row["amount"], row["exchange_rate"]) == (
            line.currency,
            line.amount,
            demo_ledger.RATES[line.currency],
        )
        assert row["account_amount_eur"] == line.amount_eur  # generator: amount / Kurs, half-up
        assert row["contra_account_amount_eur"] == -line.amount_eur


def test_the_second_run_skips_what_the_booked_ledger_need_not_reread(demo_runs: DemoRuns) -> None:
    """Closed fiscal years are not read again; the open ones are not exported again within
    ade_postings_interval_hours; the demo says so and lands the same rows."""
    assert "postings exported by job" in demo_runs.first
    assert "postings exported by job" not in demo_runs.second
    closed = [ln for ln in demo_runs.second.splitlines() if "closed, exported" in ln]
    waiting = [ln for ln in demo_runs.second.splitlines() if "the next export is due" in ln]
    assert closed and waiting
    assert all("not read again" in ln for ln in closed)
    assert all("ade_postings_interval_hours" in ln for ln in waiting)

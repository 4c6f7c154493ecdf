"""The Accounting Data Exchange streams against the DATEV emulator, landed by target-databricks' local
engine and read back: full and incremental runs, a posting the advisor changes or deletes between two
runs, closed fiscal years, the export interval, exact decimals and the booking_lines sign convention."""

from __future__ import annotations

import typing as t
from collections import Counter
from decimal import Decimal

from booking.conftest import run_tap

from .conftest import ADE_STREAMS, CLIENT, Lake

if t.TYPE_CHECKING:
    from booking.conftest import TapRun


def _postings(run: TapRun) -> list[dict[str, t.Any]]:
    return run.records("account_postings")


def test_first_run_reads_every_stream_of_every_fiscal_year(ade_config: dict[str, t.Any], lake: Lake) -> None:
    run = run_tap(ade_config, streams=ADE_STREAMS)
    assert run.assert_records_match_schemas() > 0
    years = {r["fiscal_year"] for r in run.records("fiscal_years")}
    assert years == {20240101, 20250101, 20260101}
    lake.land(run.messages)
    postings = lake.rows("account_postings")
    assert {r["fiscal_year"] for r in postings} == years
    assert len(postings) == len(_postings(run))
    for stream in ADE_STREAMS:
        assert lake.rows(stream), stream


def _keys(rows: t.Iterable[t.Mapping[str, t.Any]]) -> Counter[tuple[t.Any, ...]]:
    return Counter(
        (r["client_id"], r["fiscal_year"], r["accounting_sequence_id"], r["posting_hash"], r["occurrence"])
        for r in rows
    )


def _depreciation(rows: t.Iterable[t.Mapping[str, t.Any]]) -> list[t.Mapping[str, t.Any]]:
    """The open year's depreciation postings (advisor sequence 3, not committed)."""
    return [r for r in rows if r["fiscal_year"] == 20260101 and r["accounting_sequence_id"] == 3]


def test_a_changed_posting_is_updated_and_a_deleted_one_removed(
    ade_config: dict[str, t.Any], datev_emulator: t.Any, lake: Lake
) -> None:
    config = {**ade_config, "ade_postings_interval_hours": 0}
    first = run_tap(config, streams=["account_postings"])
    lake.land(first.messages)
    before = lake.rows("account_postings")
    assert len(_depreciation(before)) == 10
    assert all(r["amount_debit"] == Decimal("2083.33") for r in _depreciation(before))

    control = datev_emulator.control
    control.change_advisor_posting(CLIENT, 20260101, "afa-1", {"amountDebit": "2100.55"})
    control.change_advisor_posting(CLIENT, 20260101, "afa-2", None)
    second = run_tap(config, state=first.state, streams=["account_postings"])
    assert [m["version"] for m in second.messages if m["type"] == "ACTIVATE_VERSION"]
    lake.land(second.messages)

    after = lake.rows("account_postings")
    assert len(after) == len(before) - 1  # one deleted; the changed one not duplicated
    assert max(_keys(after).values()) == 1
    amounts = Counter(r["amount_debit"] for r in _depreciation(after))
    assert amounts == {Decimal("2083.33"): 8, Decimal("2100.55"): 1}
    changed = next(r for r in _depreciation(after) if r["amount_debit"] == Decimal("2100.55"))
    assert (changed["account_amount"], changed["contra_account_amount"]) == (
        Decimal("2100.55"),
        Decimal("-2100.55"),
    )
    assert changed["account_amount_eur"] == Decimal("2100.55")
    # Soft delete (hard_delete false): the retired rows stay, marked; the closed years' rows do not.
    retired = [r for r in lake.rows("account_postings", deleted=True) if r["_sdc_deleted_at"] is not None]
    assert len(retired) == 2
    assert {r["fiscal_year"] for r in retired} == {20260101}
    assert {r["fiscal_year"] for r in after} == {20240101, 20250101, 20260101}


def test_hard_delete_removes_the_rows_the_snapshot_no_longer_holds(
    ade_config: dict[str, t.Any], datev_emulator: t.Any, tmp_path: t.Any
) -> None:
    lake = Lake(tmp_path / "hard", hard_delete=True)
    config = {**ade_config, "ade_postings_interval_hours": 0}
    first = run_tap(config, streams=["account_postings"])
    lake.land(first.messages)
    datev_emulator.control.change_advisor_posting(CLIENT, 20260101, "afa-3", None)
    lake.land(run_tap(config, state=first.state, streams=["account_postings"]).messages)
    rows = lake.rows("account_postings", deleted=True)
    assert len(rows) == len(first.records("account_postings")) - 1
    assert len(_depreciation(rows)) == 9


def test_a_closed_year_is_read_once_and_its_rows_stay(
    ade_config: dict[str, t.Any], request_log: t.Any, lake: Lake
) -> None:
    config = {**ade_config, "ade_postings_interval_hours": 0}
    first = run_tap(config, streams=["account_postings"])
    assert request_log.count("POST", "/account-postings") == 3
    lake.land(first.messages)
    second = run_tap(config, state=first.state, streams=["account_postings"])
    # 2024 and 2025 are past and committed throughout: only the open year 2026 is exported again,
    # while every year's sequence list is read again.
    assert request_log.count("POST", "/account-postings") == 4
    assert request_log.count("GET", "/accounting-sequences") == 6
    assert {r["fiscal_year"] for r in second.records("account_postings")} == {20260101}
    lake.land(second.messages)
    assert _keys(lake.rows("account_postings")) == _keys(first.records("account_postings"))


def test_a_new_sequence_in_a_closed_year_reopens_it(
    ade_config: dict[str, t.Any], datev_emulator: t.Any, request_log: t.Any
) -> None:
    config = {**ade_config, "ade_postings_interval_hours": 0}
    first = run_tap(config, streams=["account_postings"])
    datev_emulator.control.add_advisor_postings(CLIENT, 20250101, 3, committed=True)
    second = run_tap(config, state=first.state, streams=["account_postings"])
    assert {r["fiscal_year"] for r in second.records("account_postings")} == {20250101, 20260101}
    third = run_tap(config, state=second.state, streams=["account_postings"])
    assert {r["fiscal_year"] for r in third.records("account_postings")} == {20260101}


def test_the_open_year_is_exported_at_most_once_per_interval(
    ade_config: dict[str, t.Any], datev_emulator: t.Any, request_log: t.Any, lake: Lake
) -> None:
    first = run_tap(ade_config, streams=["account_postings"])
    lake.land(first.messages)
    datev_emulator.control.change_advisor_posting(CLIENT, 20260101, "afa-1", {"amountDebit": "1.00"})
    second = run_tap(ade_config, state=first.state, streams=["account_postings"])
    assert request_log.count("POST", "/account-postings") == 3  # the first run's only
    assert not second.records("account_postings")
    assert not [m for m in second.messages if m["type"] == "ACTIVATE_VERSION"]
    lake.land(second.messages)
    assert _keys(lake.rows("account_postings")) == _keys(first.records("account_postings"))
    # The state says what was read when, per client and fiscal year.
    partitions = second.state["bookmarks"]["account_postings"]["partitions"]
    assert {p["context"]["fiscal_year"] for p in partitions} == {20240101, 20250101, 20260101}
    assert all(p["read_at"] and p["job_id"] and p["postings"] > 0 for p in partitions)


def test_postings_add_up_to_sums_and_balances_to_the_cent(ade_config: dict[str, t.Any], lake: Lake) -> None:
    """Exact decimals and the sign convention: per account, the signed postings (account side plus
    contra side) equal DATEV's balance, opening balance included."""
    run = run_tap(ade_config, streams=["account_postings", "sums_and_balances"])
    lake.land(run.messages)
    postings = lake.rows("account_postings")
    balances = lake.rows("sums_and_balances")
    assert len(balances) > 10
    for balance in balances:
        year, account = balance["fiscal_year"], balance["account_number"]
        mine = [p for p in postings if p["fiscal_year"] == year]
        total = sum((p["account_amount"] for p in mine if p["account_number"] == account), Decimal(0)) + sum(
            (p["contra_account_amount"] for p in mine if p["contra_account_number"] == account), Decimal(0)
        )
        signed = (
            balance["balance"] if balance["balance_debit_credit_identifier"] == "S" else -balance["balance"]
        )
        assert total == signed, (year, account)
        assert isinstance(total, Decimal)


def test_a_failed_job_leaves_the_year_due_and_retires_nothing(
    ade_config: dict[str, t.Any], datev_emulator: t.Any, lake: Lake, caplog: t.Any
) -> None:
    first = run_tap(ade_config, streams=["account_postings"])
    lake.land(first.messages)
    datev_emulator.control.change_advisor_posting(CLIENT, 20260101, "afa-4", None)
    datev_emulator.control.fail_account_postings_jobs(1)
    config = {**ade_config, "ade_postings_interval_hours": 0}
    second = run_tap(config, state=first.state, streams=["account_postings"])
    assert not second.records("account_postings")
    assert not [m for m in second.messages if m["type"] == "ACTIVATE_VERSION"]
    assert any("FAILED" in r.getMessage() for r in caplog.records)
    lake.land(second.messages)
    assert _keys(lake.rows("account_postings")) == _keys(first.records("account_postings"))
    # The next run exports the year again, now completely, and retires the deleted posting.
    third = run_tap(config, state=second.state, streams=["account_postings"])
    lake.land(third.messages)
    assert len(_depreciation(lake.rows("account_postings"))) == 9


def test_datev_captions_fill_gl_accounts_where_no_label_is_configured(
    ade_config: dict[str, t.Any], lake: Lake
) -> None:
    labels = [
        {"client_id": CLIENT, "account_number": "1200", "label": "Hausbank"},
        {"client_id": CLIENT, "account_number": "4830", "label": "Depreciation", "language": "en-GB"},
    ]
    run = run_tap({**ade_config, "gl_accounts": labels}, streams=["gl_accounts", "general_ledger_accounts"])
    lake.land(run.messages)
    rows = {(r["account_number"], r["language"]): r for r in lake.rows("gl_accounts")}
    captions = {r["account_number"]: r["caption"] for r in lake.rows("general_ledger_accounts")}
    assert captions[1200] and captions[4830] and captions[4120]
    # Configured labels win, in any language; DATEV's caption fills the accounts without one.
    assert (rows[(1200, "de-DE")]["label"], rows[(1200, "de-DE")]["label_source"]) == ("Hausbank", "setting")
    assert (4830, "de-DE") not in rows
    assert rows[(4830, "en-GB")]["label_source"] == "setting"
    assert (rows[(4120, "de-DE")]["label"], rows[(4120, "de-DE")]["label_source"]) == (
        captions[4120],
        "datev",
    )
    assert len(rows) == len(captions)

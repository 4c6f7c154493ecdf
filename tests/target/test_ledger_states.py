"""The ledger's states in order, and what the ledger tells a new load (audit.prior) and a reader
(audit.current_loads, the `_ml_connector_loads_current` view's rule)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from target_databricks import audit
from target_databricks.engines.base import Column, LedgerEntry, Load, LoadStatus, Prior, TableRef, TableSpec

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
SPEC = TableSpec(TableRef("main", "datev", "lines"), (Column("id", "BIGINT", pa.int64()),), ("id",))
LOAD = Load("L1", "lines", SPEC, "upsert", 3, "", table_id="T-now")


def row(status: LoadStatus, attempt: int, second: int, table_id: str | None = "T-now") -> LedgerEntry:
    staged = f"/staged/L1-{table_id}-{attempt}.parquet"
    when = T0 + dt.timedelta(seconds=second)
    return LedgerEntry("L1", "lines", "main.datev.lines", "upsert", status, 3, attempt, staged, None, when,
                       table_id=table_id)  # fmt: skip


def test_a_new_load_is_attempt_one() -> None:
    assert audit.prior([], LOAD) == Prior(committed=False, attempt=1)


def test_an_attempt_cut_short_is_resumed_under_its_own_identity() -> None:
    prior = audit.prior([row("staged", 1, 0)], LOAD)
    assert prior == Prior(committed=False, attempt=1, staged="/staged/L1-T-now-1.parquet")


def test_after_a_failure_the_next_attempt_is_a_new_one() -> None:
    prior = audit.prior([row("staged", 1, 0), row("failed", 1, 1)], LOAD)
    assert (prior.committed, prior.attempt) == (False, 2)


def test_committed_counts_only_for_the_same_table_id() -> None:
    done = [row("staged", 1, 0), row("committed", 1, 1)]
    assert audit.prior(done, LOAD).committed
    # The same load committed to a table since dropped, or to a table of another schema's ledger
    # row written before table ids were recorded: not this table.
    elsewhere = [row("staged", 1, 0, "T-old"), row("committed", 1, 1, "T-old"), row("committed", 1, 2, None)]
    assert audit.prior(elsewhere, LOAD) == Prior(committed=False, attempt=1)


def test_skipped_and_stale_staged_rows_do_not_hide_committed() -> None:
    story = [row("staged", 1, 0), row("committed", 1, 1), row("skipped", 1, 5), row("staged", 1, 6)]
    assert audit.current_loads(story)["L1"].status == "committed"


def test_a_recovered_commit_of_a_later_attempt_is_current() -> None:
    # Crash after the apply (attempt 1 only `staged`), then replay as attempt 2 found it applied.
    story = [row("staged", 1, 0), row("committed", 2, 3)]
    current = audit.current_loads(story)["L1"]
    assert (current.status, current.attempt) == ("committed", 2)


def test_a_recreated_table_shows_the_new_tables_state() -> None:
    story = [row("staged", 1, 0, "T-old"), row("committed", 1, 1, "T-old"), row("staged", 1, 9)]
    assert audit.current_loads(story)["L1"].table_id == "T-now"
    assert audit.current_loads(story)["L1"].status == "staged"

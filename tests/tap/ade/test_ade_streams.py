"""The Accounting Data Exchange streams against the DATEV emulator, landed by target-databricks' local
engine and read back: full and incremental runs, a posting the advisor changes or deletes between two
runs, closed fiscal years, the export interval, exact decimals and the booking_lines sign convention."""

from __future__ import annotations

import typing as t

from booking.conftest import run_tap

from .conftest import ADE_STREAMS, Lake

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

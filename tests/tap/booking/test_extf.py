"""submit extf against the emulator, then the booking_batches / booking_lines streams."""

from __future__ import annotations

import datetime as dt
import json
import typing as t
from pathlib import Path

import pytest
from click.testing import CliRunner

from tap_datev import jobs
from tap_datev import submit as submit_module
from tap_datev.ledger import PENDING, SUCCEEDED, Ledger
from tap_datev.submit import SubmitRefused, submit, submit_extf

from .conftest import run_tap, run_tap_until_error
from .factory import BOOKINGS, CLIENT_ID, Booking, buchungsstapel

if t.TYPE_CHECKING:
    from tap_datev.client import DatevClient

    from .conftest import RequestLog

EXTF_PATH = "/accounting-extf-files/"


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Our own clock (the poller's) moved on past DATEV's Retry-After (the emulator's clock is separate)."""
    real = jobs.utc_now
    monkeypatch.setattr(jobs, "utc_now", lambda: real() + dt.timedelta(seconds=seconds))


def _jobs(datev: DatevClient, client_id: str = CLIENT_ID) -> list[dict[str, t.Any]]:
    return datev.request("GET", "extf", f"/clients/{client_id}/extf-files/jobs").json()


def test_submit_then_sync_pending_succeeded_and_quiet(  # noqa: PLR0917 (fixtures)
    booking_config: dict[str, t.Any],
    config_file: Path,
    tmp_path: Path,
    datev_emulator: t.Any,
    request_log: RequestLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "EXTF_Maerz_2026.csv"
    path.write_bytes(buchungsstapel())
    result = CliRunner().invoke(submit, ["extf", "--config", str(config_file), str(path)])
    assert result.exit_code == 0, result.output
    assert "status pending" in result.output

    with Ledger.open(booking_config["state_dir"]) as ledger:
        (row,) = ledger.all()
    assert row.kind == "extf" and row.client_id == CLIENT_ID and row.status == PENDING
    assert row.job_id and row.reference_id == f"mlc_{row.batch_id}"
    assert (Path(booking_config["state_dir"]) / "files" / row.sha256).read_bytes() == path.read_bytes()
    assert request_log.count("POST", "/extf-files/import") == 1

    # Run 1: DATEV's Retry-After has passed for us, but the job is still pending at DATEV.
    _later(monkeypatch, 30)
    first = run_tap(booking_config)
    (batch,) = first.records("booking_batches")
    assert batch["batch_id"] == row.batch_id and batch["status"] == "pending" and batch["kind"] == "extf"
    lines = first.records("booking_lines")
    assert [line["job_result"] for line in lines] == ["pending"] * 3
    assert request_log.count("GET", f"/extf-files/jobs/{row.job_id}") == 1

    # Run 2: the emulator finished the job; the pending job is polled again.
    datev_emulator.control.advance(60)
    second = run_tap(booking_config, first.state)
    (batch,) = second.records("booking_batches")
    assert batch["status"] == "succeeded" and batch["result"] == "succeeded"
    assert batch["final_at"] and batch["updated_at"] > first.records("booking_batches")[0]["updated_at"]
    assert request_log.count("GET", f"/extf-files/jobs/{row.job_id}") == 2
    lines = sorted(second.records("booking_lines"), key=lambda r: r["line_number"])
    assert [line["job_result"] for line in lines] == ["succeeded"] * 3
    assert [
        (r["konto"], r["gegenkonto"], r["account_amount"], r["contra_account_amount"]) for r in lines
    ] == [
        (1200, 8400, "119.00", "-119.00"),
        (1200, 4930, "-50.00", "50.00"),
        (10000, 8400, "1234.56", "-1234.56"),
    ]
    assert [(r["account_label"], r["contra_account_label"]) for r in lines] == [
        ("Bank", "Erlöse 19 % USt"),
        ("Bank", "Bürobedarf"),  # the German label wins over en-GB
        (None, "Erlöse 19 % USt"),
    ]
    assert {r["job_id"] for r in lines} == {row.job_id}
    assert {r["batch_id"] for r in lines} == {row.batch_id}
    assert len(second.records("gl_accounts")) == 4  # full table: every run
    assert second.assert_records_match_schemas() == 1 + 3 + 4

    # Run 3: nothing new: no batch, no lines, and the final job is not fetched again.
    third = run_tap(booking_config, second.state)
    assert third.records("booking_batches") == []
    assert third.records("booking_lines") == []
    assert request_log.count("GET", f"/extf-files/jobs/{row.job_id}") == 2
    assert len(third.records("gl_accounts")) == 4


def test_pending_job_waits_for_retry_after(
    booking_config: dict[str, t.Any], datev: DatevClient, ledger: Ledger, request_log: RequestLog
) -> None:
    row = submit_extf(datev, ledger, "EXTF_wait.csv", buchungsstapel())
    assert row.next_poll_at is not None
    ledger.close()
    run = run_tap(booking_config, streams=["booking_batches"])
    assert [r["status"] for r in run.records("booking_batches")] == ["pending"]
    assert request_log.count("GET", "/extf-files/jobs/") == 0  # DATEV said: not before 5 s


def test_duplicate_refused_without_force(datev: DatevClient, ledger: Ledger, request_log: RequestLog) -> None:
    data = buchungsstapel()
    submit_extf(datev, ledger, "EXTF_dup.csv", data)
    with pytest.raises(SubmitRefused, match="--force"):
        submit_extf(datev, ledger, "EXTF_dup_again.csv", data)
    assert len(ledger.all()) == 1
    assert request_log.count("POST", "/extf-files/import") == 1
    forced = submit_extf(datev, ledger, "EXTF_dup_again.csv", data, force=True)
    assert forced.status == PENDING and len(ledger.all()) == 2
    assert len(_jobs(datev)) == 2


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("EXTF_unknown.csv", buchungsstapel(client=99999), "consultant number 29098 and client number 99999"),
        ("Buchungen.csv", buchungsstapel(), "EXTF_"),
        (
            "EXTF_broken.csv",
            buchungsstapel((Booking("0,00", "S", 1200, 8400, "1503", "X", "null"),)),
            "EXTF_broken.csv line 3",
        ),
        (
            "EXTF_badheader.csv",
            buchungsstapel(created="2026"),
            "EXTF_badheader.csv line 1",
        ),
        # Fine for DATEV's name pattern, but not sendable in an HTTP header (was a crash after recording).
        ("EXTF_Stapel_€.csv", buchungsstapel(), "cannot be sent in the Filename header"),
    ],
)
def test_refusals_record_and_send_nothing(  # noqa: PLR0917 (fixtures)
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    request_log: RequestLog,
    name: str,
    data: bytes,
    expected: str,
) -> None:
    with pytest.raises(SubmitRefused, match=expected) as exc:
        submit_extf(datev, ledger, name, data)
    if "line" in expected:
        assert "field" in str(exc.value)
    assert ledger.all() == []
    assert request_log.count("POST", "/extf-files/import") == 0
    assert list((Path(booking_config["state_dir"]) / "files").iterdir()) == []


def test_unclear_outcome_yields_exactly_one_job(
    datev: DatevClient, ledger: Ledger, datev_emulator: t.Any, request_log: RequestLog
) -> None:
    datev_emulator.control.arm_fault(kind="drop", method="POST", path_prefix=EXTF_PATH)
    row = submit_extf(datev, ledger, "EXTF_dropped.csv", buchungsstapel())
    jobs = _jobs(datev)
    assert len(jobs) == 1
    assert row.status == PENDING and row.job_id == jobs[0]["id"]
    assert jobs[0]["reference_id"] == row.reference_id
    assert request_log.count("POST", "/extf-files/import") == 1  # looked up, not sent again


def test_429_retry_after_is_honoured(datev: DatevClient, ledger: Ledger, datev_emulator: t.Any) -> None:
    datev_emulator.control.arm_fault(
        kind="status", status=429, retry_after=7, method="POST", path_prefix=EXTF_PATH
    )
    row = submit_extf(datev, ledger, "EXTF_busy.csv", buchungsstapel())
    assert datev.waits == [7.0]  # type: ignore[attr-defined]
    assert row.status == PENDING
    assert len(_jobs(datev)) == 1


def test_failed_job_keeps_datev_codes(
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    datev_emulator: t.Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tap_datev import extf

    # A header DATEV refuses (reserved field 23 filled) that only a lenient local check lets pass.
    data = buchungsstapel().replace(b'"EUR";;""', b'"EUR";1;""', 1)
    monkeypatch.setattr(extf, "check_for_submit", extf.read_extf)
    row = submit_extf(datev, ledger, "EXTF_reserved.csv", data)
    ledger.close()
    datev_emulator.control.advance(60)
    _later(monkeypatch, 30)
    run = run_tap(booking_config, streams=["booking_batches", "booking_lines"])
    (batch,) = run.records("booking_batches")
    assert batch["batch_id"] == row.batch_id
    assert batch["status"] == "failed" and batch["result"] == "failed"
    assert batch["validation_code"] == "1008834"
    reasons = [e["reason"] for e in batch["validation_details"]["affected_elements"]]
    assert any("(23)" in reason for reason in reasons)
    # The lines still go out, marked with the job's result so they can be excluded.
    assert {r["job_result"] for r in run.records("booking_lines")} == {"failed"}


def test_succeeded_job_counts_records(
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    datev_emulator: t.Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submit_extf(datev, ledger, "EXTF_count.csv", buchungsstapel())
    ledger.close()
    datev_emulator.control.advance(60)
    _later(monkeypatch, 30)
    (batch,) = run_tap(booking_config, streams=["booking_batches"]).records("booking_batches")
    assert batch["status"] == SUCCEEDED and batch["number_of_accounting_records"] == 3
    assert batch["validation_details"] is None


def test_sync_resolves_an_interrupted_upload(
    booking_config: dict[str, t.Any], datev: DatevClient, ledger: Ledger, request_log: RequestLog
) -> None:
    """A submit that died mid-request leaves "uploading": the sync finds the job by Reference-Id,
    and marks an upload DATEV never received as failed (so it may be sent again)."""
    arrived = submit_extf(datev, ledger, "EXTF_arrived.csv", buchungsstapel())
    job_id = arrived.job_id
    ledger.update(arrived.batch_id, status="uploading", job_id=None, result=None)
    lost = ledger.record(
        kind="extf",
        client_id=CLIENT_ID,
        file_name="EXTF_lost.csv",
        sha256=ledger.keep_file(b"never sent"),
        size=10,
        reference_id="mlc_never-sent",
    )
    ledger.update(lost.batch_id, status="uploading")
    ledger.close()

    run = run_tap(booking_config, streams=["booking_batches"])
    by_id = {r["batch_id"]: r for r in run.records("booking_batches")}
    assert by_id[arrived.batch_id]["job_id"] == job_id
    assert by_id[arrived.batch_id]["status"] == PENDING
    assert by_id[lost.batch_id]["status"] == "failed"
    assert "never arrived" in by_id[lost.batch_id]["error"]
    assert request_log.count("GET", "/extf-files/jobs") == 2  # one job-list look-up per row
    assert request_log.count("POST", "/extf-files/import") == 1  # the sync never uploads


def test_empty_ledger_sync_touches_nothing(booking_config: dict[str, t.Any], request_log: RequestLog) -> None:
    run = run_tap(booking_config, streams=["documents", "booking_batches", "booking_lines"])
    assert [m for m in run.messages if m["type"] == "RECORD"] == []
    assert request_log.calls == []
    assert not (Path(booking_config["state_dir"]) / "ledger.sqlite").exists()


def test_503_before_the_work_is_looked_up_then_resent(
    datev: DatevClient, ledger: Ledger, datev_emulator: t.Any, request_log: RequestLog
) -> None:
    datev_emulator.control.arm_fault(
        kind="status", status=503, retry_after=3, method="POST", path_prefix=EXTF_PATH
    )
    row = submit_extf(datev, ledger, "EXTF_maintenance.csv", buchungsstapel())
    assert datev.waits == [3.0]  # type: ignore[attr-defined]
    assert request_log.count("GET", "/extf-files/jobs") == 1  # looked up: not there
    assert request_log.count("POST", "/extf-files/import") == 2  # so sent again
    assert row.status == PENDING
    assert [j["id"] for j in _jobs(datev)] == [row.job_id]


def test_unreadable_kept_file_ends_the_stream_without_partial_lines(
    booking_config: dict[str, t.Any], datev: DatevClient, ledger: Ledger
) -> None:
    good = submit_extf(datev, ledger, "EXTF_good.csv", buchungsstapel())
    # Other postings: a file differing only in its label would be refused as the same postings.
    bad = submit_extf(datev, ledger, "EXTF_bad.csv", buchungsstapel(BOOKINGS[:2], label="Zweiter Stapel"))
    # The kept copy of the second file is damaged on disk after submitting.
    (Path(booking_config["state_dir"]) / "files" / bad.sha256).write_bytes(b'"EXTF";700;21\r\n')
    ledger.close()
    run, error = run_tap_until_error(booking_config, streams=["booking_batches", "booking_lines"])
    assert error is not None
    assert (
        f"The kept copy of EXTF_bad.csv ({Path(booking_config['state_dir']) / 'files' / bad.sha256})"
        in str(error)
    )
    lines = run.records("booking_lines")
    assert {r["batch_id"] for r in lines} == {good.batch_id}  # nothing of the damaged batch
    assert len(lines) == 3
    # No state was written that would skip the damaged batch on the next run.
    bookmarks = [
        json.dumps(m["value"].get("bookmarks", {}).get("booking_batches", {}))
        for m in run.messages
        if m["type"] == "STATE"
    ]
    assert not any(bad.updated_at in text for text in bookmarks)


def test_a_file_unreadable_at_its_last_line_emits_no_line_of_its_batch(
    booking_config: dict[str, t.Any], datev: DatevClient, ledger: Ledger
) -> None:
    # Lines go out as they are converted, a block at a time. The kept copy passed the submit checks and
    # is checked against its sha256 before its first line, so a copy changed on disk since (here one
    # unreadable last line) stops the batch before any of its lines.
    row = submit_extf(datev, ledger, "EXTF_tail.csv", buchungsstapel())
    kept = Path(booking_config["state_dir"]) / "files" / row.sha256
    kept.write_bytes(kept.read_bytes() + b'"' + b"x" * 200_000 + b'";1\r\n')  # over csv's field limit
    ledger.close()
    run, error = run_tap_until_error(booking_config, streams=["booking_batches", "booking_lines"])
    assert error is not None
    assert f"The kept copy of EXTF_tail.csv ({kept}) changed on disk since it was submitted" in str(error)
    assert run.records("booking_lines") == []


CLIENTS_LIST = "/accounting-clients/platform/v2/clients"


@pytest.mark.usefixtures("filler_clients")
def test_the_client_is_found_with_one_filtered_request(
    datev: DatevClient, ledger: Ledger, request_log: RequestLog
) -> None:
    # With 253 clients, paging through them all would take three GETs per submit.
    submit_extf(datev, ledger, "EXTF_filter.csv", buchungsstapel())
    assert [p for m, p in request_log.calls if m == "GET" and p == CLIENTS_LIST] == [CLIENTS_LIST]
    with pytest.raises(SubmitRefused, match="not a DATEV client id"):
        submit_module.require_client(datev, "accounting:documents", client_id="Mueller GmbH")


def test_cli_shows_datev_errors_without_a_traceback(
    config_file: Path, tmp_path: Path, datev_emulator: t.Any
) -> None:
    datev_emulator.control.arm_fault(kind="status", status=500, method="GET", path_prefix=CLIENTS_LIST)
    path = tmp_path / "EXTF_Maerz_2026.csv"
    path.write_bytes(buchungsstapel())
    result = CliRunner().invoke(submit, ["extf", "--config", str(config_file), str(path)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a ClickException, not an uncaught error
    assert "DATEV answered HTTP 500 for GET" in result.output

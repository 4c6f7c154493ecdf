"""The ledger: rows written before requests, monotone updated_at, kept files, the writer lock."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path

import pytest

from tap_datev import ledger as ledger_module
from tap_datev.ledger import (
    FAILED,
    PENDING,
    SUCCEEDED,
    TICK,
    UPLOADING,
    Ledger,
    LedgerError,
    sha256_hex,
)


def _record(ledger: Ledger, data: bytes = b"EXTF;700", client_id: str = "29098-55003") -> str:
    digest = ledger.keep_file(data)
    return ledger.record(
        kind="extf", client_id=client_id, file_name="EXTF_x.csv", sha256=digest, size=len(data)
    ).batch_id


def test_record_keep_and_reopen(tmp_path: Path) -> None:
    with Ledger.open(tmp_path) as ledger:
        batch_id = _record(ledger, b"hello")
        row = ledger.require(batch_id)
        assert row.status == "recorded"
        assert row.created_at == row.updated_at
        assert ledger.kept_file(row.sha256) == b"hello"
    assert (tmp_path / "files" / sha256_hex(b"hello")).read_bytes() == b"hello"
    with Ledger.open(tmp_path) as again:  # survives a new process/connection
        assert again.require(batch_id).sha256 == sha256_hex(b"hello")
        mode = again._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_updated_at_moves_only_on_real_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frozen = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    monkeypatch.setattr(ledger_module, "utc_now", lambda: frozen)  # a stopped clock
    with Ledger.open(tmp_path) as ledger:
        a = _record(ledger, b"a")
        b = _record(ledger, b"b")
        first = ledger.require(a).updated_at
        assert ledger.require(b).updated_at > first  # strictly later even with a stopped clock
        polled = ledger.update(a, last_polled_at="2026-01-01T00:00:00.000000+00:00")
        assert polled.updated_at == first  # polling bookkeeping is quiet
        same = ledger.update(a, status="recorded")
        assert same.updated_at == first  # no change, no move
        moved = ledger.update(a, status=PENDING, job_id="j1", uploaded_at=TICK)
        assert moved.updated_at > ledger.require(b).updated_at
        assert moved.uploaded_at == moved.updated_at
        assert moved.final_at is None
        done = ledger.update(a, status=SUCCEEDED, validation_details={"type": "x/1008834"})
        assert done.final_at == done.updated_at
        assert done.validation_details == {"type": "x/1008834"}
        since = ledger.changed_since("29098-55003", ["extf"], moved.updated_at)
        assert [r.batch_id for r in since] == [a]


def test_live_rows_and_open_jobs(tmp_path: Path) -> None:
    with Ledger.open(tmp_path) as ledger:
        a = _record(ledger, b"same")
        assert [r.batch_id for r in ledger.live_duplicates("extf", sha256_hex(b"same"))] == [a]
        ledger.update(a, status=FAILED)
        assert ledger.live_duplicates("extf", sha256_hex(b"same")) == []  # failed may be resent
        b = _record(ledger, b"same")
        ledger.update(b, status=UPLOADING)
        ledger.update(b, status=PENDING, job_id="j")
        assert [r.batch_id for r in ledger.open_jobs("29098-55003", ["extf"])] == [b]
        assert ledger.client_ids(["extf"]) == ["29098-55003"]
        assert ledger.client_ids(["dxso"]) == []


def _hold_lock(
    state_dir: str, ready: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event
) -> None:
    with Ledger.open(state_dir):
        ready.set()
        release.wait(10)


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LedgerError, match="holds"), Ledger.open(tmp_path, lock_timeout=0.2):
            pass
    finally:
        release.set()
        holder.join(10)
    with Ledger.open(tmp_path, lock_timeout=2), Ledger.open(tmp_path, lock_timeout=0):
        pass  # re-entrant within one process (booking_lines syncs inside booking_batches)


def test_ledger_and_kept_files_are_private(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "state") as ledger:
        digest = ledger.keep_file(b"Buchungen")
    assert (tmp_path / "state" / "ledger.sqlite").stat().st_mode & 0o077 == 0
    assert (tmp_path / "state" / "files" / digest).stat().st_mode & 0o077 == 0

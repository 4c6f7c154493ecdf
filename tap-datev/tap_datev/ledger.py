"""The submissions ledger: what was sent to DATEV through this connector, and the files sent.

DATEV cannot list uploaded documents or DXSO jobs, and its EXTF import cannot return booking
lines, so the connector remembers every submission itself. A row is written *before* each
request and updated after it, so a crash mid-request leaves a row that says so ("uploading").

Layout under `state_dir`:
- `ledger.sqlite` (WAL): one row per submission (`submissions`) plus the files of a DXSO package
  (`submission_files`).
- `files/<sha256>`: the exact bytes submitted, from which booking lines are parsed later.
- `ledger.lock`: an exclusive lock taken by `submit` and by syncs (one writer at a time).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
import time
import typing as t
import uuid
from dataclasses import dataclass
from pathlib import Path

KINDS = ("document", "extf", "dxso")

# Lifecycle: recorded → uploading → pending (a DATEV job is running) → succeeded / failed /
# partially_succeeded / cancelled; "unclear": the request may or may not have reached DATEV.
RECORDED = "recorded"
UPLOADING = "uploading"
PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
PARTIALLY_SUCCEEDED = "partially_succeeded"
CANCELLED = "cancelled"
UNCLEAR = "unclear"
FINAL_STATUSES = frozenset({SUCCEEDED, FAILED, PARTIALLY_SUCCEEDED, CANCELLED})
OPEN_STATUSES = frozenset({PENDING, UNCLEAR})
# A file in one of these states may already be (or become) a job at DATEV: resubmitting it
# without --force would risk booking it twice.
LIVE_STATUSES = frozenset({RECORDED, UPLOADING, PENDING, UNCLEAR, SUCCEEDED, PARTIALLY_SUCCEEDED})

# Fields whose change does not make a submission "changed" for incremental streams.
_QUIET_FIELDS = frozenset({"last_polled_at", "next_poll_at"})
_JSON_FIELDS = frozenset({"validation_details", "protocol", "answer"})

# Columns added after the first release: a ledger written before gets them (null) when opened.
_ADDED_COLUMNS = {
    "posting_digest": "TEXT",
    "file_line_count": "INTEGER",
    "file_debit_sum": "TEXT",
    "file_credit_sum": "TEXT",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    batch_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('document', 'extf', 'dxso')),
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    reference_id TEXT,
    status TEXT NOT NULL,
    job_id TEXT,
    result TEXT,
    validation_details TEXT,
    number_of_accounting_records INTEGER,
    dxso_status INTEGER,
    protocol TEXT,
    answer TEXT,
    error TEXT,
    document_type TEXT,
    note TEXT,
    import_type TEXT,
    accounting_month TEXT,
    next_poll_at TEXT,
    created_at TEXT NOT NULL,
    uploaded_at TEXT,
    last_polled_at TEXT,
    final_at TEXT,
    updated_at TEXT NOT NULL,
    posting_digest TEXT,
    file_line_count INTEGER,
    file_debit_sum TEXT,
    file_credit_sum TEXT
);
CREATE INDEX IF NOT EXISTS submissions_by_client ON submissions (client_id, kind, updated_at);
CREATE INDEX IF NOT EXISTS submissions_by_sha ON submissions (sha256);
CREATE INDEX IF NOT EXISTS submissions_by_update ON submissions (updated_at);
CREATE INDEX IF NOT EXISTS submissions_by_posting_digest ON submissions (posting_digest);
CREATE TABLE IF NOT EXISTS submission_files (
    batch_id TEXT NOT NULL REFERENCES submissions (batch_id),
    position INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (batch_id, position)
);
"""


class _Tick:
    """Sentinel: "the ledger's next monotone timestamp" (the one updated_at gets)."""

    def __repr__(self) -> str:
        return "TICK"


TICK: t.Any = _Tick()


class LedgerError(Exception):
    """The ledger cannot be used (locked by another process, missing kept file, ...)."""


def utc_now() -> dt.datetime:
    """The ledger's clock (tests may replace it)."""
    return dt.datetime.now(dt.UTC)


def format_ts(value: dt.datetime) -> str:
    """One fixed text form (UTC, microseconds) so stored timestamps sort as text."""
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_ts(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FileFigures:
    """What a submitted file said about itself, recorded with the submission for reconciliation:
    the posting digest, the number of booking lines and the Umsatz sums per side (money strings)."""

    posting_digest: str | None = None
    line_count: int | None = None
    debit_sum: str | None = None
    credit_sum: str | None = None


@dataclass(frozen=True)
class SubmissionFile:
    batch_id: str
    position: int
    file_name: str
    sha256: str
    size: int
    role: str
    status: str


@dataclass(frozen=True)
class Submission:
    batch_id: str
    client_id: str
    kind: str
    file_name: str
    sha256: str
    size: int
    reference_id: str | None
    status: str
    job_id: str | None
    result: str | None
    validation_details: t.Any
    number_of_accounting_records: int | None
    dxso_status: int | None
    protocol: t.Any
    answer: t.Any
    error: str | None
    document_type: str | None
    note: str | None
    import_type: str | None
    accounting_month: str | None
    next_poll_at: str | None
    created_at: str
    uploaded_at: str | None
    last_polled_at: str | None
    final_at: str | None
    updated_at: str
    # What the file said at submit time (null for documents and for rows written before these existed).
    posting_digest: str | None = None
    file_line_count: int | None = None
    file_debit_sum: str | None = None
    file_credit_sum: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Submission:
        values = dict(row)
        for name in _JSON_FIELDS:
            if values[name] is not None:
                values[name] = json.loads(values[name])
        return cls(**values)


class _ProcessLocks:
    """flock is per open file: keep one descriptor per path so the lock is re-entrant in-process.

    (booking_lines syncs inside booking_batches' sync, in the same process, under the same lock.)
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: dict[Path, tuple[int, int]] = {}

    def acquire(self, path: Path, timeout: float) -> None:
        with self._mutex:
            if path in self._held:
                fd, count = self._held[path]
                self._held[path] = (fd, count + 1)
                return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LedgerError(
                        f"Another tap-datev process (a submit or a sync) holds {path}; "
                        "try again when it has finished."
                    ) from None
                time.sleep(0.05)
        with self._mutex:
            self._held[path] = (fd, 1)

    def release(self, path: Path) -> None:
        with self._mutex:
            fd, count = self._held[path]
            if count > 1:
                self._held[path] = (fd, count - 1)
                return
            del self._held[path]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


_LOCKS = _ProcessLocks()


class Ledger:
    """The ledger in one state directory. Use `Ledger.open(state_dir)` to hold the writer lock."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir).expanduser()
        self.files_dir = self.state_dir / "files"
        self.files_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        db_path = self.state_dir / "ledger.sqlite"
        db_path.touch(mode=0o600, exist_ok=True)  # booking data: owner only (SQLite's WAL copies the mode)
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a row must survive a crash right after it
        self._add_missing_columns()
        self._db.executescript(_SCHEMA)

    def _add_missing_columns(self) -> None:
        present = {r[1] for r in self._db.execute("PRAGMA table_info(submissions)")}
        if not present:
            return  # a new ledger: _SCHEMA creates the table with every column
        for name, sql_type in _ADDED_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE submissions ADD COLUMN {name} {sql_type}")

    @classmethod
    @contextlib.contextmanager
    def open(cls, state_dir: str | os.PathLike[str], *, lock_timeout: float = 30.0) -> t.Iterator[Ledger]:
        """The ledger with the exclusive writer lock held for the duration of the block."""
        path = Path(state_dir).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        lock_path = path / "ledger.lock"
        _LOCKS.acquire(lock_path, lock_timeout)
        try:
            ledger = cls(path)
            try:
                yield ledger
            finally:
                ledger.close()
        finally:
            _LOCKS.release(lock_path)

    def close(self) -> None:
        self._db.close()

    # Kept files -------------------------------------------------------------------------------

    def keep_file(self, data: bytes) -> str:
        """Store the bytes as files/<sha256> (atomically, once) and return the sha256."""
        digest = sha256_hex(data)
        target = self.files_dir / digest
        if not target.exists():
            with tempfile.NamedTemporaryFile(dir=self.files_dir, delete=False) as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            Path(tmp.name).replace(target)
        return digest

    def kept_file(self, digest: str, name: str | None = None) -> bytes:
        """The bytes kept at submit time. They are checked against their name (sha256): a file that
        passed the submit checks then reads the same now, so a batch's lines are never cut off
        midway by a copy changed on disk (its lines go out as they are converted)."""
        path = self.files_dir / digest
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise LedgerError(f"The kept file {digest} is missing from {self.files_dir}") from None
        if sha256_hex(data) != digest:
            copy = f"The kept copy of {name} ({path})" if name else f"The kept file {path}"
            raise LedgerError(
                f"{copy} changed on disk since it was submitted (its sha256 is no longer its name): "
                "restore it from a backup of the state_dir"
            )
        return data

    # Rows -------------------------------------------------------------------------------------

    def _tick(self) -> str:
        """A timestamp strictly later than every updated_at so far (the incremental key)."""
        now = utc_now()
        last = self._db.execute("SELECT MAX(updated_at) FROM submissions").fetchone()[0]
        if last is not None:
            floor = parse_ts(last) + dt.timedelta(microseconds=1)
            now = max(now, floor)
        return format_ts(now)

    def record(
        self,
        *,
        kind: str,
        client_id: str,
        file_name: str,
        sha256: str,
        size: int,
        reference_id: str | None = None,
        document_type: str | None = None,
        note: str | None = None,
        import_type: str | None = None,
        accounting_month: str | None = None,
        files: t.Sequence[tuple[str, str, int, str]] = (),
        batch_id: str | None = None,
        figures: FileFigures | None = None,
    ) -> Submission:
        """Write a new submission row (status "recorded"); `files` are (name, sha256, size, role)."""
        figures = figures or FileFigures()
        if kind not in KINDS:
            raise ValueError(f"unknown submission kind {kind!r}")
        batch_id = batch_id or str(uuid.uuid4())
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            now = self._tick()
            self._db.execute(
                "INSERT INTO submissions (batch_id, client_id, kind, file_name, sha256, size, reference_id,"
                " status, document_type, note, import_type, accounting_month, created_at, updated_at,"
                " posting_digest, file_line_count, file_debit_sum, file_credit_sum)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch_id,
                    client_id,
                    kind,
                    file_name,
                    sha256,
                    size,
                    reference_id,
                    RECORDED,
                    document_type,
                    note,
                    import_type,
                    accounting_month,
                    now,
                    now,
                    figures.posting_digest,
                    figures.line_count,
                    figures.debit_sum,
                    figures.credit_sum,
                ),
            )
            self._db.executemany(
                "INSERT INTO submission_files (batch_id, position, file_name, sha256, size, role, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(batch_id, i, *f, RECORDED) for i, f in enumerate(files)],
            )
        return self.require(batch_id)

    def update(self, batch_id: str, **fields: t.Any) -> Submission:
        """Change fields of a row; updated_at moves on only when something other than polling
        bookkeeping changed (so an unchanged pending job is not emitted again)."""
        current = self.require(batch_id)
        changes = {k: v for k, v in fields.items() if v is TICK or getattr(current, k) != v}
        if not changes:
            return current
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            tick = self._tick()
            if set(changes) - _QUIET_FIELDS:
                changes["updated_at"] = tick
            changes = {k: tick if v is TICK else v for k, v in changes.items()}
            if changes.get("status") in FINAL_STATUSES and current.final_at is None:
                changes["final_at"] = tick
            columns = ", ".join(f"{name} = ?" for name in changes)
            values = [
                json.dumps(v, sort_keys=True) if k in _JSON_FIELDS and v is not None else v
                for k, v in changes.items()
            ]
            self._db.execute(f"UPDATE submissions SET {columns} WHERE batch_id = ?", [*values, batch_id])
        return self.require(batch_id)

    def get(self, batch_id: str) -> Submission | None:
        row = self._db.execute("SELECT * FROM submissions WHERE batch_id = ?", (batch_id,)).fetchone()
        return Submission.from_row(row) if row else None

    def require(self, batch_id: str) -> Submission:
        found = self.get(batch_id)
        if found is None:
            raise LedgerError(f"No ledger row {batch_id}")
        return found

    def all(self) -> list[Submission]:
        rows = self._db.execute("SELECT * FROM submissions ORDER BY updated_at")
        return [Submission.from_row(r) for r in rows]

    def live_duplicates(
        self, kind: str, digest: str, client_id: str | None = None, *, posting_digest: str | None = None
    ) -> list[Submission]:
        """Rows of this file (same bytes, or same postings when `posting_digest` is given) that are at
        DATEV or may be (see LIVE_STATUSES)."""
        sql = "SELECT * FROM submissions WHERE kind = ? AND (sha256 = ? OR posting_digest = ?)"
        params: list[t.Any] = [kind, digest, posting_digest]
        if client_id is not None:
            sql += " AND client_id = ?"
            params.append(client_id)
        rows = self._db.execute(sql + " ORDER BY created_at", params)
        return [s for s in map(Submission.from_row, rows) if s.status in LIVE_STATUSES]

    def client_ids(self, kinds: t.Iterable[str]) -> list[str]:
        kinds = tuple(kinds)
        marks = ", ".join("?" * len(kinds))
        rows = self._db.execute(
            f"SELECT DISTINCT client_id FROM submissions WHERE kind IN ({marks}) ORDER BY client_id", kinds
        )
        return [r[0] for r in rows]

    def open_jobs(self, client_id: str, kinds: t.Iterable[str]) -> list[Submission]:
        """Jobs whose outcome DATEV has not told us yet (to be polled or looked up)."""
        return self.with_status(client_id, kinds, OPEN_STATUSES)

    def with_status(
        self, client_id: str, kinds: t.Iterable[str], statuses: t.Iterable[str]
    ) -> list[Submission]:
        """Rows of a client in one of `statuses`, oldest first."""
        kinds, statuses = tuple(kinds), sorted(statuses)
        marks = ", ".join("?" * len(kinds))
        status_marks = ", ".join("?" * len(statuses))
        rows = self._db.execute(
            f"SELECT * FROM submissions WHERE client_id = ? AND kind IN ({marks})"
            f" AND status IN ({status_marks}) ORDER BY created_at",
            (client_id, *kinds, *statuses),
        )
        return [Submission.from_row(r) for r in rows]

    def changed_since(
        self, client_id: str, kinds: t.Iterable[str], since: str | None, *, column: str = "updated_at"
    ) -> list[Submission]:
        """Rows of a client whose `column` is later than `since`, oldest first."""
        if column not in {"updated_at", "uploaded_at"}:
            raise ValueError(column)
        kinds = tuple(kinds)
        marks = ", ".join("?" * len(kinds))
        sql = f"SELECT * FROM submissions WHERE client_id = ? AND kind IN ({marks}) AND {column} IS NOT NULL"
        params: list[t.Any] = [client_id, *kinds]
        if since is not None:
            sql += f" AND {column} > ?"
            params.append(since)
        rows = self._db.execute(sql + f" ORDER BY {column}, batch_id", params)
        return [Submission.from_row(r) for r in rows]

    def files(self, batch_id: str) -> list[SubmissionFile]:
        rows = self._db.execute(
            "SELECT * FROM submission_files WHERE batch_id = ? ORDER BY position", (batch_id,)
        )
        return [SubmissionFile(**dict(r)) for r in rows]

    def set_file_status(self, batch_id: str, position: int, status: str) -> None:
        with self._db:
            self._db.execute(
                "UPDATE submission_files SET status = ? WHERE batch_id = ? AND position = ?",
                (status, batch_id, position),
            )

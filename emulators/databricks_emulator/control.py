"""Test-side switches of the emulator: faults, metastore, warehouse state, token lifetime, counters."""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """The next `remaining` requests matching `match` (glob over "METHOD /path") misbehave.

    kind "status": answer `status` with Retry-After before doing any work.
    kind "drop": do the work, then close the connection without an answer.
    """

    kind: str
    match: str
    remaining: int
    status: int = 503
    retry_after: int = 1


@dataclass
class RequestRecord:
    method: str
    path: str
    endpoint: str
    status: int


@dataclass
class Control:
    """In-process control of a running emulator (also reachable as POST /_emulator/control)."""

    metastore_assigned: bool = True
    # Privileges the principal lacks ("CREATE_CATALOG", "CREATE_SCHEMA", "CREATE_VOLUME"): refused
    # alike through SQL and Unity Catalog REST (the SQL engine holds the same set).
    denied_privileges: set[str] = field(default_factory=set)
    token_lifetime_seconds: int = 3600
    # Polls a warehouse stays STARTING after a start (then RUNNING).
    warehouse_start_polls: int = 2
    # Rows per result chunk of the INLINE JSON_ARRAY disposition.
    result_chunk_rows: int = 10_000
    faults: list[Fault] = field(default_factory=list)
    # Statement number (counted from the first submitted) -> the message it FAILs with.
    failing_statements: dict[int, str] = field(default_factory=dict)
    statements_submitted: int = 0
    counters: Counter[str] = field(default_factory=Counter)
    requests: list[RequestRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Set by the app: hooks that reach state the control does not own.
    _hooks: dict[str, Any] = field(default_factory=dict, repr=False)

    # ---- faults ----

    def fail_next(self, count: int = 1, *, status: int = 503, match: str = "*", retry_after: int = 1) -> None:
        """Answer the next `count` matching requests with `status` (429 or 503) and Retry-After."""
        with self._lock:
            self.faults.append(Fault("status", match, count, status, retry_after))

    def drop_next(self, count: int = 1, *, match: str = "*") -> None:
        """Do the work of the next `count` matching requests, then drop the connection unanswered."""
        with self._lock:
            self.faults.append(Fault("drop", match, count))

    def fail_statement(self, nth: int = 1, message: str = "Injected failure") -> None:
        """Make the `nth` statement submitted from now on FAIL (HTTP 200, state FAILED)."""
        with self._lock:
            self.failing_statements[self.statements_submitted + nth] = message

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()
            self.failing_statements.clear()

    def take_fault(self, method: str, path: str, kind: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (
                    fault.kind == kind
                    and fault.remaining > 0
                    and fnmatch.fnmatchcase(f"{method} {path}", fault.match)
                ):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def next_statement_failure(self) -> str | None:
        with self._lock:
            self.statements_submitted += 1
            return self.failing_statements.pop(self.statements_submitted, None)

    # ---- switches ----

    def set_metastore(self, assigned: bool) -> None:
        self.metastore_assigned = assigned

    def deny(self, *privileges: str) -> None:
        """Take privileges from the principal, e.g. deny("CREATE_SCHEMA"); deny() gives all back."""
        with self._lock:
            self.denied_privileges.clear()
            self.denied_privileges.update(p.upper().replace(" ", "_") for p in privileges)

    def set_token_lifetime(self, seconds: int) -> None:
        self.token_lifetime_seconds = seconds

    def expire_tokens(self) -> None:
        """Invalidate every OAuth token issued so far (the PAT stays valid)."""
        self._hooks["expire_tokens"]()

    def set_warehouse_state(self, state: str, warehouse_id: str = "emulator-warehouse") -> None:
        self._hooks["set_warehouse_state"](warehouse_id, state)

    def set_sql_scripting(self, enabled: bool) -> None:
        """Off: the warehouse predates SQL scripting and answers `BEGIN … END` with PARSE_SYNTAX_ERROR."""
        self._hooks["set_sql_scripting"](enabled)

    # ---- counters ----

    def record(self, method: str, path: str, endpoint: str, status: int) -> None:
        with self._lock:
            self.counters[endpoint] += 1
            self.requests.append(RequestRecord(method, path, endpoint, status))

    def count(self, endpoint: str) -> int:
        """Requests served by one route, e.g. "statements.execute", "files.put", "jobs.submit"."""
        with self._lock:
            return self.counters[endpoint]

    def sql_statements_executed(self) -> int:
        """SQL statements actually run on DuckDB (Statement API and job runs)."""
        return int(self._hooks["executed"]())

    def sql_statements(self) -> list[str]:
        """The text of every SQL statement run on DuckDB since the last reset, in order."""
        return list(self._hooks["executed_log"]())

    def reset_counters(self) -> None:
        """Zero the request counters, the request log and the executed-statement count."""
        with self._lock:
            self.counters.clear()
            self.requests.clear()
        if "reset_executed" in self._hooks:
            self._hooks["reset_executed"]()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "counters": dict(self.counters),
                "requests": len(self.requests),
                "sql_statements_executed": self.sql_statements_executed(),
                "metastore_assigned": self.metastore_assigned,
                "token_lifetime_seconds": self.token_lifetime_seconds,
            }

    # Operations the HTTP control route may call, with their keyword arguments.
    HTTP_OPERATIONS = (
        "fail_next",
        "drop_next",
        "fail_statement",
        "clear_faults",
        "set_metastore",
        "deny",
        "set_token_lifetime",
        "expire_tokens",
        "set_warehouse_state",
        "set_sql_scripting",
        "reset_counters",
    )

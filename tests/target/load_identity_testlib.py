"""Issue 7's scenarios for either engine: the same input into two tables, a table dropped and made
again, a wiped ledger, two processes at once. Each ends by checking what landed, in both tables."""

from __future__ import annotations

import os
import subprocess
import sys
import typing as t
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
from test_exactly_once import expected, source_messages

from target_databricks import audit, failpoints
from target_databricks.engines.base import Engine, LedgerEntry

Reader = t.Callable[[str], pa.Table]  # table name -> its rows


def messages() -> list[dict[str, t.Any]]:
    """A keyed stream `lines` (with later versions of some keys) and an append-only `events`."""
    return source_messages(n_keys=120, updates=60, events=50)


def assert_loaded(read: Reader, msgs: list[dict[str, t.Any]]) -> None:
    """Both tables hold exactly the source: every key's latest amount once, every event once."""
    per_key, n_events, events_sum = expected(msgs)
    lines = read("lines")
    assert lines.num_rows == len(per_key)
    amounts = dict(zip(lines.column("id").to_pylist(), lines.column("amount").to_pylist(), strict=True))
    assert amounts == per_key
    assert sum(amounts.values()) == sum(per_key.values())
    events = read("events")
    assert events.num_rows == n_events
    assert sum(events.column("v").to_pylist(), Decimal(0)) == events_sum


def current(engine: Engine) -> dict[str, LedgerEntry]:
    return audit.current_loads(engine.ledger_read())


def assert_all_committed(engine: Engine, table_ids: t.Collection[str]) -> None:
    """Every load's current ledger row is `committed`, for a table as it exists now."""
    rows = current(engine)
    assert rows and {e.status for e in rows.values()} == {"committed"}
    assert {e.table_id for e in rows.values()} <= set(table_ids)


def start_target(config_path: Path, input_path: Path) -> subprocess.Popen[bytes]:
    """`target-databricks --config … < input` started, not waited for (see run_together)."""
    env = {k: v for k, v in os.environ.items() if k != failpoints.ENV}
    with input_path.open("rb") as stdin:
        return subprocess.Popen(
            [sys.executable, "-m", "target_databricks.cli", "--config", str(config_path)],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )


def run_together(config_path: Path, input_path: Path, n: int = 2) -> list[tuple[int, str]]:
    """n target processes on the same input and config at once; their exit codes and stderr."""
    processes = [start_target(config_path, input_path) for _ in range(n)]
    results = []
    for process in processes:
        _, err = process.communicate(timeout=300)
        results.append((process.returncode, err.decode(errors="replace")))
    return results

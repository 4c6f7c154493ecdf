"""load_via: jobs — one load's SQL as a workspace file, run once as a one-time Jobs run.

The run carries an idempotency_token derived from (load id, attempt): a submit retried after a
lost response returns the run that already exists instead of loading twice, while a replay (a new
attempt number, recorded in the ledger) gets a new token and really runs again.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import typing as t

from target_databricks.engines.base import EngineError
from target_databricks.engines.workspace_sql import file_stem

if t.TYPE_CHECKING:
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service.jobs import Run, SubmitRunResponse

logger = logging.getLogger(__name__)


class JobRunFailedError(EngineError):
    """The load's Jobs run ended without SUCCESS (or timed out); carries the run id."""

    def __init__(self, message: str, *, run_id: int) -> None:
        super().__init__(message)
        self.run_id = run_id


def poll_delays(longest: float) -> t.Iterator[float]:
    """Waits between polls (of a statement, a starting warehouse, a Jobs run): from 50 ms, doubling
    up to `longest` (poll_interval_seconds)."""
    delay = min(0.05, longest)
    while True:
        yield delay
        delay = min(delay * 2, longest)


def idempotency_token(load_id: str, attempt: int) -> str:
    """At most 64 characters (the Jobs API limit): a SHA-256 of the load id and the attempt."""
    return hashlib.sha256(f"{load_id}\n{attempt}".encode()).hexdigest()


def sql_file_path(workspace_dir: str, load_id: str, attempt: int) -> str:
    name = file_stem(load_id)[:180]
    return f"{workspace_dir.rstrip('/')}/{name}-attempt{attempt}.sql"


def _run_failure(w: WorkspaceClient, run: Run) -> str:
    """The run's state message, plus the first task's error when the API has one."""
    state = run.state
    parts = [
        str(state.result_state.value if state and state.result_state else "no result"),
        (state.state_message if state else None) or "",
    ]
    for task in run.tasks or []:
        if task.run_id is None:
            continue
        try:
            output = w.jobs.get_run_output(task.run_id)
        except Exception:  # the message is a courtesy; the failure is raised anyway
            continue
        if output.error and not any(output.error in p for p in parts if p):
            parts.append(output.error)
    return ": ".join(p for p in parts if p)


def run_sql(
    w: WorkspaceClient,
    *,
    sql: str,
    load_id: str,
    attempt: int,
    warehouse_id: str,
    workspace_dir: str,
    timeout_seconds: float,
    poll_seconds: float = 0.5,
) -> int:
    """Import the SQL as a workspace file, submit one run for it and wait; return the run id."""
    from databricks.sdk.service.jobs import (
        RunLifeCycleState,
        RunResultState,
        Source,
        SqlTask,
        SqlTaskFile,
        SubmitTask,
    )
    from databricks.sdk.service.workspace import ImportFormat

    path = sql_file_path(workspace_dir, load_id, attempt)
    w.workspace.mkdirs(workspace_dir)
    # AUTO with a .sql name and no notebook header makes a workspace file, which a SQL file task runs.
    w.workspace.import_(
        path,
        content=base64.b64encode(sql.encode("utf-8")).decode("ascii"),
        format=ImportFormat.AUTO,
        overwrite=True,
    )
    token = idempotency_token(load_id, attempt)
    waiter = w.jobs.submit(
        run_name=f"ml-connector load {load_id} attempt {attempt}"[:4096],
        tasks=[
            SubmitTask(
                task_key="load",
                sql_task=SqlTask(
                    warehouse_id=warehouse_id,
                    file=SqlTaskFile(path=path, source=Source.WORKSPACE),
                ),
            )
        ],
        idempotency_token=token,
        timeout_seconds=int(timeout_seconds),
    )
    run_id = int(t.cast("SubmitRunResponse", waiter.response).run_id or 0)
    logger.info("Load %s attempt %d runs as Jobs run %d", load_id, attempt, run_id)

    deadline = time.monotonic() + timeout_seconds
    sleeps = poll_delays(poll_seconds)
    terminal = {RunLifeCycleState.TERMINATED, RunLifeCycleState.SKIPPED, RunLifeCycleState.INTERNAL_ERROR}
    while True:
        run = w.jobs.get_run(run_id)
        life = run.state.life_cycle_state if run.state else None
        if life in terminal:
            break
        if time.monotonic() > deadline:
            w.jobs.cancel_run(run_id)
            raise JobRunFailedError(
                f"Jobs run {run_id} for load {load_id} did not finish within {timeout_seconds:g} s "
                "(statement_timeout_seconds); it was cancelled.",
                run_id=run_id,
            )
        time.sleep(next(sleeps))
    if run.state is None or run.state.result_state != RunResultState.SUCCESS:
        raise JobRunFailedError(
            f"Jobs run {run_id} for load {load_id} failed: {_run_failure(w, run)}", run_id=run_id
        )
    try:
        w.workspace.delete(path)
    except Exception as exc:  # a leftover file is harmless; the load is committed
        logger.warning("Could not remove the workspace file %s: %s", path, exc)
    return run_id

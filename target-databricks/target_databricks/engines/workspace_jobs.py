"""load_via: jobs — one load's SQL as a workspace file, run once as a one-time Jobs run.

The run's idempotency_token and its SQL file's path are derived from the load's dedupe identity
(table id, load id, attempt): a submit retried after a lost response returns the run that already
exists instead of loading twice; the same rows for another table (another schema, a recreated
table) get another token. Databricks answers a reused token with the run it first made, whatever
that run contained, so a run counts only when its SQL task names this identity's file; a token
whose run was deleted answers with an error. Either way the engine starts a new attempt.
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


class RunNotConfirmedError(EngineError):
    """The token's run cannot be shown to be this identity's: a new attempt must be started.

    `refused`: the submit itself was answered with an error (a deleted run's token, or anything
    else the Jobs API refuses; the engine tells them apart by trying one new token).
    """

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


def poll_delays(longest: float) -> t.Iterator[float]:
    """Waits between polls (of a statement, a starting warehouse, a Jobs run): from 50 ms, doubling
    up to `longest` (poll_interval_seconds)."""
    delay = min(0.05, longest)
    while True:
        yield delay
        delay = min(delay * 2, longest)


def idempotency_token(table_id: str, load_id: str, attempt: int) -> str:
    """At most 64 characters (the Jobs API limit): a SHA-256 of table id, load id and attempt."""
    return hashlib.sha256(f"{table_id}\n{load_id}\n{attempt}".encode()).hexdigest()


def sql_file_path(workspace_dir: str, table_id: str, load_id: str, attempt: int) -> str:
    """The run's SQL file: its path names the identity, so a run's task tells whose it is."""
    name = f"{file_stem(load_id)[:120]}-{file_stem(table_id)[:64]}-attempt{attempt}"
    return f"{workspace_dir.rstrip('/')}/{name}.sql"


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


def _task_files(run: Run) -> list[str]:
    return [
        task.sql_task.file.path
        for task in run.tasks or []
        if task.sql_task is not None and task.sql_task.file is not None and task.sql_task.file.path
    ]


def run_sql(
    w: WorkspaceClient,
    *,
    sql: str,
    table_id: str,
    load_id: str,
    attempt: int,
    warehouse_id: str,
    workspace_dir: str,
    timeout_seconds: float,
    poll_seconds: float = 0.5,
) -> int:
    """Import the SQL as a workspace file, submit one run for it and wait; return the run id.

    Raises RunNotConfirmedError when the token's run is not this identity's, JobRunFailedError when
    it is and did not succeed.
    """
    from databricks.sdk.errors import DatabricksError
    from databricks.sdk.service.jobs import (
        RunLifeCycleState,
        RunResultState,
        Source,
        SqlTask,
        SqlTaskFile,
        SubmitTask,
    )
    from databricks.sdk.service.workspace import ImportFormat

    path = sql_file_path(workspace_dir, table_id, load_id, attempt)
    w.workspace.mkdirs(workspace_dir)
    # AUTO with a .sql name and no notebook header makes a workspace file, which a SQL file task runs.
    w.workspace.import_(
        path,
        content=base64.b64encode(sql.encode("utf-8")).decode("ascii"),
        format=ImportFormat.AUTO,
        overwrite=True,
    )
    token = idempotency_token(table_id, load_id, attempt)
    try:
        waiter = w.jobs.submit(
            run_name=f"ml-connector load {load_id} into table {table_id} attempt {attempt}"[:4096],
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
    except DatabricksError as exc:
        raise RunNotConfirmedError(
            f"Jobs refused the run of load {load_id} attempt {attempt}: {exc}", refused=True
        ) from exc
    run_id = int(t.cast("SubmitRunResponse", waiter.response).run_id or 0)
    logger.info("Load %s attempt %d runs as Jobs run %d", load_id, attempt, run_id)

    deadline = time.monotonic() + timeout_seconds
    sleeps = poll_delays(poll_seconds)
    terminal = {RunLifeCycleState.TERMINATED, RunLifeCycleState.SKIPPED, RunLifeCycleState.INTERNAL_ERROR}
    while True:
        run = w.jobs.get_run(run_id)
        if _task_files(run) != [path]:
            # The token was answered by a run that is not this identity's (a Jobs token outlives
            # the code that chose it): it proves nothing about this load.
            raise RunNotConfirmedError(
                f"Jobs run {run_id} answered the token of load {load_id} attempt {attempt} but runs "
                f"{', '.join(_task_files(run)) or 'no SQL file'}, not {path}",
                refused=False,
            )
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

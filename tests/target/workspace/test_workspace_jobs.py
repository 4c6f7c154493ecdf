"""load_via: jobs — one-time Jobs runs whose idempotency_token and SQL file name the load's
identity (table id, load id, attempt); a reused token counts only when its run is that identity's."""

from __future__ import annotations

import base64
import dataclasses
import typing as t

import pytest
from databricks.sdk.service import jobs
from databricks.sdk.service.workspace import ImportFormat
from workspace_testlib import batch, by_id, settings, spec, staged_load

from databricks_emulator.server import RunningEmulator
from databricks_emulator.warehouses import DEFAULT_WAREHOUSE_ID
from target_databricks.engines.base import Applied, EngineError, TableRef, TableSpec
from target_databricks.engines.workspace import WorkspaceEngine
from target_databricks.engines.workspace_jobs import idempotency_token, sql_file_path


@pytest.fixture
def jobs_engine(emulator: RunningEmulator) -> t.Iterator[WorkspaceEngine]:
    eng = WorkspaceEngine(settings(emulator, load_via="jobs"))
    eng.preflight()
    yield eng
    eng.close()


def _submit_other(eng: WorkspaceEngine, token: str) -> int:
    """A run that reserved `token` for some other SQL (another table, an older target version)."""
    path = "/Shared/other.sql"
    content = base64.b64encode(b"SELECT 1").decode()
    eng.client.workspace.import_(path, content=content, overwrite=True, format=ImportFormat.AUTO)
    waiter = eng.client.jobs.submit(
        run_name="something else",
        idempotency_token=token,
        tasks=[
            jobs.SubmitTask(
                task_key="other",
                sql_task=jobs.SqlTask(
                    warehouse_id=DEFAULT_WAREHOUSE_ID,
                    file=jobs.SqlTaskFile(path, source=jobs.Source.WORKSPACE),
                ),
            )
        ],
    )
    return int(waiter.response.run_id or 0)


def test_retried_submit_is_one_run_and_the_same_attempt_reuses_it(
    jobs_engine: WorkspaceEngine, emulator: RunningEmulator
) -> None:
    table = spec(keys=())
    jobs_engine.ensure_table(table)
    load = staged_load(
        jobs_engine, table, "J1", batch(table, "J1", [(1, "a", "1.00"), (2, "b", None)]), "append-only"
    )

    # The run is created, the answer is lost, the SDK submits again with the same token.
    emulator.control.drop_next(1, match="POST /api/2.*/jobs/runs/submit")
    assert jobs_engine.apply(load) == Applied(2)
    first_run = jobs_engine.last_run_id
    assert emulator.control.count("jobs.submit") == 2
    assert emulator.app.jobs.runs_created == 1
    assert jobs_engine.read_table(table.ref).num_rows == 2
    # The SQL file was a workspace file named by the identity, removed after the run.
    imported = [r.path for r in emulator.control.requests if r.endpoint == "workspace.import"]
    assert len(imported) == 1
    assert emulator.control.count("workspace.delete") == 1

    # The same attempt again (a crash before the ledger row): the token's run is this identity's
    # (its SQL task names this table id, load id and attempt) and succeeded: confirmed, no new run.
    assert jobs_engine.apply(load) == Applied(2)
    assert jobs_engine.last_run_id == first_run and emulator.app.jobs.runs_created == 1
    assert jobs_engine.read_table(table.ref).num_rows == 2


def test_the_same_load_into_another_table_is_another_run(
    emulator: RunningEmulator, jobs_engine: WorkspaceEngine
) -> None:
    # issue 7: dev and prod schemas in one workspace, the same tap output: the token differs.
    other = WorkspaceEngine(settings(emulator, load_via="jobs", schema="prod"))
    other.preflight()
    tables = [spec(keys=()), TableSpec(TableRef("main", "prod", "lines"), spec(keys=()).columns, ())]
    for eng, table in zip([jobs_engine, other], tables, strict=True):
        eng.ensure_table(table)
        data = batch(table, "SAME", [(1, "a", "1.00"), (2, "b", "2.50")])
        assert eng.apply(staged_load(eng, table, "SAME", data, "append-only")) == Applied(2)
        rows = eng.read_table(table.ref)
        assert rows.num_rows == 2 and sum(rows.column("amount").to_pylist()) == 3.5
    assert emulator.app.jobs.runs_created == 2


def test_a_token_answered_by_another_run_starts_a_new_attempt(
    jobs_engine: WorkspaceEngine, emulator: RunningEmulator
) -> None:
    table = spec()
    jobs_engine.ensure_table(table)
    load = staged_load(jobs_engine, table, "J3", batch(table, "J3", [(1, "a", "1.00")]))
    foreign = _submit_other(jobs_engine, idempotency_token(load.table_id, "J3", 1))
    applied = jobs_engine.apply(load)
    assert applied == Applied(1, attempt=2)  # run_load records the attempt that really ran
    assert jobs_engine.last_run_id != foreign and emulator.app.jobs.runs_created == 2
    assert by_id(jobs_engine.read_table(table.ref))[1]["label"] == "a"


def test_a_token_whose_run_was_deleted_starts_a_new_attempt(
    jobs_engine: WorkspaceEngine, emulator: RunningEmulator
) -> None:
    table = spec()
    jobs_engine.ensure_table(table)
    load = staged_load(jobs_engine, table, "J4", batch(table, "J4", [(1, "a", "1.00"), (2, "b", None)]))
    assert jobs_engine.apply(load) == Applied(2)
    jobs_engine.client.jobs.delete_run(jobs_engine.last_run_id or 0)
    # The ledger was lost, say: the same attempt's token now answers with an error.
    again = jobs_engine.apply(load)
    assert again == Applied(2, attempt=2) and emulator.app.jobs.runs_created == 2
    assert sorted(by_id(jobs_engine.read_table(table.ref))) == [1, 2]  # the MERGE converged


def test_failed_run_then_a_new_attempt_is_a_new_run(
    jobs_engine: WorkspaceEngine, emulator: RunningEmulator
) -> None:
    table = spec()
    jobs_engine.ensure_table(table)
    data = batch(table, "J2", [(1, "a", "1.00")])
    load = staged_load(jobs_engine, table, "J2", data)
    jobs_engine.unstage(load.staged)  # the run will not find its file
    with pytest.raises(EngineError, match=r"Jobs run \d+ for load J2 failed"):
        jobs_engine.apply(load)
    failed_run = jobs_engine.last_run_id
    # The same attempt again gets its own (failed) run back: the token never loads twice.
    with pytest.raises(EngineError, match=f"Jobs run {failed_run} for load J2 failed"):
        jobs_engine.apply(load)
    assert emulator.app.jobs.runs_created == 1

    # replay = a new attempt: a new token, a really new run.
    assert idempotency_token(load.table_id, "J2", 2) != idempotency_token(load.table_id, "J2", 1)
    jobs_engine.stage(load, data)
    assert jobs_engine.apply(dataclasses.replace(load, attempt=2)) == Applied(1)
    assert jobs_engine.last_run_id != failed_run and emulator.app.jobs.runs_created == 2
    assert by_id(jobs_engine.read_table(table.ref))[1]["label"] == "a"


def test_identity_names_table_load_and_attempt() -> None:
    tokens = {
        idempotency_token(table_id, load_id, attempt)
        for table_id in ("t-1", "t-2")
        for load_id in ("L1", "L2")
        for attempt in (1, 2)
    }
    assert len(tokens) == 8 and all(len(token) <= 64 for token in tokens)
    assert sql_file_path("/Shared/x/", "t-1", "L1", 2) == "/Shared/x/L1-t-1-attempt2.sql"


def test_upsert_as_a_job(jobs_engine: WorkspaceEngine) -> None:
    table = spec()
    jobs_engine.ensure_table(table)
    jobs_engine.apply(
        staged_load(jobs_engine, table, "U1", batch(table, "U1", [(1, "a", "1.00"), (1, "b", "2.00")]))
    )
    rows = jobs_engine.read_table(table.ref).to_pylist()
    assert [(r["id"], r["label"]) for r in rows] == [(1, "b")]


def test_failed_run_raises_with_its_message(jobs_engine: WorkspaceEngine, emulator: RunningEmulator) -> None:
    table = spec()
    jobs_engine.ensure_table(table)
    load = staged_load(jobs_engine, table, "never-staged", batch(table, "x", [(1, "a", "1.00")]))
    jobs_engine.unstage(load.staged)
    emulator.control.reset_counters()
    with pytest.raises(EngineError, match=r"Jobs run \d+ for load never-staged failed: FAILED") as info:
        jobs_engine.apply(load)
    assert "never-staged" in str(info.value)
    # The task's output was asked for (runs/get-output), and its error is not repeated.
    outputs = [r for r in emulator.control.requests if r.path.endswith("/jobs/runs/get-output")]
    assert [r.status for r in outputs] == [200]
    assert str(info.value).count("PATH_NOT_FOUND") == 1

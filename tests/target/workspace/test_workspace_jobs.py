"""load_via: jobs — one-time Jobs runs with an idempotency_token per (load id, attempt)."""

from __future__ import annotations

import typing as t

import pytest
from workspace_testlib import batch, by_id, settings, spec

from databricks_emulator.server import RunningEmulator
from target_databricks.engines.base import ALREADY_APPLIED, EngineError, Load
from target_databricks.engines.workspace import WorkspaceEngine
from target_databricks.engines.workspace_jobs import idempotency_token


@pytest.fixture
def jobs_engine(emulator: RunningEmulator) -> t.Iterator[WorkspaceEngine]:
    eng = WorkspaceEngine(settings(emulator, load_via="jobs"))
    eng.preflight()
    yield eng
    eng.close()


def test_retried_submit_is_one_run_and_replay_is_a_new_run(
    jobs_engine: WorkspaceEngine, emulator: RunningEmulator
) -> None:
    table = spec(keys=())
    jobs_engine.ensure_table(table)
    staged = jobs_engine.stage("J1", batch(table, "J1", [(1, "a", "1.00"), (2, "b", None)]))
    load = Load("J1", "lines", table, "append-only", 2, staged)

    # The run is created, the answer is lost, the SDK submits again with the same token.
    emulator.control.drop_next(1, match="POST /api/2.*/jobs/runs/submit")
    assert jobs_engine.apply(load) == 2
    first_run = jobs_engine.last_run_id
    assert emulator.control.count("jobs.submit") == 2
    assert emulator.app.jobs.runs_created == 1
    assert jobs_engine.read_table(table.ref).num_rows == 2
    # The SQL file was a workspace file under jobs_workspace_dir, removed after the run.
    imported = [r.path for r in emulator.control.requests if r.endpoint == "workspace.import"]
    assert len(imported) == 1
    assert emulator.control.count("workspace.delete") == 1

    # The same attempt again (a crash before the ledger row): the token returns the finished run.
    assert jobs_engine.apply(load) == 2
    assert jobs_engine.last_run_id == first_run and emulator.app.jobs.runs_created == 1

    # A replay of a load whose rows are in the table is skipped without a run.
    assert (
        jobs_engine.apply(Load("J1", "lines", table, "append-only", 2, staged, attempt=2)) == ALREADY_APPLIED
    )
    assert emulator.app.jobs.runs_created == 1


def test_failed_run_then_replay_is_a_new_run(jobs_engine: WorkspaceEngine, emulator: RunningEmulator) -> None:
    table = spec()
    jobs_engine.ensure_table(table)
    data = batch(table, "J2", [(1, "a", "1.00")])
    staged = jobs_engine.staged_path("J2")  # not staged yet: the run fails
    with pytest.raises(EngineError, match=r"Jobs run \d+ for load J2 failed"):
        jobs_engine.apply(Load("J2", "lines", table, "upsert", 1, staged))
    failed_run = jobs_engine.last_run_id
    # Retrying the same attempt gets the same (failed) run back: the token never loads twice.
    with pytest.raises(EngineError, match=f"Jobs run {failed_run} for load J2 failed"):
        jobs_engine.apply(Load("J2", "lines", table, "upsert", 1, staged))
    assert emulator.app.jobs.runs_created == 1

    # replay = a new attempt: a new token, a really new run.
    assert idempotency_token("J2", 2) != idempotency_token("J2", 1)
    jobs_engine.stage("J2", data)
    assert jobs_engine.apply(Load("J2", "lines", table, "upsert", 1, staged, attempt=2)) == 1
    assert jobs_engine.last_run_id != failed_run and emulator.app.jobs.runs_created == 2
    assert by_id(jobs_engine.read_table(table.ref))[1]["label"] == "a"


def test_upsert_as_a_job(jobs_engine: WorkspaceEngine) -> None:
    table = spec()
    jobs_engine.ensure_table(table)
    staged = jobs_engine.stage("U1", batch(table, "U1", [(1, "a", "1.00"), (1, "b", "2.00")]))
    jobs_engine.apply(Load("U1", "lines", table, "upsert", 2, staged))
    rows = jobs_engine.read_table(table.ref).to_pylist()
    assert [(r["id"], r["label"]) for r in rows] == [(1, "b")]


def test_failed_run_raises_with_its_message(jobs_engine: WorkspaceEngine, emulator: RunningEmulator) -> None:
    table = spec()
    jobs_engine.ensure_table(table)
    missing = jobs_engine.staged_path("never-staged")
    emulator.control.reset_counters()
    with pytest.raises(EngineError, match=r"Jobs run \d+ for load never-staged failed: FAILED") as info:
        jobs_engine.apply(Load("never-staged", "lines", table, "upsert", 1, missing))
    assert "never-staged.parquet" in str(info.value)
    # The task's output was asked for (runs/get-output), and its error is not repeated.
    outputs = [r for r in emulator.control.requests if r.path.endswith("/jobs/runs/get-output")]
    assert [r.status for r in outputs] == [200]
    assert str(info.value).count("PATH_NOT_FOUND") == 1

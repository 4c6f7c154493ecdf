"""Workspace import + Jobs runs/submit with idempotency_token: one run, one load."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, DatabricksError
from databricks.sdk.service import jobs
from databricks.sdk.service.workspace import ImportFormat, Language, ObjectType
from dbx_emu_helpers import WAREHOUSE, ok

from databricks_emulator.server import RunningEmulator

SCRIPT = """
-- a load job: the statements run in order on the warehouse
CREATE TABLE IF NOT EXISTS main.default.loads (load_id STRING, n BIGINT) USING DELTA;
INSERT INTO main.default.loads VALUES ('load-1; with a semicolon', 1);
"""


def _import(w: WorkspaceClient, path: str, text: str, fmt: ImportFormat = ImportFormat.AUTO) -> None:
    w.workspace.mkdirs(path.rsplit("/", 1)[0])
    w.workspace.import_(
        path=path,
        content=base64.b64encode(text.encode()).decode(),
        format=fmt,
        language=Language.SQL if fmt == ImportFormat.SOURCE else None,
        overwrite=True,
    )


def _submit(w: WorkspaceClient, path: str, token: str | None) -> int:
    waiter = w.jobs.submit(
        run_name="ml-connector load",
        idempotency_token=token,
        tasks=[
            jobs.SubmitTask(
                task_key="load",
                sql_task=jobs.SqlTask(
                    warehouse_id=WAREHOUSE, file=jobs.SqlTaskFile(path=path, source=jobs.Source.WORKSPACE)
                ),
            )
        ],
    )
    response: jobs.SubmitRunResponse = waiter.response
    assert response.run_id is not None
    return response.run_id


def _poll(w: WorkspaceClient, run_id: int) -> tuple[list[Any], jobs.Run]:
    seen = []
    for _ in range(5):
        run = w.jobs.get_run(run_id)
        assert run.state is not None
        seen.append(run.state.life_cycle_state)
        if run.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED:
            return seen, run
    raise AssertionError(f"run did not terminate: {seen}")


def test_workspace_import_and_status(sp_client: WorkspaceClient) -> None:
    _import(sp_client, "/Shared/ml-connector/load.sql", SCRIPT)
    status = sp_client.workspace.get_status("/Shared/ml-connector/load.sql")
    assert status.object_type == ObjectType.FILE
    exported = sp_client.workspace.export("/Shared/ml-connector/load.sql").content
    assert exported is not None and base64.b64decode(exported).decode() == SCRIPT
    _import(sp_client, "/Shared/ml-connector/notebook", "SELECT 1", ImportFormat.SOURCE)
    assert sp_client.workspace.get_status("/Shared/ml-connector/notebook").object_type == ObjectType.NOTEBOOK


def test_submit_twice_with_one_token_runs_once(emulator: RunningEmulator, sp_client: WorkspaceClient) -> None:
    _import(sp_client, "/Shared/ml-connector/load.sql", SCRIPT)
    token = "load-1-" + "x" * 57  # 64 characters, the limit
    first = _submit(sp_client, "/Shared/ml-connector/load.sql", token)
    assert _submit(sp_client, "/Shared/ml-connector/load.sql", token) == first
    seen, run = _poll(sp_client, first)
    assert seen == [
        jobs.RunLifeCycleState.PENDING,
        jobs.RunLifeCycleState.RUNNING,
        jobs.RunLifeCycleState.TERMINATED,
    ]
    assert run.state is not None and run.state.result_state == jobs.RunResultState.SUCCESS
    assert run.tasks is not None and run.tasks[0].state is not None
    assert run.tasks[0].state.result_state == jobs.RunResultState.SUCCESS
    assert _submit(sp_client, "/Shared/ml-connector/load.sql", token) == first
    _poll(sp_client, first)
    assert emulator.app.jobs.runs_created == 1
    assert ok(sp_client, "SELECT load_id, n FROM main.default.loads") == [["load-1; with a semicolon", "1"]]


def test_failed_sql_fails_the_run(sp_client: WorkspaceClient) -> None:
    _import(sp_client, "/Shared/bad.sql", "SELECT 1; SELECT * FROM main.default.missing;")
    _, run = _poll(sp_client, _submit(sp_client, "/Shared/bad.sql", None))
    assert run.state is not None and run.state.result_state == jobs.RunResultState.FAILED
    assert run.state.state_message is not None and "TABLE_OR_VIEW_NOT_FOUND" in run.state.state_message
    # runs/get-output of the task run carries the SQL error (what a client shows the user).
    task_run_id = (run.tasks or [])[0].run_id
    assert task_run_id is not None and task_run_id != run.run_id
    output = sp_client.jobs.get_run_output(task_run_id)
    assert output.error is not None and output.error.startswith("[TABLE_OR_VIEW_NOT_FOUND]")
    assert output.metadata is not None and output.metadata.run_id == task_run_id
    # A single-task run's own id answers the same; an unknown id is an error.
    assert sp_client.jobs.get_run_output(run.run_id or 0).error == output.error
    with pytest.raises(DatabricksError, match="does not exist"):
        sp_client.jobs.get_run_output(1)


def test_get_output_of_a_successful_task_has_no_error(sp_client: WorkspaceClient) -> None:
    _import(sp_client, "/Shared/load.sql", SCRIPT)
    _, run = _poll(sp_client, _submit(sp_client, "/Shared/load.sql", None))
    output = sp_client.jobs.get_run_output((run.tasks or [])[0].run_id or 0)
    assert output.error is None
    assert output.metadata is not None and output.metadata.state is not None
    assert output.metadata.state.result_state == jobs.RunResultState.SUCCESS


def test_a_notebook_is_not_a_sql_file(sp_client: WorkspaceClient) -> None:
    _import(sp_client, "/Shared/nb", "SELECT 1", ImportFormat.SOURCE)
    _, run = _poll(sp_client, _submit(sp_client, "/Shared/nb", None))
    assert run.state is not None and run.state.result_state == jobs.RunResultState.FAILED


def test_long_token_is_rejected_and_cancel_works(sp_client: WorkspaceClient) -> None:
    _import(sp_client, "/Shared/load.sql", SCRIPT)
    with pytest.raises(BadRequest, match="idempotency_token"):
        _submit(sp_client, "/Shared/load.sql", "x" * 65)
    run_id = _submit(sp_client, "/Shared/load.sql", "cancel-me")
    sp_client.jobs.cancel_run(run_id)
    run = sp_client.jobs.get_run(run_id)
    assert run.state is not None and run.state.result_state == jobs.RunResultState.CANCELED
    assert "loads" not in [r[1] for r in ok(sp_client, "SHOW TABLES IN main.default")]


def test_reused_token_answers_with_its_run_whatever_it_ran(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    # As on Databricks: the token decides, not the request; the second file never runs.
    _import(sp_client, "/Shared/load.sql", SCRIPT)
    _import(sp_client, "/Shared/other.sql", "CREATE TABLE main.default.other (n BIGINT) USING DELTA")
    first = _submit(sp_client, "/Shared/load.sql", "shared-token")
    assert _submit(sp_client, "/Shared/other.sql", "shared-token") == first
    _, run = _poll(sp_client, first)
    assert [t.sql_task.file.path for t in run.tasks or [] if t.sql_task and t.sql_task.file] == [
        "/Shared/load.sql"
    ]
    assert emulator.app.jobs.runs_created == 1
    assert "other" not in [r[1] for r in ok(sp_client, "SHOW TABLES IN main.default")]


def test_deleted_run_keeps_its_token_and_answers_with_an_error(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    _import(sp_client, "/Shared/load.sql", SCRIPT)
    run_id = _submit(sp_client, "/Shared/load.sql", "token-of-a-deleted-run")
    with pytest.raises(BadRequest, match="active"):
        sp_client.jobs.delete_run(run_id)  # only a finished run can be deleted
    _poll(sp_client, run_id)
    sp_client.jobs.delete_run(run_id)
    with pytest.raises(DatabricksError, match="does not exist"):
        sp_client.jobs.get_run(run_id)
    with pytest.raises(BadRequest, match="was deleted"):
        _submit(sp_client, "/Shared/load.sql", "token-of-a-deleted-run")
    assert emulator.app.jobs.runs_created == 1  # no new run for that token, ever
    assert _submit(sp_client, "/Shared/load.sql", "a-new-token") != run_id

"""The SQL Statement Execution API: parameters, polling, FAILED as HTTP 200, chunks, limits, warehouse."""

from __future__ import annotations

import pytest
import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import BadRequest, NotFound
from databricks.sdk.service.sql import (
    ColumnInfoTypeName,
    ExecuteStatementRequestOnWaitTimeout,
    StatementParameterListItem,
    StatementState,
)
from dbx_emu_helpers import WAREHOUSE, failed, ok

from databricks_emulator.server import RunningEmulator

P = StatementParameterListItem


def test_typed_parameters_and_string_results(sp_client: WorkspaceClient) -> None:
    ok(
        sp_client,
        "CREATE TABLE t (id BIGINT, amount DECIMAL(18,2), booked DATE, at TIMESTAMP, note STRING) "
        "USING DELTA",
    )
    ok(
        sp_client,
        "INSERT INTO t VALUES (:id, :amount, :booked, :at, :note)",
        params=[
            P(name="id", value="7", type="BIGINT"),
            P(name="amount", value="1234.50", type="DECIMAL(18,2)"),
            P(name="booked", value="2024-02-29", type="DATE"),
            P(name="at", value="2024-03-01T12:30:00+01:00", type="TIMESTAMP"),
            P(name="note", value=None),
        ],
    )
    response = sp_client.statement_execution.execute_statement(
        statement="SELECT * FROM main.default.t WHERE amount > :min",
        warehouse_id=WAREHOUSE,
        parameters=[P(name="min", value="1000", type="DECIMAL(10,0)")],
        wait_timeout="10s",
    )
    assert response.status is not None and response.status.state == StatementState.SUCCEEDED
    assert response.result is not None and response.manifest is not None
    assert response.result.data_array == [["7", "1234.50", "2024-02-29", "2024-03-01T11:30:00.000Z", None]]
    assert response.manifest.total_row_count == 1
    assert response.manifest.schema is not None and response.manifest.schema.columns is not None
    columns = {c.name: c for c in response.manifest.schema.columns}
    assert columns["id"].type_name == ColumnInfoTypeName.LONG and columns["id"].type_text == "BIGINT"
    assert columns["amount"].type_text == "DECIMAL(18,2)" and columns["amount"].type_scale == 2
    assert columns["at"].type_text == "TIMESTAMP"
    assert columns["note"].type_text == "STRING"


def test_zero_wait_polls_pending_running_succeeded(sp_client: WorkspaceClient) -> None:
    first = sp_client.statement_execution.execute_statement(
        statement="SELECT 41 + 1 AS answer", warehouse_id=WAREHOUSE, wait_timeout="0s"
    )
    assert first.status is not None and first.status.state == StatementState.PENDING
    assert first.statement_id is not None
    states: list[StatementState] = [first.status.state]
    response = first
    while states[-1] not in (StatementState.SUCCEEDED, StatementState.FAILED):
        response = sp_client.statement_execution.get_statement(first.statement_id)
        assert response.status is not None and response.status.state is not None
        states.append(response.status.state)
    assert states == [StatementState.PENDING, StatementState.RUNNING, StatementState.SUCCEEDED]
    assert response.result is not None and response.result.data_array == [["42"]]


def test_sql_error_is_http_200_with_failed_state(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    token = sp_client.config.authenticate()["Authorization"]
    answer = requests.post(
        f"{emulator.url}/api/2.0/sql/statements",
        json={
            "statement": "SELECT * FROM main.default.missing",
            "warehouse_id": WAREHOUSE,
            "wait_timeout": "5s",
        },
        headers={"Authorization": token},
        timeout=5,
    )
    assert answer.status_code == 200
    status = answer.json()["status"]
    assert status["state"] == "FAILED"
    assert status["sql_state"] == "42P01"
    assert status["error"]["error_code"] == "BAD_REQUEST"
    assert status["error"]["message"].startswith("[TABLE_OR_VIEW_NOT_FOUND]")
    assert "uc__" not in status["error"]["message"]


def test_unbound_parameter_and_cast_failure_fail(sp_client: WorkspaceClient) -> None:
    assert "[UNBOUND_SQL_PARAMETER]" in failed(sp_client, "SELECT :nope")
    assert "[CAST_INVALID_INPUT]" in failed(
        sp_client, "SELECT :v", params=[P(name="v", value="abc", type="INT")]
    )
    assert "[NUMERIC_VALUE_OUT_OF_RANGE]" in failed(sp_client, "SELECT CAST(123456.7 AS DECIMAL(5,2))")


def test_results_come_in_chunks(emulator: RunningEmulator, sp_client: WorkspaceClient) -> None:
    emulator.control.result_chunk_rows = 2
    response = sp_client.statement_execution.execute_statement(
        statement="SELECT * FROM range(5) AS r(n) ORDER BY n", warehouse_id=WAREHOUSE, wait_timeout="5s"
    )
    assert response.manifest is not None and response.manifest.total_chunk_count == 3
    assert response.result is not None and response.result.next_chunk_index == 1
    assert response.statement_id is not None
    rows = list(response.result.data_array or [])
    index: int | None = 1
    while index is not None:
        chunk = sp_client.statement_execution.get_statement_result_chunk_n(response.statement_id, index)
        rows.extend(chunk.data_array or [])
        index = chunk.next_chunk_index
    assert rows == [["0"], ["1"], ["2"], ["3"], ["4"]]


def test_request_limits_are_rejected(sp_client: WorkspaceClient) -> None:
    params = [P(name=f"p{i}", value=str(i), type="INT") for i in range(257)]
    with pytest.raises(BadRequest, match="Too many parameters"):
        sp_client.statement_execution.execute_statement(
            statement="SELECT 1", warehouse_id=WAREHOUSE, parameters=params
        )
    with pytest.raises(BadRequest, match="16 MiB"):
        sp_client.statement_execution.execute_statement(
            statement="SELECT '" + "x" * (16 * 1024 * 1024) + "'", warehouse_id=WAREHOUSE
        )
    with pytest.raises(BadRequest, match="wait_timeout"):
        sp_client.statement_execution.execute_statement(
            statement="SELECT 1", warehouse_id=WAREHOUSE, wait_timeout="3s"
        )
    with pytest.raises(NotFound):
        sp_client.statement_execution.execute_statement(statement="SELECT 1", warehouse_id="nope")


def test_injected_failure_on_the_nth_statement(emulator: RunningEmulator, sp_client: WorkspaceClient) -> None:
    emulator.control.fail_statement(2, "boom")
    assert ok(sp_client, "SELECT 1") == [["1"]]
    assert "boom" in failed(sp_client, "SELECT 2")
    assert ok(sp_client, "SELECT 3") == [["3"]]


def test_cancel_a_pending_statement(sp_client: WorkspaceClient) -> None:
    first = sp_client.statement_execution.execute_statement(
        statement="SELECT 1", warehouse_id=WAREHOUSE, wait_timeout="0s"
    )
    assert first.statement_id is not None
    sp_client.statement_execution.cancel_execution(first.statement_id)
    after = sp_client.statement_execution.get_statement(first.statement_id)
    assert after.status is not None and after.status.state == StatementState.CANCELED


def test_stopped_warehouse_keeps_statement_pending_until_running(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    emulator.control.set_warehouse_state("STOPPED")
    first = sp_client.statement_execution.execute_statement(
        statement="SELECT 'up' AS s", warehouse_id=WAREHOUSE, wait_timeout="10s"
    )
    assert first.status is not None and first.status.state == StatementState.PENDING
    assert sp_client.warehouses.get(WAREHOUSE).state is not None
    assert first.statement_id is not None
    states = []
    for _ in range(6):
        response = sp_client.statement_execution.get_statement(first.statement_id)
        assert response.status is not None
        states.append(response.status.state)
        if response.status.state == StatementState.SUCCEEDED:
            assert response.result is not None and response.result.data_array == [["up"]]
            break
    assert states[0] == StatementState.PENDING
    assert states[-1] == StatementState.SUCCEEDED


def test_on_wait_timeout_cancel_on_a_stopped_warehouse(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    emulator.control.set_warehouse_state("STOPPED")
    response = sp_client.statement_execution.execute_statement(
        statement="SELECT 1",
        warehouse_id=WAREHOUSE,
        wait_timeout="5s",
        on_wait_timeout=ExecuteStatementRequestOnWaitTimeout.CANCEL,
    )
    assert response.status is not None and response.status.state == StatementState.CANCELED


def test_warehouse_start_goes_through_starting(emulator: RunningEmulator, sp_client: WorkspaceClient) -> None:
    emulator.control.set_warehouse_state("STOPPED")
    assert str(sp_client.warehouses.get(WAREHOUSE).state.value) == "STOPPED"  # type: ignore[union-attr]
    sp_client.warehouses.start(WAREHOUSE)
    seen = [sp_client.warehouses.get(WAREHOUSE).state.value for _ in range(3)]  # type: ignore[union-attr]
    assert seen == ["STARTING", "RUNNING", "RUNNING"]
    odbc = sp_client.warehouses.get(WAREHOUSE).odbc_params
    assert odbc is not None and odbc.path == "/sql/1.0/warehouses/emulator-warehouse"

"""Small helpers the Databricks emulator tests share: run SQL the way a target does."""

from __future__ import annotations

import typing as t

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.sql import StatementParameterListItem, StatementResponse, StatementState

from databricks_emulator.warehouses import DEFAULT_WAREHOUSE_ID as WAREHOUSE


def sql(
    w: WorkspaceClient,
    statement: str,
    params: list[StatementParameterListItem] | None = None,
    *,
    catalog: str | None = None,
    schema: str | None = None,
) -> StatementResponse:
    """Execute with a wait, then poll until terminal (as a target does); returns the final response."""
    response = w.statement_execution.execute_statement(
        statement=statement,
        warehouse_id=WAREHOUSE,
        parameters=params,
        catalog=catalog,
        schema=schema,
        wait_timeout="30s",
    )
    for _ in range(20):
        assert response.status is not None
        if response.status.state not in (StatementState.PENDING, StatementState.RUNNING):
            return response
        assert response.statement_id is not None
        response = w.statement_execution.get_statement(response.statement_id)
    raise AssertionError("statement did not finish")


def ok(w: WorkspaceClient, statement: str, **kwargs: t.Any) -> list[list[str | None]]:
    """Rows of a statement that must succeed."""
    response = sql(w, statement, **kwargs)
    assert response.status is not None
    assert response.status.state == StatementState.SUCCEEDED, response.status.error
    if response.result is None or response.result.data_array is None:
        return []
    return [list(row) for row in response.result.data_array]


def failed(w: WorkspaceClient, statement: str, **kwargs: t.Any) -> str:
    """The error message of a statement that must fail (HTTP 200, state FAILED)."""
    response = sql(w, statement, **kwargs)
    assert response.status is not None
    assert response.status.state == StatementState.FAILED
    assert response.status.error is not None and response.status.error.message
    return response.status.error.message

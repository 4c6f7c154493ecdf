"""The SQL Statement Execution API: statement lifecycle, parameters, INLINE JSON_ARRAY results."""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from databricks_emulator.control import Control
from databricks_emulator.errors import ApiError, SqlError
from databricks_emulator.sql.engine import Parameter, Session, SqlEngine, SqlResult
from databricks_emulator.sql.types import decimal_precision_scale, type_name
from databricks_emulator.warehouses import Warehouses

MAX_STATEMENT_BYTES = 16 * 1024 * 1024
MAX_PARAMETERS = 256


@dataclass
class Statement:
    id: str
    sql: str
    params: list[Parameter]
    session: Session
    warehouse_id: str
    state: str = "PENDING"
    result: SqlResult | None = None
    error: SqlError | None = None
    injected_failure: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _wait_seconds(text: str | None) -> int:
    m = re.fullmatch(r"(\d+)s", text or "10s")
    seconds = int(m.group(1)) if m else -1
    if seconds != 0 and not 5 <= seconds <= 50:
        raise ApiError(
            400, "INVALID_PARAMETER_VALUE", "wait_timeout must be 0s or between 5s and 50s (e.g. '10s')."
        )
    return seconds


class StatementService:
    def __init__(self, engine: SqlEngine, warehouses: Warehouses, control: Control) -> None:
        self._engine = engine
        self._warehouses = warehouses
        self._control = control
        self._items: dict[str, Statement] = {}
        self._lock = threading.Lock()

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        sql = body.get("statement")
        if not isinstance(sql, str) or not sql.strip():
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "statement is required.")
        if len(sql.encode()) > MAX_STATEMENT_BYTES:
            raise ApiError(
                400, "INVALID_PARAMETER_VALUE", "The statement exceeds the maximum size of 16 MiB."
            )
        raw_params = body.get("parameters") or []
        if len(raw_params) > MAX_PARAMETERS:
            raise ApiError(
                400, "INVALID_PARAMETER_VALUE", f"Too many parameters: at most {MAX_PARAMETERS} are allowed."
            )
        if (body.get("disposition") or "INLINE") != "INLINE" or (
            body.get("format") or "JSON_ARRAY"
        ) != "JSON_ARRAY":
            raise ApiError(
                400,
                "INVALID_PARAMETER_VALUE",
                "The emulator serves disposition INLINE with format JSON_ARRAY only.",
            )
        wait = _wait_seconds(body.get("wait_timeout"))
        on_wait_timeout = body.get("on_wait_timeout") or "CONTINUE"
        warehouse_id = body.get("warehouse_id") or ""
        warehouse = self._warehouses.get(warehouse_id)
        params = [Parameter(p["name"], p.get("value"), p.get("type") or "STRING") for p in raw_params]
        session = Session((body.get("catalog") or "main").lower(), (body.get("schema") or "default").lower())
        statement = Statement(uuid.uuid4().hex, sql, params, session, warehouse_id)
        statement.injected_failure = self._control.next_statement_failure()
        with self._lock:
            self._items[statement.id] = statement
        if warehouse.state != "RUNNING":
            self._warehouses.start(warehouse_id)  # Databricks auto-starts a stopped warehouse
            if wait > 0 and on_wait_timeout == "CANCEL":
                statement.state = "CANCELED"
        elif wait > 0:
            self._run(statement)
        return self.describe(statement)

    def _run(self, statement: Statement) -> None:
        if statement.injected_failure is not None:
            statement.error = SqlError(
                "EMULATOR_INJECTED_FAILURE", statement.injected_failure, "XX000", "INTERNAL_ERROR"
            )
            statement.state = "FAILED"
            return
        try:
            statement.result = self._engine.execute(statement.sql, statement.params, statement.session)
            statement.state = "SUCCEEDED"
        except SqlError as exc:
            statement.error = exc
            statement.state = "FAILED"

    def get(self, statement_id: str) -> Statement:
        with self._lock:
            statement = self._items.get(statement_id)
        if statement is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Statement {statement_id} not found.")
        return statement

    def poll(self, statement_id: str) -> dict[str, Any]:
        """GET: each poll moves a pending statement one step (PENDING -> RUNNING -> done)."""
        statement = self.get(statement_id)
        with statement.lock:
            if statement.state == "PENDING":
                warehouse = self._warehouses.get(statement.warehouse_id)
                if warehouse.state != "RUNNING":
                    self._warehouses.observe(statement.warehouse_id)
                else:
                    statement.state = "RUNNING"
            elif statement.state == "RUNNING":
                self._run(statement)
        return self.describe(statement)

    def cancel(self, statement_id: str) -> None:
        statement = self.get(statement_id)
        with statement.lock:
            if statement.state in ("PENDING", "RUNNING"):
                statement.state = "CANCELED"

    def chunk(self, statement_id: str, index: int) -> dict[str, Any]:
        statement = self.get(statement_id)
        if statement.state != "SUCCEEDED" or statement.result is None:
            raise ApiError(
                400, "BAD_REQUEST", f"Statement {statement_id} has no result (state {statement.state})."
            )
        chunks = self._chunks(statement.result)
        if not 0 <= index < len(chunks):
            raise ApiError(404, "NOT_FOUND", f"Chunk {index} does not exist.")
        return self._chunk_json(statement, chunks, index)

    def _chunks(self, result: SqlResult) -> list[tuple[int, int]]:
        size = max(1, self._control.result_chunk_rows)
        total = len(result.rows)
        return [(start, min(size, total - start)) for start in range(0, total, size)] or [(0, 0)]

    def _chunk_json(self, statement: Statement, chunks: list[tuple[int, int]], index: int) -> dict[str, Any]:
        assert statement.result is not None
        offset, count = chunks[index]
        data: dict[str, Any] = {
            "chunk_index": index,
            "row_offset": offset,
            "row_count": count,
            "data_array": statement.result.rows[offset : offset + count],
        }
        if index + 1 < len(chunks):
            data["next_chunk_index"] = index + 1
            data["next_chunk_internal_link"] = (
                f"/api/2.0/sql/statements/{statement.id}/result/chunks/{index + 1}"
            )
        return data

    def describe(self, statement: Statement) -> dict[str, Any]:
        status: dict[str, Any] = {"state": statement.state}
        out: dict[str, Any] = {"statement_id": statement.id, "status": status}
        if statement.state == "FAILED" and statement.error is not None:
            status["error"] = {"error_code": statement.error.error_code, "message": statement.error.message}
            status["sql_state"] = statement.error.sql_state
        if statement.state == "SUCCEEDED" and statement.result is not None:
            result = statement.result
            chunks = self._chunks(result)
            columns = []
            for position, (name, type_text) in enumerate(result.columns):
                column: dict[str, Any] = {
                    "name": name,
                    "type_text": type_text,
                    "type_name": type_name(type_text),
                    "position": position,
                }
                ps = decimal_precision_scale(type_text)
                if ps:
                    column["type_precision"], column["type_scale"] = ps
                columns.append(column)
            out["manifest"] = {
                "format": "JSON_ARRAY",
                "schema": {"column_count": len(columns), "columns": columns},
                "total_chunk_count": len(chunks),
                "chunks": [
                    {"chunk_index": i, "row_offset": o, "row_count": c} for i, (o, c) in enumerate(chunks)
                ],
                "total_row_count": len(result.rows),
                "truncated": False,
            }
            out["result"] = self._chunk_json(statement, chunks, 0)
        return out

"""Jobs runs/submit with sql_task file tasks: idempotency_token, lifecycle over polls, cancel, delete.

As on Databricks, a reused idempotency_token answers with the run it first created, whatever that
run contained, and once that run is deleted the token answers with an error, not a new run.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from databricks_emulator.auth import SERVICE_PRINCIPAL_ID
from databricks_emulator.errors import ApiError, SqlError
from databricks_emulator.sql.engine import Session, SqlEngine
from databricks_emulator.warehouses import Warehouses
from databricks_emulator.workspace import Workspace

MAX_IDEMPOTENCY_TOKEN = 64


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TaskRun:
    task_key: str
    run_id: int
    spec: dict[str, Any]
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    start_time: int = 0
    end_time: int = 0


@dataclass
class Run:
    run_id: int
    run_name: str
    tasks: list[TaskRun]
    polls: int = 0
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    start_time: int = field(default_factory=_now_ms)
    end_time: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _run_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "run_id must be a number.") from exc


def _state(life_cycle: str, result: str | None, message: str) -> dict[str, Any]:
    state: dict[str, Any] = {
        "life_cycle_state": life_cycle,
        "state_message": message,
        "user_cancelled_or_timedout": False,
    }
    if result:
        state["result_state"] = result
        state["user_cancelled_or_timedout"] = result == "CANCELED"
    return state


def _status(life_cycle: str, result: str | None, message: str) -> dict[str, Any]:
    status: dict[str, Any] = {"state": life_cycle}
    if life_cycle == "TERMINATED":
        code = {"SUCCESS": "SUCCESS", "CANCELED": "CANCELED"}.get(result or "", "RUN_EXECUTION_ERROR")
        kind = "SUCCESS" if code == "SUCCESS" else "CLIENT_ERROR"
        status["termination_details"] = {"code": code, "type": kind, "message": message}
    return status


class Jobs:
    def __init__(self, engine: SqlEngine, warehouses: Warehouses, workspace: Workspace) -> None:
        self._engine = engine
        self._warehouses = warehouses
        self._workspace = workspace
        self._ids = itertools.count(100_001)
        self._runs: dict[int, Run] = {}
        self._tokens: dict[str, int] = {}  # token -> run id; kept after the run is deleted
        self._lock = threading.Lock()
        self.runs_created = 0

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("idempotency_token")
        if token is not None and len(str(token)) > MAX_IDEMPOTENCY_TOKEN:
            raise ApiError(
                400,
                "INVALID_PARAMETER_VALUE",
                f"idempotency_token must be at most {MAX_IDEMPOTENCY_TOKEN} characters.",
            )
        tasks = body.get("tasks") or []
        if not tasks:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "At least one task is required.")
        for task in tasks:
            sql_task = task.get("sql_task") or {}
            if not task.get("task_key") or not (sql_task.get("file") or {}).get("path"):
                raise ApiError(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    "The emulator runs sql_task tasks with a file path and a task_key.",
                )
            if (sql_task["file"].get("source") or "WORKSPACE") != "WORKSPACE":
                raise ApiError(
                    400, "INVALID_PARAMETER_VALUE", "The emulator reads sql_task files from WORKSPACE only."
                )
            self._warehouses.get(sql_task.get("warehouse_id") or "")
        with self._lock:
            if token is not None and str(token) in self._tokens:
                existing = self._tokens[str(token)]
                if existing not in self._runs:
                    raise ApiError(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        f"The run {existing} created with idempotency_token {token} was deleted; "
                        "submit with a new idempotency_token.",
                    )
                return {"run_id": existing}
            run_id = next(self._ids)
            run = Run(
                run_id,
                body.get("run_name") or "Untitled",
                [TaskRun(t["task_key"], next(self._ids), t) for t in tasks],
            )
            self._runs[run_id] = run
            self.runs_created += 1
            if token is not None:
                self._tokens[str(token)] = run_id
        return {"run_id": run_id}

    def _get(self, run_id: Any) -> Run:
        key = _run_id(run_id)
        with self._lock:
            run = self._runs.get(key)
        if run is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {key} does not exist.")
        return run

    def get(self, run_id: Any, host_url: str) -> dict[str, Any]:
        """runs/get: the first poll shows PENDING, the next RUNNING, the next runs the SQL and TERMINATED."""
        run = self._get(run_id)
        with run.lock:
            run.polls += 1
            if run.life_cycle_state == "PENDING" and run.polls >= 2:
                run.life_cycle_state = "RUNNING"
                for task in run.tasks:
                    task.life_cycle_state, task.start_time = "RUNNING", _now_ms()
            elif run.life_cycle_state == "RUNNING" and run.polls >= 3:
                self._execute(run)
            return self._json(run, host_url)

    def get_output(self, run_id: Any, host_url: str) -> dict[str, Any]:
        """runs/get-output of one task run: its metadata, and `error` when it failed.

        As on Databricks, the id must be a task's run id (runs/get lists them under `tasks`); a
        multi-task run's own id is refused.
        """
        key = _run_id(run_id)
        with self._lock:
            run = self._runs.get(key)
            owner = next((r for r in self._runs.values() if any(t.run_id == key for t in r.tasks)), None)
        if run is not None:
            if len(run.tasks) != 1:
                raise ApiError(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    "Retrieving the output of runs with multiple tasks is not supported. Please "
                    "retrieve the output of each individual task run instead.",
                )
            owner, key = run, run.tasks[0].run_id
        if owner is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {key} does not exist.")
        with owner.lock:
            task = next(t for t in owner.tasks if t.run_id == key)
            metadata = self._task_json(task)
            metadata.update(run_id=task.run_id, run_name=owner.run_name, run_type="SUBMIT_RUN")
            metadata["run_page_url"] = f"{host_url}/#job/runs/{task.run_id}"
            output: dict[str, Any] = {"metadata": metadata}
            if task.result_state == "FAILED":
                output["error"] = task.state_message
            return output

    def _execute(self, run: Run) -> None:
        failures = []
        for task in run.tasks:
            try:
                self._execute_task(task)
                task.result_state = "SUCCESS"
            except (ApiError, SqlError) as exc:
                task.result_state = "FAILED"
                task.state_message = exc.message
                failures.append(f"{task.task_key}: {exc.message}")
            task.life_cycle_state, task.end_time = "TERMINATED", _now_ms()
        run.life_cycle_state = "TERMINATED"
        run.result_state = "FAILED" if failures else "SUCCESS"
        run.state_message = "; ".join(failures)
        run.end_time = _now_ms()

    def _execute_task(self, task: TaskRun) -> None:
        sql_task = task.spec["sql_task"]
        obj = self._workspace.get(sql_task["file"]["path"])
        if obj.object_type != "FILE":
            raise ApiError(
                400, "INVALID_PARAMETER_VALUE", f"{obj.path} is a {obj.object_type.lower()}, not a file."
            )
        # A job task waits for its warehouse to come up (starting it if stopped).
        self._warehouses.set_state(sql_task["warehouse_id"], "RUNNING")
        self._engine.run_script(obj.content.decode("utf-8"), Session())

    def cancel(self, body: dict[str, Any]) -> None:
        run = self._get(body.get("run_id"))
        with run.lock:
            if run.life_cycle_state != "TERMINATED":
                run.life_cycle_state, run.result_state = "TERMINATED", "CANCELED"
                run.state_message = "Run cancelled."
                run.end_time = _now_ms()
                for task in run.tasks:
                    if task.life_cycle_state != "TERMINATED":
                        task.life_cycle_state, task.result_state = "TERMINATED", "CANCELED"

    def delete(self, body: dict[str, Any]) -> None:
        """runs/delete: a non-active run only (Databricks refuses to delete an active run)."""
        run = self._get(body.get("run_id"))
        with run.lock:
            if run.life_cycle_state != "TERMINATED":
                raise ApiError(
                    400, "INVALID_STATE", f"Run {run.run_id} is active; cancel it before deleting it."
                )
        with self._lock:
            self._runs.pop(run.run_id, None)

    def _json(self, run: Run, host_url: str) -> dict[str, Any]:
        return {
            "run_id": run.run_id,
            "job_id": None,
            "run_name": run.run_name,
            "number_in_job": run.run_id,
            "run_type": "SUBMIT_RUN",
            "creator_user_name": SERVICE_PRINCIPAL_ID,
            "run_page_url": f"{host_url}/#job/runs/{run.run_id}",
            "state": _state(run.life_cycle_state, run.result_state, run.state_message),
            "status": _status(run.life_cycle_state, run.result_state, run.state_message),
            "start_time": run.start_time,
            "end_time": run.end_time,
            "tasks": [self._task_json(t) for t in run.tasks],
        }

    @staticmethod
    def _task_json(task: TaskRun) -> dict[str, Any]:
        return {
            "task_key": task.task_key,
            "run_id": task.run_id,
            "sql_task": task.spec.get("sql_task"),
            "state": _state(task.life_cycle_state, task.result_state, task.state_message),
            "status": _status(task.life_cycle_state, task.result_state, task.state_message),
            "start_time": task.start_time,
            "end_time": task.end_time,
        }

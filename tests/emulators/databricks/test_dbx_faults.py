"""Fault switches: 429/503 with Retry-After (the SDK retries), responses lost after the work is done."""

from __future__ import annotations

import io

import requests
from databricks.sdk import WorkspaceClient
from dbx_emu_helpers import ok

from databricks_emulator.server import RunningEmulator


def test_429_and_503_are_retried_by_the_sdk(emulator: RunningEmulator, sp_client: WorkspaceClient) -> None:
    ok(sp_client, "CREATE TABLE main.default.t (n BIGINT) USING DELTA")
    emulator.control.reset_counters()
    emulator.control.fail_next(1, status=429, match="POST /api/2.0/sql/statements*", retry_after=0)
    emulator.control.fail_next(1, status=503, match="POST /api/2.0/sql/statements*", retry_after=0)
    ok(sp_client, "INSERT INTO main.default.t VALUES (1)")
    statuses = [r.status for r in emulator.control.requests if r.endpoint == "statements.execute"]
    assert statuses == [429, 503, 200]
    assert ok(sp_client, "SELECT count(*) FROM main.default.t") == [["1"]]


def test_retry_after_header_is_sent(emulator: RunningEmulator) -> None:
    emulator.control.fail_next(1, status=503, match="GET /api/2.0/sql/warehouses", retry_after=7)
    answer = requests.get(
        f"{emulator.url}/api/2.0/sql/warehouses",
        headers={"Authorization": "Bearer dapi-emulator-token"},
        timeout=5,
    )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "7"
    assert answer.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"


def test_dropped_statement_response_runs_the_statement_twice(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    # The SDK retries a POST whose answer was lost: a non-idempotent INSERT then lands twice,
    # which is exactly what a target must survive (MERGE on keys, load ledger).
    ok(sp_client, "CREATE TABLE main.default.t (n BIGINT) USING DELTA")
    emulator.control.drop_next(1, match="POST /api/2.0/sql/statements*")
    ok(sp_client, "INSERT INTO main.default.t VALUES (1)")
    assert emulator.control.count("statements.execute") == 3
    assert ok(sp_client, "SELECT count(*) FROM main.default.t") == [["2"]]


def test_dropped_upload_response_is_retried(emulator: RunningEmulator, sp_client: WorkspaceClient) -> None:
    ok(sp_client, "CREATE VOLUME main.default.v")
    emulator.control.drop_next(1, match="PUT /api/2.0/fs/files/*")
    sp_client.files.upload("/Volumes/main/default/v/a.bin", io.BytesIO(b"abc"), overwrite=True)
    assert emulator.control.count("files.put") == 2
    content = sp_client.files.download("/Volumes/main/default/v/a.bin").contents
    assert content is not None and content.read() == b"abc"


def test_http_control_route_drives_a_subprocess_emulator(emulator: RunningEmulator) -> None:
    control = f"{emulator.url}/_emulator/control"
    assert (
        requests.post(control, json={"op": "set_metastore", "assigned": False}, timeout=5).status_code == 200
    )
    headers = {"Authorization": "Bearer dapi-emulator-token"}
    summary = requests.get(
        f"{emulator.url}/api/2.1/unity-catalog/metastore_summary", headers=headers, timeout=5
    )
    assert summary.status_code == 404
    assert summary.json()["error_code"] == "METASTORE_DOES_NOT_EXIST"
    state = requests.get(f"{emulator.url}/_emulator/state", timeout=5).json()
    assert state["counters"]["uc.metastore_summary"] == 1
    assert requests.post(control, json={"op": "nope"}, timeout=5).status_code == 400
    bad_state = {"op": "set_warehouse_state", "state": "ASLEEP"}
    assert requests.post(control, json=bad_state, timeout=5).status_code == 400


def test_counters_count_requests_and_statements(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    ok(sp_client, "SELECT 1")
    emulator.control.reset_counters()
    assert emulator.control.sql_statements_executed() == 0
    ok(sp_client, "SELECT 1")
    ok(sp_client, "SELECT 2")
    assert emulator.control.count("statements.execute") == 2
    assert emulator.control.sql_statements_executed() == 2
    snapshot = emulator.control.snapshot()
    assert snapshot["requests"] == 2
    assert snapshot["counters"] == {"statements.execute": 2}

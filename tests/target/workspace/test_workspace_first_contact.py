"""First contact fails fast and in one line: an unreachable, refusing or bogus `host` ends the run
within 60 s with the SDK's default retry budget, naming the host and what failed (DNS, connect,
TLS, HTTP); credential, permission and setup problems are one ERROR line too. A workspace that has
answered gets the long retry budget for transient errors (503, 429)."""

from __future__ import annotations

import http.server
import socket
import threading
import typing as t
from pathlib import Path

import pytest
from cli_testlib import error_line, write_json, write_lines
from target_testlib import record_msg, run_cli, run_process, schema_msg, state_msg
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from target_databricks.engines.base import TableRef
from target_databricks.engines.workspace import WorkspaceEngine

PROPS = {"id": {"type": "integer"}, "v": {"type": ["integer", "null"]}}
MESSAGES = [
    schema_msg("t", PROPS, ["id"]),
    record_msg("t", {"id": 1, "v": 10}),
    record_msg("t", {"id": 2, "v": 20}),
    state_msg({"bookmark": "done"}),
]
# The claim under test: the default settings fail an unreachable host within this.
FIRST_CONTACT_LIMIT_SECONDS = 60


def _workspace(emu: RunningEmulator, **overrides: t.Any) -> dict[str, t.Any]:
    """Emulator settings with the SDK's default retry budget (300 s), as a user would have them."""
    cfg = settings(emu, **overrides)
    cfg.pop("retry_timeout_seconds")
    return cfg


def _singer(tmp_path: Path, cfg: dict[str, t.Any]) -> t.Any:
    return run_process(
        write_json(tmp_path / "c.json", cfg),
        write_lines(tmp_path / "in.singer", MESSAGES),
        timeout=FIRST_CONTACT_LIMIT_SECONDS,
    )


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> t.Iterator[int]:
    """Accepts TCP connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.fixture
def not_databricks_url() -> t.Iterator[str]:
    """An HTTP server that is not a workspace: 404 for everything."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: t.Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_refused_connection(tmp_path: Path, emulator: RunningEmulator, closed_port: int) -> None:
    host = f"http://127.0.0.1:{closed_port}"
    result = _singer(tmp_path, _workspace(emulator, host=host))
    error_line(result, f"Databricks host {host}:", f"connecting to 127.0.0.1:{closed_port} failed")
    assert "bookmark" not in result.stdout


def test_listener_that_never_answers(tmp_path: Path, emulator: RunningEmulator, silent_port: int) -> None:
    host = f"http://127.0.0.1:{silent_port}"
    result = _singer(tmp_path, _workspace(emulator, host=host))
    error_line(result, f"Databricks host {host}:", "connected, but no HTTP answer within 10 s")


def test_invalid_hostname(tmp_path: Path, emulator: RunningEmulator) -> None:
    result = _singer(tmp_path, _workspace(emulator, host="https://adb-0000.invalid"))
    error_line(result, "Databricks host https://adb-0000.invalid:", "DNS cannot resolve adb-0000.invalid")


def test_tls_to_a_plain_http_port(tmp_path: Path, emulator: RunningEmulator) -> None:
    host = emulator.url.replace("http://", "https://")
    error_line(_singer(tmp_path, _workspace(emulator, host=host)), host, "the TLS handshake failed")


def test_a_server_that_is_not_a_workspace(
    tmp_path: Path, emulator: RunningEmulator, not_databricks_url: str
) -> None:
    result = _singer(tmp_path, _workspace(emulator, host=not_databricks_url))
    error_line(result, not_databricks_url, "answered HTTP 404, not as a Databricks workspace does")


def test_replay_and_maintain_fail_fast_too(
    tmp_path: Path, emulator: RunningEmulator, closed_port: int
) -> None:
    cfg = write_json(tmp_path / "c.json", _workspace(emulator, host=f"http://127.0.0.1:{closed_port}"))
    for command in ("replay", "maintain"):
        result = run_cli(command, "--config", str(cfg), timeout=FIRST_CONTACT_LIMIT_SECONDS)
        error_line(result, f"127.0.0.1:{closed_port}", "Connection refused")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"client_secret": "wrong"}, "Databricks rejected the credentials"),
        ({"catalog": "finance"}, "Catalog 'finance' does not exist"),
        ({"http_path": "/sql/1.0/warehouses/nope"}, "SQL warehouse 'nope' not found or not visible"),
    ],
    ids=["credentials", "catalog", "warehouse"],
)
def test_setup_problems_are_one_error_line(
    tmp_path: Path, emulator: RunningEmulator, overrides: dict[str, t.Any], expected: str
) -> None:
    error_line(_singer(tmp_path, settings(emulator, **overrides)), expected)


def test_no_unity_catalog_is_one_error_line(tmp_path: Path, emulator: RunningEmulator) -> None:
    emulator.control.set_metastore(False)
    error_line(_singer(tmp_path, settings(emulator)), "Unity Catalog is not enabled for this workspace")


def test_transient_errors_of_a_workspace_that_answered_are_retried(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    emulator.control.fail_next(2, status=503, match="GET /api/2.1/unity-catalog/metastore_summary")
    emulator.control.fail_next(1, status=429, match="GET /api/2.0/sql/warehouses/*")
    result = _singer(tmp_path, settings(emulator))
    assert result.returncode == 0, result.stderr
    assert not emulator.control.faults  # every injected answer was met, and retried past
    engine = WorkspaceEngine(settings(emulator))
    rows = engine.read_table(TableRef("main", "datev", "t")).to_pylist()
    assert sorted((r["id"], r["v"]) for r in rows) == [(1, 10), (2, 20)]
    assert '"bookmark": "done"' in result.stdout

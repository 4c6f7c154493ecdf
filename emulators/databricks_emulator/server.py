"""Run the emulator on a background thread: `start(data_dir)` for tests, the CLI for a subprocess."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from databricks_emulator.app import EmulatorApp
from databricks_emulator.control import Control


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log on stderr (tests and benchmarks make thousands of requests)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logging.getLogger("databricks_emulator.http").debug("%s %s", self.requestline, str(code))


class RunningEmulator:
    def __init__(self, server: BaseWSGIServer, app: EmulatorApp) -> None:
        self._server = server
        self.app = app
        self.control: Control = app.control
        self.url = f"http://{server.host}:{server.port}"
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="databricks-emulator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self.app.engine.close()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start(data_dir: Path, host: str = "127.0.0.1", port: int = 0) -> RunningEmulator:
    """Start a threaded emulator serving `data_dir` (DuckDB files, volume contents) on host:port."""
    data_dir.mkdir(parents=True, exist_ok=True)
    app = EmulatorApp(data_dir, Control())
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    return RunningEmulator(server, app)

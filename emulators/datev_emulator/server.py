"""Start the emulator in a background thread: `start(data_dir) -> RunningEmulator`."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from datev_emulator.app import EmulatorApp
from datev_emulator.clock import Clock
from datev_emulator.context import Context
from datev_emulator.control import Control
from datev_emulator.faults import FaultBoard
from datev_emulator.keys import Signer
from datev_emulator.seed import seed_if_empty
from datev_emulator.store import Store


class QuietHandler(WSGIRequestHandler):
    """No access log: request lines of an OAuth server are not worth the risk of leaking anything."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def build_context(data_dir: Path, filler_clients: int = 0) -> Context:
    store = Store(data_dir)
    seed_if_empty(store, filler_clients)

    def persist_offset(offset: float) -> None:
        with store.lock:
            store.doc("settings")["clock_offset"] = offset
            store.save("settings")

    offset = float(store.doc("settings").get("clock_offset", 0.0))
    return Context(
        store=store,
        clock=Clock(offset, on_change=persist_offset),
        signer=Signer(data_dir),
        faults=FaultBoard(),
    )


class RunningEmulator:
    def __init__(self, server: BaseWSGIServer, app: EmulatorApp, host: str) -> None:
        self._server = server
        self._app = app
        self.url = f"http://{host}:{server.server_port}"
        self.port: int = server.server_port
        self.control: Control = app.control
        # A short poll interval makes stop() quick (tests start and stop many emulators).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="datev-emulator", daemon=True
        )
        self._stopped = False

    def _start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningEmulator(url={self.url!r})"


def start(
    data_dir: Path, host: str = "127.0.0.1", port: int = 0, *, filler_clients: int = 0
) -> RunningEmulator:
    """Serve the emulator on host:port (0 = a free port) from `data_dir`, seeding it when empty
    (with `filler_clients` plain clients of consultant 29099 besides the demo clients)."""
    app = EmulatorApp(build_context(Path(data_dir), filler_clients))
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    running = RunningEmulator(server, app, host)
    running._start()
    return running

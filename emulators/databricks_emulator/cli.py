"""`databricks-emulator serve --host 127.0.0.1 --port N --data DIR`."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from databricks_emulator.server import start


@click.group()
def main() -> None:
    """Local Databricks emulator (SQL on DuckDB) for tests and the demo."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=0, type=int, show_default=True, help="0 picks a free port.")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
def serve(host: str, port: int, data_dir: Path) -> None:
    """Serve until SIGTERM or SIGINT."""
    emulator = start(data_dir, host, port)
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo(f"databricks-emulator listening on {emulator.url}")
    sys.stdout.flush()
    stopped.wait()
    emulator.stop()

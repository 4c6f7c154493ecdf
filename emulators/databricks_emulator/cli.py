"""`databricks-emulator serve --host 127.0.0.1 --port N --data DIR` (argparse: no extra dependency)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from databricks_emulator.server import start


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="databricks-emulator",
        description="Local Databricks emulator (SQL on DuckDB) for tests and the demo.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve until SIGTERM or SIGINT")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--data", type=Path, required=True, help="data directory (DuckDB files, volumes)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    emulator = start(args.data, args.host, args.port)
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"databricks-emulator listening on {emulator.url}", flush=True)
    stopped.wait()
    emulator.stop()
    sys.exit(0)

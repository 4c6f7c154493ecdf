"""`datev-emulator serve --host 127.0.0.1 --port N --data DIR [--filler-clients N]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from datev_emulator.server import start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="datev-emulator", description="Local emulator of DATEV's APIs")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the emulator until SIGTERM/SIGINT")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument(
        "--data", type=Path, required=True, help="data directory (created and seeded if empty)"
    )
    serve.add_argument(
        "--filler-clients",
        type=int,
        default=0,
        metavar="N",
        help="seed a new data directory with N plain clients of consultant 29099 too (for paging)",
    )
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    running = start(args.data, host=args.host, port=args.port, filler_clients=args.filler_clients)
    print(f"datev-emulator listening on {running.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

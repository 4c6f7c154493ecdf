"""Benchmark: tap-datev records/s to /dev/null, against the DATEV emulator on loopback.

Starts the emulator with N extra clients, logs in (the emulator's test user consents), then
times full syncs of the `clients` stream (Singer messages written to /dev/null):
- paging only: `GET /clients` pages of 100, no per-client call (documents scope not granted);
- with accounting basics: plus one documents API `GET /clients/{id}` per client (the default).

Usage: .venv/bin/python bench/bench_tap.py [clients]   (default 5000)
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import requests

from datev_emulator.server import start
from ml_credentials import generate_key
from tap_datev.login import login
from tap_datev.tap import TapDatev
from tap_datev.tokens import TokenStore

KEY_ENV = "TAP_DATEV_BENCH_STORE_KEY"


class RecordCounter(io.StringIO):
    """A /dev/null that counts the RECORD messages written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.records = 0

    def write(self, text: str) -> int:
        self.records += text.count('"type":"RECORD"')
        return len(text)


def timed_sync(config: dict[str, t.Any]) -> tuple[int, float]:
    tap = TapDatev(config=config)
    for name, stream in tap.streams.items():
        stream.selected = name == "clients"
    sink = RecordCounter()
    with contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        tap.sync_all()
        elapsed = time.perf_counter() - started
    return sink.records, elapsed


def narrow_scopes(config: dict[str, t.Any], drop: str) -> None:
    store = TokenStore.from_config(config)
    pair = store.load()
    assert pair is not None
    store.save(
        type(pair)(**{**pair.to_dict(), "scope": " ".join(s for s in pair.scope.split() if s != drop)})
    )


def main() -> None:
    extra = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    logging.disable(logging.INFO)  # the SDK's per-stream metric lines would dominate otherwise
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "emulator"
        data_dir.mkdir()
        os.environ[KEY_ENV] = generate_key()
        with start(data_dir) as emulator:
            emulator.control.add_clients(extra)
            config: dict[str, t.Any] = {
                "environment": "local",
                "base_url": emulator.url,
                "client_id": "ml-connector-demo",
                "redirect_uri": "http://127.0.0.1:0/callback",
                "state_dir": str(Path(tmp) / "state"),
                "credentials_key_env": KEY_ENV,
            }
            login(config, open_url=lambda url: requests.get(url, timeout=30).raise_for_status())

            records, seconds = timed_sync(config)
            print(
                f"clients with accounting basics: {records} records in {seconds:.2f} s "
                f"= {records / seconds:,.0f} records/s (one extra GET per client)"
            )
            narrow_scopes(config, "accounting:clients:read")
            records, seconds = timed_sync(config)
            print(
                f"clients paging only:            {records} records in {seconds:.2f} s "
                f"= {records / seconds:,.0f} records/s (pages of 100)"
            )


if __name__ == "__main__":
    main()

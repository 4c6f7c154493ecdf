"""Benchmark: tap-datev records/s to /dev/null, against the DATEV emulator on loopback.

Starts the emulator, logs in (the emulator's test user consents), then times full syncs with the
Singer output written to /dev/null:

1. `clients` (N extra clients; HTTP-bound):
   - with accounting basics: plus one documents API `GET /clients/{id}` per client (the default);
   - paging only: `GET /clients` pages of 100, no per-client call (documents scope not granted).
2. `booking_lines` (CPU-bound, the tap's hot path): one generated Buchungsstapel of L lines is
   submitted with `submit extf` (all local checks, ledger, upload), the emulator's clock is moved
   past the import, then booking_batches + booking_lines are synced from an empty state, once with
   the SDK's default (simplejson) writer and once with the tap's own (singer-sdk's msgspec writer).
   Printed next to the parse-only figure (read_extf + booking_lines, no Singer output) and a bare
   `csv` read of the same bytes, all in this one run: figures are only comparable within a run.
   Then one more sync in a fresh process, as Meltano runs the tap, for its peak RSS. Also printed,
   as an additional figure: the msgspec writer's ratio in CPU seconds of this process.

Usage: .venv/bin/python bench/bench_tap.py [clients] [--lines L]   (defaults 5000 and 50000)
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import requests
from singer_sdk.io_base import SingerWriter

from datev_emulator.server import start
from ml_credentials import generate_key
from tap_datev.client import DatevClient
from tap_datev.ledger import Ledger
from tap_datev.login import login
from tap_datev.message_writer import DatevMessageWriter
from tap_datev.submit import submit_extf
from tap_datev.tap import TapDatev
from tap_datev.tokens import TokenStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peak_rss  # the bench folder is no package
from bench_extf import best_of, generate, parser

KEY_ENV = "TAP_DATEV_BENCH_STORE_KEY"


def counting(writer_class: type[t.Any]) -> t.Any:
    """A writer of `writer_class` that also counts the RECORD messages it writes."""

    class Counting(writer_class):  # type: ignore[misc,valid-type]
        records = 0

        def write_message(self, message: t.Any) -> None:
            if message.type == "RECORD":
                Counting.records += 1
            super().write_message(message)

        def write_record(self, *args: t.Any) -> None:  # DatevMessageWriter's RECORD path
            Counting.records += 1
            super().write_record(*args)

    return Counting()


def timed_sync(
    config: dict[str, t.Any], streams: set[str], writer_class: type[t.Any] = DatevMessageWriter
) -> tuple[int, float]:
    """One full sync of `streams` from an empty state, Singer output to /dev/null."""
    records, seconds, _ = timed_sync_cpu(config, streams, writer_class)
    return records, seconds


def timed_sync_cpu(
    config: dict[str, t.Any], streams: set[str], writer_class: type[t.Any] = DatevMessageWriter
) -> tuple[int, float, float]:
    """timed_sync, also with the CPU seconds this process spent in the sync."""
    writer = counting(writer_class)
    tap = TapDatev(config=config, message_writer=writer)
    for name, stream in tap.streams.items():
        stream.selected = name in streams
    real_stdout = sys.stdout
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        sys.stdout = devnull  # msgspec's writer writes to sys.stdout.buffer: a real file has one
        try:
            cpu_started = time.process_time()
            started = time.perf_counter()
            tap.sync_all()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        finally:
            sys.stdout = real_stdout
    return writer.records, elapsed, cpu


def cpu_seconds(work: t.Callable[[bytes], int], data: bytes) -> float:
    """CPU seconds this process spends in `work(data)`."""
    started = time.process_time()
    work(data)
    return time.process_time() - started


def _sync_in_child(config: dict[str, t.Any], streams: set[str]) -> tuple[int, float, float]:
    logging.disable(logging.INFO)
    records, seconds = timed_sync(config, streams)
    # VmHWM, not ru_maxrss: a spawned child's ru_maxrss keeps the high-water mark of this process
    # (which holds the emulator and the generated file) from before its exec.
    return records, seconds, peak_rss.high_water_mark_kib() / 1024


def sync_peak_rss(config: dict[str, t.Any], streams: set[str]) -> tuple[int, float, float]:
    """One sync in a fresh (spawned) process, as Meltano runs the tap: records, seconds, and that
    process's peak RSS in MiB (imports included; the emulator stays in this process)."""
    # A copy of the state dir: this process's syncs keep holding its sync lock.
    state_dir = Path(config["state_dir"])
    copy = state_dir.with_name(state_dir.name + "-child")
    shutil.copytree(state_dir, copy, ignore=shutil.ignore_patterns("sync.lock"), dirs_exist_ok=True)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result = pool.apply(_sync_in_child, ({**config, "state_dir": str(copy)}, streams))
        # Let the worker end by itself: leaving the block terminates it with SIGTERM, which the
        # SDK's handler in the tap answers with a SystemExit traceback.
        pool.close()
        pool.join()
    return result


def narrow_scopes(config: dict[str, t.Any], drop: str) -> None:
    store = TokenStore.from_config(config)
    pair = store.load()
    assert pair is not None
    store.save(
        type(pair)(**{**pair.to_dict(), "scope": " ".join(s for s in pair.scope.split() if s != drop)})
    )


def bench_clients(config: dict[str, t.Any]) -> None:
    records, seconds = timed_sync(config, {"clients"})
    print(
        f"clients with accounting basics: {records} records in {seconds:.2f} s "
        f"= {records / seconds:,.0f} records/s (one extra GET per client)"
    )
    narrow_scopes(config, "accounting:clients:read")
    records, seconds = timed_sync(config, {"clients"})
    print(
        f"clients paging only:            {records} records in {seconds:.2f} s "
        f"= {records / seconds:,.0f} records/s (pages of 100)"
    )


def bench_booking_lines(config: dict[str, t.Any], emulator: t.Any, lines: int) -> None:
    data = generate(lines)
    client = DatevClient(config)
    started = time.perf_counter()
    with Ledger.open(config["state_dir"]) as ledger:
        row = submit_extf(client, ledger, "EXTF_bench.csv", data)
        ledger.update(row.batch_id, next_poll_at=None)  # do not wait out DATEV's Retry-After here
    submit_s = time.perf_counter() - started
    emulator.control.advance(60)  # the emulator finishes the import job
    print(
        f"booking_lines: {lines} lines, {len(data) / 1e6:.1f} MB Buchungsstapel v13 (cp1252); "
        f"submit extf (checks, ledger, upload) took {submit_s:.2f} s"
    )

    floor_s, parse_s = best_of(data, lines)
    print(f"  bare csv read                 : {lines / floor_s:>9,.0f} lines/s   ({floor_s:.2f} s)")
    print(f"  parse only (read_extf+lines)  : {lines / parse_s:>9,.0f} lines/s   ({parse_s:.2f} s)")

    streams = {"booking_batches", "booking_lines"}
    writers = (("SDK default writer", SingerWriter), ("tap's msgspec writer", DatevMessageWriter))
    for label, writer_class in writers:
        best = best_cpu = float("inf")
        records = 0
        for _ in range(2):
            records, seconds, cpu = timed_sync_cpu(config, streams, writer_class)
            best, best_cpu = min(best, seconds), min(best_cpu, cpu)
        assert records == lines + 1, records  # every line plus its batch
        ratio = (records / best) / (lines / parse_s)
        print(
            f"  tap sync to /dev/null, {label:<20}: {records / best:>9,.0f} records/s   ({best:.2f} s, "
            f"{records} records; {ratio:.2f} of parse only)"
        )
    # An additional figure, not the one above: the same ratio in CPU seconds of this process (the
    # last writer's sync against the parser alone), which other load on the machine moves less.
    parse_cpu = min(cpu_seconds(parser, data) for _ in range(3))
    print(
        f"  the same in CPU seconds, msgspec writer: sync {best_cpu:.2f} s, parse only {parse_cpu:.2f} s "
        f"({(records / best_cpu) / (lines / parse_cpu):.2f} of parse only)"
    )
    records, seconds, rss = sync_peak_rss(config, streams)
    print(f"  tap process peak RSS (own process, msgspec writer): {rss:,.0f} MiB ({records} records)")


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("clients", nargs="?", type=int, default=5000, help="extra emulator clients")
    args.add_argument("--lines", type=int, default=50_000, help="booking lines (at most 99999)")
    options = args.parse_args()
    logging.disable(logging.INFO)  # the SDK's per-stream metric lines would dominate otherwise
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "emulator"
        data_dir.mkdir()
        os.environ[KEY_ENV] = generate_key()
        with start(data_dir) as emulator:
            if options.clients:  # the emulator refuses to add zero
                emulator.control.add_clients(options.clients)
            config: dict[str, t.Any] = {
                "environment": "local",
                "base_url": emulator.url,
                "client_id": "ml-connector-demo",
                "redirect_uri": "http://127.0.0.1:0/callback",
                "state_dir": str(Path(tmp) / "state"),
                "credentials_key_env": KEY_ENV,
            }
            login(config, open_url=lambda url: requests.get(url, timeout=30).raise_for_status())
            bench_booking_lines(config, emulator, options.lines)
            bench_clients(config)  # last: it narrows the stored scopes


if __name__ == "__main__":
    main()

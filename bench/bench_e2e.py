"""Benchmark: `meltano run tap-datev target-databricks` end to end on the demo's year of bookings at a
large size, and the HTTP requests of a no-change incremental poll.

1. A throwaway Meltano project (a copy of meltano.yml, environment `demo`: the embedded local Delta
   engine) in a temporary folder; the demo's files at `--invoices-per-month N` (scripts/demo_data.py;
   `make demo` uses 6, about 630 booking lines; 600 makes about 43,000, 6000 about 430,000).
2. As `make demo` does (scripts/demo.py): the DATEV emulator in a process of its own, the login, every
   file submitted once, the emulator's import jobs finished.
3. Timed: `meltano --environment demo run tap-datev target-databricks` from an empty state. Records/s
   = rows landed (read back from the Delta tables) ÷ the wall seconds of the meltano process. Peak RSS
   of each process (meltano, tap, target): each console script runs under a wrapper of the same name
   first on PATH, which logs its own process's high-water mark (VmHWM) at exit (bench/peak_rss.py).
4. The floors of the same booking lines, in this process: a bare `csv` read of the Buchungsstapel, and
   the same rows as dicts through `orjson` dumps + loads.
5. The no-change poll: the same `meltano run` again, with the state of the first and nothing new in
   DATEV. The emulator counts the requests it receives per endpoint; printed with the clients and
   submissions the tap has to look at.

Usage: .venv/bin/python bench/bench_e2e.py [--invoices-per-month N]   (default 600)
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import orjson
import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(HERE))
import demo_data  # noqa: E402 - the scripts folder is no package
from demo import BIN, EXTF_JOB_SECONDS, Demo, read_delta  # noqa: E402
from peak_rss import install_wrappers, read_log  # noqa: E402

from ml_credentials import DEFAULT_KEY_ENV  # noqa: E402

PLUGINS = ("meltano", "tap-datev", "target-databricks")
RUN = ("--environment", "demo", "run", "tap-datev", "target-databricks")


def extf_rows(path: Path) -> list[list[str]]:
    """The booking lines of one Buchungsstapel (header and column-name lines skipped)."""
    text = path.read_bytes().decode("cp1252")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))[2:]


def floors(files: list[Path]) -> tuple[int, float, float]:
    """(booking lines, bare csv read seconds, orjson dumps + loads seconds) of the files' lines, one
    file at a time (a large ledger's rows as dicts would take gigabytes)."""
    lines, csv_s, orjson_s = 0, 0.0, 0.0
    for path in files:
        started = time.perf_counter()
        rows = extf_rows(path)
        csv_s += time.perf_counter() - started
        header = [f"c{i}" for i in range(max((len(r) for r in rows), default=0))]
        dicts = [dict(zip(header, row, strict=False)) for row in rows]
        started = time.perf_counter()
        for record in dicts:
            orjson.loads(orjson.dumps(record))
        orjson_s += time.perf_counter() - started
        lines += len(rows)
    return lines, csv_s, orjson_s


def landed(lake: Path) -> dict[str, int]:
    """Rows per Delta table the run wrote (the target's own ledger tables `_ml_connector_*` left out)."""
    found = sorted(lake.iterdir()) if lake.is_dir() else []
    tables = [p for p in found if (p / "_delta_log").is_dir() and not p.name.startswith("_")]
    return {p.name: read_delta(p).num_rows for p in tables}


def timed_run(demo: Demo, wrappers: Path, log: Path) -> tuple[float, list[dict[str, t.Any]]]:
    """Wall seconds of one `meltano run` and the peak RSS log of its processes."""
    log.unlink(missing_ok=True)
    install_wrappers(wrappers, log, PLUGINS)
    env = {**demo.env, "PATH": f"{wrappers}{os.pathsep}{demo.env['PATH']}"}
    started = time.perf_counter()
    result = subprocess.run(
        [str(wrappers / "meltano"), *RUN],
        check=False,
        cwd=demo.project,
        env=env,
        text=True,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-6000:])
        raise SystemExit(f"`meltano {' '.join(RUN)}` failed (exit {result.returncode})")
    return wall, read_log(log)


def print_processes(entries: list[dict[str, t.Any]]) -> None:
    for entry in entries:
        args = " ".join("…" if "/" in arg else arg for arg in entry["args"])  # paths of the temp project
        label = f"{entry['name']} {args}"
        print(f"    {label:<64} peak RSS {entry['peak_rss_mib']:>5} MiB  {entry['seconds']:>7.2f} s")


def bench(project: Path, invoices_per_month: int) -> None:
    demo = Demo(project, invoices_per_month)
    demo.env = {
        **os.environ,
        DEFAULT_KEY_ENV: demo.key(),
        "MELTANO_AUTO_INSTALL": "false",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "BROWSER": "true",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    started = time.perf_counter()
    files = demo_data.write_all(demo.data / "files", invoices_per_month)
    accepted = files["batches"][:-1]  # the last batch is the one DATEV rejects (no postings)
    lines, csv_s, orjson_s = floors(accepted)
    mib = sum(p.stat().st_size for p in accepted) / 2**20
    print(
        f"demo ledger at {invoices_per_month} invoices per entity and month: {len(accepted)} accepted"
        f" Buchungsstapel, {lines:,} booking lines, {mib:.1f} MiB (written in"
        f" {time.perf_counter() - started:.1f} s)"
    )
    wrappers, log = project / ".bench" / "bin", project / ".bench" / "peak-rss.jsonl"
    with demo.datev_emulator() as url:
        demo.env["DATEV_EMULATOR_URL"] = url
        demo.login()
        started = time.perf_counter()
        demo.submit(files)
        print(f"  submitted in {time.perf_counter() - started:.1f} s; waiting out the emulator's import jobs")
        time.sleep(EXTF_JOB_SECONDS)

        wall, processes = timed_run(demo, wrappers, log)
        rows = landed(demo.lake)
        total = sum(rows.values())
        print(f"\n`meltano {' '.join(RUN)}`, empty state: {wall:.1f} s")
        booking_lines = rows.get("booking_lines", 0)
        print(f"  rows landed (read back): {total:,} in {len(rows)} tables; booking_lines {booking_lines:,}")
        print(f"  end to end                    : {total / wall:>9,.0f} records/s")
        print(f"  floor: bare csv read          : {lines / csv_s:>9,.0f} lines/s   ({csv_s:.2f} s)")
        print(f"  floor: orjson dumps + loads   : {lines / orjson_s:>9,.0f} lines/s   ({orjson_s:.2f} s)")
        print(f"  ratio end to end / csv floor  : {total / wall / (lines / csv_s):.4f}")
        requests.delete(f"{url}/_emulator/requests", timeout=30).raise_for_status()
        poll_wall, poll_processes = timed_run(demo, wrappers, log)
        counts: dict[str, int] = requests.get(f"{url}/_emulator/requests", timeout=30).json()
        beyond = wall - poll_wall
        if beyond > 0:  # what the data costs beyond a no-change run's start-up and discovery
            print(f"  beyond a no-change run ({poll_wall:.1f} s): {total / beyond:>9,.0f} records/s")
        print("  processes (peak RSS: VmHWM of each process alone, logged at its exit):")
        print_processes(processes)
    after = landed(demo.lake)
    print(f"\nno-change poll (the same run again, nothing new in DATEV): {poll_wall:.1f} s")
    print(
        f"  looked at: {len(demo_data.ENTITIES)} clients (the demo's client_ids), {len(files['batches'])}"
        f" EXTF submissions ({len(files['batches']) - len(accepted)} rejected),"
        f" {1 if files['dxso'] else 0} DXSO job, {len(files['documents'])} documents"
    )
    print(f"  rows landed: {'same' if after == rows else f'CHANGED {rows} -> {after}'}")
    print(f"  DATEV requests: {sum(counts.values())}")
    for endpoint, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        print(f"    {endpoint:<28} {count:>5}")
    print("  processes:")
    print_processes(poll_processes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--invoices-per-month",
        type=int,
        default=600,
        help="supplier invoices per entity and month (make demo: 6)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        shutil.copy(REPO / "meltano.yml", project / "meltano.yml")
        bench(project, args.invoices_per_month)


if __name__ == "__main__":
    main()

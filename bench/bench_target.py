"""Benchmark target-databricks: records/s on the RECORD path and the BATCH (Parquet) path, peak RSS,
and the orjson-decode floor of the same input (the ratio says how close the target gets to it).

    .venv/bin/python bench/bench_target.py                      # local engine, 200k and 1M records
    .venv/bin/python bench/bench_target.py --rows 200000        # one size
    .venv/bin/python bench/bench_target.py --engine workspace --rows 20000
        # the workspace engine against an in-process Databricks emulator; also statements and HTTP
        # requests per 100k rows

Each target run is a separate process (as Meltano runs it); wall time includes its start-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import typing as t
from decimal import Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

if t.TYPE_CHECKING:
    from databricks_emulator.server import RunningEmulator

STREAM = "booking_lines"
MONEY = {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2}
SCHEMA: dict[str, t.Any] = {
    "type": "object",
    "properties": {
        "line_id": {"type": "integer"},
        "batch_id": {"type": "integer"},
        "client_number": {"type": "integer"},
        "fiscal_year": {"type": "integer"},
        "amount": MONEY,
        "debit_credit": {"type": "string"},
        "currency": {"type": "string"},
        "exchange_rate": {
            "type": ["string", "null"],
            "format": "x-singer.decimal",
            "precision": 12,
            "scale": 6,
        },
        "account": {"type": "integer"},
        "contra_account": {"type": "integer"},
        "document_date": {"type": "string", "format": "date"},
        "document_field_1": {"type": ["string", "null"]},
        "posting_text": {"type": ["string", "null"]},
        "cost_center": {"type": ["string", "null"]},
        "locked": {"type": "boolean"},
        "changed_at": {"type": "string", "format": "date-time"},
    },
}
KEYS = ["line_id"]
TEXTS = [
    "Überweisung Müller GmbH",
    "Barkasse Bäckerei Größe",
    "Miete Büro März",
    "Kfz-Steuer Köln",
    "Reisekosten",
]


def generate(n: int, seed: int = 7) -> list[dict[str, t.Any]]:
    rnd = random.Random(seed)
    base = dt.date(2024, 1, 1)
    rows = []
    for i in range(n):
        day = base + dt.timedelta(days=i % 365)
        rows.append(
            {
                "line_id": i,
                "batch_id": i // 1000,
                "client_number": 10000 + i % 50,
                "fiscal_year": 2024,
                "amount": f"{rnd.randint(1, 10_000_000) / 100:.2f}",
                "debit_credit": "S" if i % 2 else "H",
                "currency": "EUR",
                "exchange_rate": "1.000000",
                "account": 1000 + i % 8000,
                "contra_account": 70000 + i % 999,
                "document_date": day.isoformat(),
                "document_field_1": f"RE-{i:08d}",
                "posting_text": TEXTS[i % len(TEXTS)],
                "cost_center": None if i % 3 else f"K{i % 40:03d}",
                "locked": i % 5 == 0,
                "changed_at": f"{day.isoformat()}T{i % 24:02d}:{i % 60:02d}:00Z",
            }
        )
    return rows


def write_record_input(rows: list[dict[str, t.Any]], path: Path) -> None:
    extracted = "2024-12-31T00:00:00Z"
    with path.open("wb") as f:
        f.write(
            orjson.dumps({"type": "SCHEMA", "stream": STREAM, "schema": SCHEMA, "key_properties": KEYS})
            + b"\n"
        )
        for row in rows:
            f.write(
                orjson.dumps({"type": "RECORD", "stream": STREAM, "record": row, "time_extracted": extracted})
                + b"\n"
            )
        f.write(orjson.dumps({"type": "STATE", "value": {"bookmarks": {STREAM: len(rows)}}}) + b"\n")


def write_batch_input(rows: list[dict[str, t.Any]], folder: Path, path: Path, rows_per_file: int) -> None:
    """Typed Parquet files as a tap would write them (decimal128 money, strings for dates)."""
    manifest = []
    for start in range(0, len(rows), rows_per_file):
        chunk = rows[start : start + rows_per_file]
        table = pa.Table.from_pylist(chunk)
        table = table.set_column(
            table.schema.get_field_index("amount"),
            "amount",
            pa.array([Decimal(r["amount"]) for r in chunk], pa.decimal128(15, 2)),
        )
        file = folder / f"part-{start // rows_per_file:05d}.parquet"
        pq.write_table(table, file)
        manifest.append(file.as_uri())
    with path.open("wb") as f:
        f.write(
            orjson.dumps({"type": "SCHEMA", "stream": STREAM, "schema": SCHEMA, "key_properties": KEYS})
            + b"\n"
        )
        encoding = {"format": "parquet", "compression": "none"}
        f.write(
            orjson.dumps({"type": "BATCH", "stream": STREAM, "encoding": encoding, "manifest": manifest})
            + b"\n"
        )
        f.write(orjson.dumps({"type": "STATE", "value": {"bookmarks": {STREAM: len(rows)}}}) + b"\n")


def generate_inputs(n: int, workdir: Path, batch_size: int) -> None:
    rows = generate(n)
    write_record_input(rows, workdir / f"records-{n}.singer")
    parquet_dir = workdir / f"parquet-{n}"
    parquet_dir.mkdir(exist_ok=True)
    write_batch_input(rows, parquet_dir, workdir / f"batch-{n}.singer", batch_size)


def orjson_floor(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as f:
        for line in f:
            orjson.loads(line)
    return time.perf_counter() - start


def run_target(config: dict[str, t.Any], input_path: Path, workdir: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one `target-databricks` process."""
    cfg_path = workdir / f"config-{time.monotonic_ns()}.json"
    cfg_path.write_text(json.dumps(config))
    cmd = [sys.executable, "-m", "target_databricks.cli", "--config", str(cfg_path)]
    start = time.perf_counter()
    with input_path.open("rb") as stdin:
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"target exited {proc.returncode}: {stderr.decode(errors='replace')[-3000:]}")
    return wall, usage.ru_maxrss / 1024


def start_workspace(workdir: Path) -> tuple[dict[str, t.Any], RunningEmulator]:
    """A started Databricks emulator and the workspace engine's config for it."""
    from databricks_emulator.auth import PERSONAL_ACCESS_TOKEN
    from databricks_emulator.server import start
    from databricks_emulator.warehouses import DEFAULT_WAREHOUSE_ID

    emulator = start(workdir / "emulator")
    config = {
        "engine": "workspace",
        "host": emulator.url,
        "auth_type": "pat",
        "token": PERSONAL_ACCESS_TOKEN,
        "warehouse_id": DEFAULT_WAREHOUSE_ID,
        "create_catalog": True,
    }
    return config, emulator


def bench(n: int, engine: str, batch_size: int, workdir: Path) -> dict[str, t.Any]:
    record_input, batch_input = workdir / f"records-{n}.singer", workdir / f"batch-{n}.singer"
    # Generated in a child process: a forked target inherits the parent's peak RSS in ru_maxrss, so
    # the parent must never hold the rows.
    subprocess.run(
        [sys.executable, __file__, "--generate", str(n), str(workdir), "--batch-size", str(batch_size)],
        check=True,
    )
    floor = orjson_floor(record_input)
    result: dict[str, t.Any] = {
        "records": n,
        "engine": engine,
        "input_mib": round(record_input.stat().st_size / 2**20, 1),
        "orjson_floor_rps": round(n / floor),
    }
    emulator = None
    base: dict[str, t.Any] = {"batch_size_rows": batch_size, "schema": "bench"}
    if engine == "workspace":
        extra, emulator = start_workspace(workdir)
        base.update(extra)
    try:
        for path_name, input_path in (("record", record_input), ("batch_parquet", batch_input)):
            config = {**base, "local_path": str(workdir / f"lake-{path_name}-{n}")}
            if emulator is not None:
                emulator.control.reset_counters()
                config["schema"] = f"bench_{path_name}_{n}"
            try:
                wall, rss = run_target(config, input_path, workdir)
            except RuntimeError as exc:
                result[f"{path_name}_error"] = str(exc)[-600:]
                continue
            result[f"{path_name}_rps"] = round(n / wall)
            result[f"{path_name}_seconds"] = round(wall, 2)
            result[f"{path_name}_peak_rss_mib"] = round(rss)
            result[f"{path_name}_vs_orjson_floor"] = round((n / wall) / result["orjson_floor_rps"], 3)
            if emulator is not None:
                snap = emulator.control.snapshot()
                per = 100_000 / n
                result[f"{path_name}_http_requests_per_100k"] = round(snap["requests"] * per, 1)
                result[f"{path_name}_sql_statements_per_100k"] = round(
                    snap["sql_statements_executed"] * per, 1
                )
    finally:
        if emulator is not None:
            emulator.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="200000,1000000", help="comma-separated record counts")
    parser.add_argument("--engine", choices=["local", "workspace"], default="local")
    parser.add_argument(
        "--batch-size", type=int, default=100_000, help="batch_size_rows and rows per Parquet file"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per size")
    parser.add_argument("--generate", nargs=2, metavar=("ROWS", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate_inputs(int(args.generate[0]), Path(args.generate[1]), args.batch_size)
        return
    with tempfile.TemporaryDirectory(prefix="bench-target-") as tmp:
        for n in (int(x) for x in args.rows.split(",")):
            result = bench(n, args.engine, args.batch_size, Path(tmp))
            if args.json:
                print(json.dumps(result))
                continue
            print(f"--- {n:,} booking-line records, engine={args.engine}, input {result['input_mib']} MiB")
            for key, value in result.items():
                if key not in ("records", "engine", "input_mib"):
                    print(f"  {key:36} {value}")


if __name__ == "__main__":
    main()

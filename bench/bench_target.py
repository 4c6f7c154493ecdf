"""Benchmark target-databricks: records/s on the RECORD path and the BATCH (Parquet) path, peak RSS,
and the orjson-decode floor of the same input (the ratio says how close the target gets to it).

    .venv/bin/python bench/bench_target.py                      # local engine, 200k and 1M records
    .venv/bin/python bench/bench_target.py --rows 200000        # one size
    .venv/bin/python bench/bench_target.py --engine workspace --rows 20000
        # the workspace engine against an in-process Databricks emulator; also statements and HTTP
        # requests per 100k rows, and per batch in steady state (every batch after the run's first);
        # the target process's CPU seconds with the ratio over them, and the emulator's CPU seconds
    .venv/bin/python bench/bench_target.py --engine workspace --load-via jobs --rows 300000
        # each batch applied as a one-time Jobs run: runs and seconds per 100k-row batch
    .venv/bin/python bench/bench_target.py --engine both --rows 100000,1000000,5000000
        # peak RSS per size on both engines (5M rows: ~10 GB of temporary input, tens of minutes)
    .venv/bin/python bench/bench_target.py --wide --engine both --rows 200000,1000000
        # records as tap-datev emits booking_lines (its schema, 144 properties, most of them null),
        # made by the tap's own EXTF parser: the memory of real records (~3.8 KB of JSON each)

Each target run is a separate process (as Meltano runs it); wall time includes its start-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import typing as t
from decimal import Decimal
from pathlib import Path

import orjson
import peak_rss
import pyarrow as pa
import pyarrow.parquet as pq
from bench_extf import generate as generate_extf

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


def generate(n: int, seed: int = 7) -> t.Iterator[dict[str, t.Any]]:
    """n rows, one at a time (5M rows never sit in memory at once)."""
    rnd = random.Random(seed)
    base = dt.date(2024, 1, 1)
    for i in range(n):
        day = base + dt.timedelta(days=i % 365)
        yield (
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


# --wide: tap-datev's booking_lines as the tap emits them, from EXTF files of this many lines each.
WIDE_LINES_PER_FILE = 50_000


def wide_schema() -> tuple[dict[str, t.Any], list[str]]:
    """tap-datev's own booking_lines schema and key properties."""
    from tap_datev.booking_streams import BookingLinesStream

    return BookingLinesStream.schema, list(BookingLinesStream.primary_keys)


def generate_wide(n: int) -> t.Iterator[dict[str, t.Any]]:
    """n booking_lines records made by the tap's parser (read_extf + booking_lines) from generated
    Buchungsstapel files, one batch_id per file, so the key (client_id, batch_id, line_number) is
    unique; one file's records in memory at a time."""
    from tap_datev.extf import booking_lines, read_extf

    made = 0
    for file_number in range(-(-n // WIDE_LINES_PER_FILE)):
        lines = min(WIDE_LINES_PER_FILE, n - made)
        extf = read_extf(generate_extf(lines, seed=file_number), "EXTF_bench.csv")
        batch_id = f"bench-{file_number:05d}"
        yield from booking_lines(
            extf, client_id="29098-55003", batch_id=batch_id, job_id=None, job_result=None
        )
        made += lines


def shape(wide: bool) -> tuple[dict[str, t.Any], list[str], t.Callable[[int], t.Iterator[dict[str, t.Any]]]]:
    """(schema, key properties, row generator) of the narrow (16 columns) or the wide case."""
    if wide:
        schema, keys = wide_schema()
        return schema, keys, generate_wide
    return SCHEMA, KEYS, generate


def write_record_input(n: int, path: Path, wide: bool = False) -> None:
    extracted = "2024-12-31T00:00:00Z"
    schema, keys, rows = shape(wide)
    with path.open("wb") as f:
        f.write(
            orjson.dumps({"type": "SCHEMA", "stream": STREAM, "schema": schema, "key_properties": keys})
            + b"\n"
        )
        for row in rows(n):
            f.write(
                orjson.dumps({"type": "RECORD", "stream": STREAM, "record": row, "time_extracted": extracted})
                + b"\n"
            )
        f.write(orjson.dumps({"type": "STATE", "value": {"bookmarks": {STREAM: n}}}) + b"\n")


def write_batch_input(n: int, folder: Path, path: Path, rows_per_file: int, wide: bool = False) -> None:
    """Typed Parquet files as a tap would write them (decimal128 money, strings for dates); the
    wide case's as tap-datev writes its BATCH files (its schema's Arrow types)."""
    from tap_datev.arrow_batches import records_to_table as tap_table

    schema, keys, generator = shape(wide)
    manifest = []
    rows = generator(n)
    for start in range(0, n, rows_per_file):
        chunk = [next(rows) for _ in range(min(rows_per_file, n - start))]
        if wide:
            table = tap_table(chunk, schema)
        else:
            table = pa.Table.from_pylist(chunk)
            table = table.set_column(
                table.schema.get_field_index("amount"),
                "amount",
                pa.array([Decimal(r["amount"]) for r in chunk], pa.decimal128(15, 2)),
            )
        file = folder / f"part-{start // rows_per_file:05d}.parquet"
        pq.write_table(table, file)
        manifest.append(file.as_uri())
        del chunk, table
    with path.open("wb") as f:
        f.write(
            orjson.dumps({"type": "SCHEMA", "stream": STREAM, "schema": schema, "key_properties": keys})
            + b"\n"
        )
        encoding = {"format": "parquet", "compression": "none"}
        f.write(
            orjson.dumps({"type": "BATCH", "stream": STREAM, "encoding": encoding, "manifest": manifest})
            + b"\n"
        )
        f.write(orjson.dumps({"type": "STATE", "value": {"bookmarks": {STREAM: n}}}) + b"\n")


def input_name(n: int, wide: bool) -> str:
    return f"wide-{n}" if wide else str(n)


def generate_inputs(n: int, workdir: Path, batch_size: int, wide: bool = False) -> None:
    name = input_name(n, wide)
    write_record_input(n, workdir / f"records-{name}.singer", wide)
    parquet_dir = workdir / f"parquet-{name}"
    parquet_dir.mkdir(exist_ok=True)
    write_batch_input(n, parquet_dir, workdir / f"batch-{name}.singer", batch_size, wide)


def orjson_floor(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of decoding every line (the CPU seconds compare with the target's own)."""
    start, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as f:
        for line in f:
            orjson.loads(line)
    return time.perf_counter() - start, time.process_time() - cpu


class TargetRun(t.NamedTuple):
    wall: float  # seconds, start-up included
    peak_rss_mib: float
    cpu: float  # the target process's own user + system seconds
    emulator_cpu: float  # this process's user + system seconds meanwhile: the in-process emulator


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_target(config: dict[str, t.Any], input_path: Path, workdir: Path) -> TargetRun:
    """Wall seconds, peak RSS and CPU seconds of one `target-databricks` process."""
    cfg_path = workdir / f"config-{time.monotonic_ns()}.json"
    cfg_path.write_text(json.dumps(config))
    log = workdir / f"peak-rss-{time.monotonic_ns()}.jsonl"
    # The target logs its own VmHWM at exit (bench/peak_rss.py): wait4's ru_maxrss would carry the
    # high-water mark of this process (which holds the workspace emulator) from before the exec.
    cmd = [sys.executable, "-c", _TARGET_WITH_PEAK_RSS, str(log), "--config", str(cfg_path)]
    # The child's CPU time is what the target itself controls; with the workspace engine, this
    # process's own CPU time meanwhile is the emulator serving it (it is idle otherwise).
    children, own = _cpu_seconds(resource.RUSAGE_CHILDREN), _cpu_seconds(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with input_path.open("rb") as stdin:
        proc = subprocess.run(
            cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
        )
    wall = time.perf_counter() - start
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) - children
    emulator_cpu = _cpu_seconds(resource.RUSAGE_SELF) - own
    if proc.returncode != 0:
        raise RuntimeError(f"target exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-3000:]}")
    (entry,) = peak_rss.read_log(log)
    return TargetRun(wall, float(entry["peak_rss_mib"]), cpu, emulator_cpu)


_TARGET_WITH_PEAK_RSS = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
import peak_rss
log = sys.argv.pop(1)
peak_rss.run_module_and_log("target_databricks.cli", "target-databricks", log)
"""


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


def _split_statements(statements: list[str]) -> tuple[int, int, int]:
    """(up to the first load's apply, from there to the last load's apply, after it): the middle part
    over (batches - 1) is a batch's statements in steady state; the first and last parts are paid
    once per run (pre-flight, DDL, reading the table's ledger rows; the last ledger rows)."""
    applies = [i for i, text in enumerate(statements) if text.lstrip().startswith(_APPLY_VERBS)]
    if not applies:
        return len(statements), 0, 0
    return applies[0] + 1, applies[-1] - applies[0], len(statements) - applies[-1] - 1


_APPLY_VERBS = ("MERGE", "COPY", "INSERT OVERWRITE")


def bench(
    n: int, engine: str, batch_size: int, workdir: Path, load_via: str = "statements", *, wide: bool = False
) -> dict[str, t.Any]:
    name = input_name(n, wide)
    record_input, batch_input = workdir / f"records-{name}.singer", workdir / f"batch-{name}.singer"
    # Generated in a child process: a forked target inherits the parent's peak RSS in ru_maxrss, so
    # the parent must never hold the rows.
    if not batch_input.exists():  # --engine both: one input for both engines
        generate_cmd = [
            sys.executable,
            __file__,
            "--generate",
            str(n),
            str(workdir),
            "--batch-size",
            str(batch_size),
        ]
        subprocess.run([*generate_cmd, *(["--wide"] if wide else [])], check=True)
    floor, floor_cpu = orjson_floor(record_input)
    result: dict[str, t.Any] = {
        "records": n,
        "engine": engine,
        "input_mib": round(record_input.stat().st_size / 2**20, 1),
        "orjson_floor_rps": round(n / floor),
    }
    if engine == "workspace":
        result["orjson_floor_cpu_seconds"] = round(floor_cpu, 2)
    emulator = None
    base: dict[str, t.Any] = {"batch_size_rows": batch_size, "schema": "bench"}
    if engine == "workspace":
        extra, emulator = start_workspace(workdir)
        base.update(extra, load_via=load_via)
    try:
        for path_name, input_path in (("record", record_input), ("batch_parquet", batch_input)):
            config = {**base, "local_path": str(workdir / f"lake-{path_name}-{name}")}
            if emulator is not None:
                emulator.control.reset_counters()
                config["schema"] = f"bench_{path_name}_{name.replace('-', '_')}"
            started = time.perf_counter()
            try:
                run = run_target(config, input_path, workdir)
            except RuntimeError as exc:
                result[f"{path_name}_error"] = str(exc)[-600:]
                continue
            wall = run.wall
            result[f"{path_name}_rps"] = round(n / wall)
            result[f"{path_name}_seconds"] = round(wall, 2)
            result[f"{path_name}_peak_rss_mib"] = round(run.peak_rss_mib)
            result[f"{path_name}_vs_orjson_floor"] = round((n / wall) / result["orjson_floor_rps"], 3)
            if emulator is not None:
                # Additional figures, not the goal's ratio (that stays wall time): the target
                # process's own CPU seconds and their ratio to the floor's CPU seconds (what the
                # target itself controls; CPU over CPU holds on a busy machine too), and the
                # emulator's CPU seconds meanwhile (the rest of the wall time is waiting: for the
                # other's answer, or for a core).
                result[f"{path_name}_target_cpu_seconds"] = round(run.cpu, 2)
                result[f"{path_name}_target_cpu_vs_orjson_floor_cpu"] = round(floor_cpu / run.cpu, 3)
                result[f"{path_name}_emulator_cpu_seconds"] = round(run.emulator_cpu, 2)
                snap = emulator.control.snapshot()
                per = 100_000 / n
                batches = -(-n // batch_size)
                result[f"{path_name}_http_requests_per_100k"] = round(snap["requests"] * per, 1)
                result[f"{path_name}_sql_statements_per_100k"] = round(
                    snap["sql_statements_executed"] * per, 1
                )
                statements = emulator.control.sql_statements()
                if wide:  # a batch of wide RECORD lines also ends at the target's size limit
                    batches = sum(text.lstrip().startswith(_APPLY_VERBS) for text in statements)
                    result[f"{path_name}_batches"] = batches
                first, middle, last = _split_statements(statements)
                result[f"{path_name}_sql_statements_first_batch_and_run_end"] = f"{first} + {last}"
                if batches > 1:
                    result[f"{path_name}_sql_statements_per_batch_steady"] = round(middle / (batches - 1), 2)
                if load_via == "jobs":
                    runs = emulator.control.count("jobs.submit")
                    result[f"{path_name}_jobs_runs_per_batch"] = round(runs / batches, 2)
                    result[f"{path_name}_seconds_per_batch"] = round(
                        (time.perf_counter() - started) / batches, 2
                    )
    finally:
        if emulator is not None:
            emulator.stop()
    return result


def small_run_input(path: Path, stream: str) -> None:
    """1,001 booking lines with one schema change after 500 (a new nullable column)."""
    schema2 = {**SCHEMA, "properties": {**SCHEMA["properties"], "note": {"type": ["string", "null"]}}}
    with path.open("wb") as f:
        for i, row in enumerate(generate(1_001)):
            if i in (0, 500):
                message = {"type": "SCHEMA", "stream": stream, "key_properties": KEYS}
                f.write(orjson.dumps({**message, "schema": SCHEMA if i == 0 else schema2}) + b"\n")
            record = {**row, "note": "n"} if i >= 500 else row
            f.write(orjson.dumps({"type": "RECORD", "stream": stream, "record": record}) + b"\n")
        f.write(orjson.dumps({"type": "STATE", "value": {"bookmarks": {stream: 1_001}}}) + b"\n")


def _statement_kind(text: str) -> str:
    """A statement as its verb and the object it names first: "MERGE small_a", "INSERT ledger"."""
    words = [w for w in text.split() if w not in ("OR", "REPLACE")]
    verb = " ".join(words[:2]) if words[0] in ("CREATE", "ALTER") else words[0]
    name = next((w for w in words if "`.`" in w), "").split("`.`")[-1].split("`")[0]
    return f"{verb} {'ledger' if name == '_ml_connector_loads' else name}".strip()


def small_runs(workdir: Path) -> dict[str, str]:
    """Statements of one whole small run (pre-flight and table creation included) on the emulator:
    into a fresh workspace (schema, staging volume and ledger made too), into a new table of a
    schema the target has loaded before, and the fresh run's input again (every load committed)."""
    config, emulator = start_workspace(workdir)
    result = {}
    runs = (
        ("fresh_workspace", "small_a"),
        ("new_table_existing_schema", "small_b"),
        ("same_input_again", "small_a"),
    )
    try:
        for label, stream in runs:
            input_path = workdir / f"{stream}.singer"
            small_run_input(input_path, stream)
            emulator.control.reset_counters()
            run_target({**config, "schema": "bench_small"}, input_path, workdir)
            kinds = [_statement_kind(text) for text in emulator.control.sql_statements()]
            result[f"small_run_statements_{label}"] = f"{len(kinds)}: {', '.join(kinds)}"
    finally:
        emulator.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="200000,1000000", help="comma-separated record counts")
    parser.add_argument("--engine", choices=["local", "workspace", "both"], default="local")
    parser.add_argument(
        "--load-via", choices=["statements", "jobs"], default="statements", help="workspace engine only"
    )
    parser.add_argument(
        "--batch-size", type=int, default=100_000, help="batch_size_rows and rows per Parquet file"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per size")
    parser.add_argument(
        "--wide",
        action="store_true",
        help="records as tap-datev emits booking_lines (its schema: 144 properties, mostly null)",
    )
    parser.add_argument(
        "--small-run",
        action="store_true",
        help="only the statements of one whole small run (1,001 rows, one schema change), workspace",
    )
    parser.add_argument("--generate", nargs=2, metavar=("ROWS", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate_inputs(int(args.generate[0]), Path(args.generate[1]), args.batch_size, args.wide)
        return
    with tempfile.TemporaryDirectory(prefix="bench-target-") as tmp:
        if args.small_run:
            for key, value in small_runs(Path(tmp)).items():
                print(f"  {key:46} {value}")
            return
        engines = ["local", "workspace"] if args.engine == "both" else [args.engine]
        for n in (int(x) for x in args.rows.split(",")):
            for engine in engines:
                result = bench(n, engine, args.batch_size, Path(tmp), args.load_via, wide=args.wide)
                if args.json:
                    print(json.dumps(result), flush=True)
                    continue
                via = f", load_via={args.load_via}" if engine == "workspace" else ""
                mib = result["input_mib"]
                what = (
                    "tap-datev booking_lines records (144 properties)"
                    if args.wide
                    else "booking-line records"
                )
                print(f"--- {n:,} {what}, engine={engine}{via}, input {mib} MiB")
                for key, value in result.items():
                    if key not in ("records", "engine", "input_mib"):
                        print(f"  {key:46} {value}", flush=True)


if __name__ == "__main__":
    main()

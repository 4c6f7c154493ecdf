"""`make bench`: run every benchmark script in turn; each prints its own figures.

Figures from one machine are only comparable within one run: each script measures its floor
(bare csv read, orjson decode) in the same process and prints the ratio next to it.

`--large` (`make bench BENCH_LARGE=1`) adds the long runs: the target at 100k, 1M and 5M rows on both
engines (about 10 GB of temporary input under $TMPDIR, tens of minutes) and `meltano run` on a ten
times bigger demo ledger.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS: list[tuple[str, list[str]]] = [
    ("EXTF parser vs bare csv read", ["bench_extf.py", "200000"]),
    (
        "tap-datev records/s to /dev/null (clients and booking_lines, DATEV emulator)",
        ["bench_tap.py", "2000", "--lines", "99999"],
    ),
    ("target-databricks, local Delta engine", ["bench_target.py", "--rows", "200000,1000000"]),
    (
        "target-databricks, workspace engine on the Databricks emulator",
        [
            "bench_target.py",
            "--engine",
            "workspace",
            "--rows",
            "200000,1000000",
        ],
    ),
    (
        "target-databricks, wide records (tap-datev's booking_lines, 144 properties), both engines",
        ["bench_target.py", "--wide", "--engine", "both", "--rows", "200000"],
    ),
    (
        "target-databricks, workspace engine, statements of one whole small run",
        ["bench_target.py", "--small-run"],
    ),
    (
        "target-databricks, workspace engine, load_via: jobs (one Jobs run per batch)",
        ["bench_target.py", "--engine", "workspace", "--load-via", "jobs", "--rows", "300000"],
    ),
    (
        "meltano run tap-datev target-databricks (local engine), demo ledger at 100x, and a no-change poll",
        ["bench_e2e.py", "--invoices-per-month", "600"],
    ),
]
LARGE_RUNS: list[tuple[str, list[str]]] = [
    (
        "target-databricks, peak RSS 100k -> 1M -> 5M rows, both engines",
        ["bench_target.py", "--engine", "both", "--rows", "100000,1000000,5000000"],
    ),
    (
        "meltano run tap-datev target-databricks (local engine), demo ledger at 1000x",
        ["bench_e2e.py", "--invoices-per-month", "6000"],
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--large", action="store_true", help="also the long runs (5M rows, 1000x demo)")
    options = parser.parse_args()
    failed = 0
    for title, args in RUNS + (LARGE_RUNS if options.large else []):
        print(f"\n### {title}\n$ bench/{' '.join(args)}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], check=False)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

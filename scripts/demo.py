"""`make demo`: the main job on the embedded default — DATEV emulator → local Delta tables → marts.

1. starts the DATEV emulator on a free loopback port (its data kept in .demo/datev-emulator),
2. logs in the way a user does in production (`meltano invoke tap-datev:login`: authorization
   code + PKCE; this script plays the browser, the emulator's test user consents) unless a token
   pair is stored already,
3. submits a fiscal year of monthly EXTF Buchungsstapel per entity (plus one that DATEV rejects),
   one DXSO job and a few invoice scans, each once (`tap-datev submit`'s functions, with the
   config Meltano resolves),
4. runs the job `meltano --environment demo run datev-to-databricks`: tap-datev (with the booked
   ledger, ade_enabled, whose export jobs the emulator finishes in half a second) → target-databricks
   → `dbt:build` (the marts, as tables in .lake/marts.duckdb), and lists which fiscal years of
   account_postings the tap exported or skipped,
5. stops the emulator (also when a step fails), prints rows per table read back from .lake, spend
   per entity and month, the batch reconciliation with what DATEV booked of each batch, the balance
   findings, and writes a chart of monthly spend (PNG).

Run it twice: the second run submits nothing new, duplicates no row and prints the same figures.
`--project DIR` runs it in another Meltano project folder holding a copy of meltano.yml (the
end-to-end test does that).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import requests
from deltalake import DeltaTable

from ml_credentials import DEFAULT_KEY_ENV, CredentialStore, generate_key
from tap_datev import settings as tap_settings
from tap_datev.client import DatevClient
from tap_datev.command_config import load_config
from tap_datev.ledger import Ledger, Submission
from tap_datev.submit import SubmitRefused, submit_document, submit_dxso, submit_extf
from target_databricks.engines.local import read_delta_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_data

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DBT_PYTHON = REPO / ".venv-dbt" / "bin" / "python"
LISTENING = re.compile(r"listening on (http://\S+)")
AUTHORIZE_URL = re.compile(r"(http://\S+/openid/authorize\?\S+)")
EXTF_JOB_SECONDS = 6  # the emulator finishes an EXTF job ~5 s after upload
ADE_JOB_SECONDS = 0.5  # an account-postings job of the emulator is PENDING this long
# tap-datev's log line per client and fiscal year of account_postings (read, or why not), up to
# the fields Meltano appends.
ACCOUNT_POSTINGS_LOG = re.compile(r"(account_postings of client .*?)(?:\s+cmd_type=|\s*$)", re.MULTILINE)
MONEY_COLUMNS = ("umsatz", "kurs", "account_amount", "account_amount_eur", "contra_account_amount_eur")


def read_delta(path: Path) -> pa.Table:
    """A local Delta table's rows, read as the target's local engine reads them."""
    return read_delta_table(DeltaTable(str(path)))


STARTED = time.monotonic()


def play_login(project: Path, args: t.Sequence[str], env: t.Mapping[str, str]) -> tuple[int, str]:
    """`meltano [ARGS] invoke tap-datev:login` in `project`, with this function as the browser:
    the emulator's test user consents at once and is redirected to tap-datev's loopback listener.
    Returns the exit code and the output."""
    proc = subprocess.Popen(
        [str(BIN / "meltano"), *args, "invoke", "tap-datev:login"],
        cwd=project,
        env={**env, "BROWSER": "true"},  # no real browser: answered below
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    output: list[str] = []
    browser: threading.Thread | None = None
    for line in proc.stdout:
        output.append(line)
        match = AUTHORIZE_URL.search(line)
        if match and browser is None:
            browser = threading.Thread(
                target=requests.get, args=(match.group(1),), kwargs={"timeout": 30}, daemon=True
            )
            browser.start()
    code = proc.wait(timeout=120)
    if browser is not None:
        browser.join(30)
    return code, "".join(output)


def say(message: str) -> None:
    print(f"==> [{time.monotonic() - STARTED:5.1f} s] {message}", flush=True)


class Demo:
    def __init__(self, project: Path, invoices_per_month: int) -> None:
        self.project = project
        self.invoices_per_month = invoices_per_month
        self.data = project / ".demo"
        self.lake = project / ".lake" / "ml_connector" / "datev"
        self.env: dict[str, str] = {}

    def key(self) -> str:
        """The demo's own store key, kept beside the demo data (production keeps it in a secret manager)."""
        key_file = self.data / "credentials.key"
        if not key_file.exists():
            self.data.mkdir(parents=True, exist_ok=True)
            key_file.write_text(generate_key(), encoding="ascii")
            key_file.chmod(0o600)
        return key_file.read_text(encoding="ascii").strip()

    @contextmanager
    def datev_emulator(self) -> Iterator[str]:
        proc = subprocess.Popen(
            [
                str(BIN / "datev-emulator"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--data",
                str(self.data / "datev-emulator"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = LISTENING.search(line)
            if not match:
                raise SystemExit(f"The DATEV emulator did not start: {line!r}")
            yield match.group(1)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def meltano(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(BIN / "meltano"), "--environment", "demo", *args]
        result = subprocess.run(
            cmd, check=False, cwd=self.project, env=self.env, text=True, capture_output=True
        )
        if check and result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-8000:])
            raise SystemExit(f"`meltano {' '.join(args)}` failed (exit {result.returncode})")
        return result

    def logged_in(self) -> bool:
        store = CredentialStore(self.data / "tap-datev" / "credentials", self.env[DEFAULT_KEY_ENV])
        return any(name.startswith("datev-tokens") for name in store.names())

    def login(self) -> None:
        """`tap-datev login` as a user runs it; `play_login` is the user's browser."""
        code, text = play_login(self.project, ("--environment", "demo"), self.env)
        if code != 0:
            sys.stderr.write(text)
            raise SystemExit("tap-datev login failed")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "[info" not in ln]
        say("Logged in to DATEV (emulator)" + (f": {lines[-1]}" if lines else ""))

    def submit(self, files: dict[str, list[Path]]) -> bool:
        """The monthly Buchungsstapel, the DXSO job and the invoice scans, each sent once.

        The functions `tap-datev submit extf|dxso|document` run, called here in one process with the
        config Meltano resolves: one command per file would start ~45 interpreters. What was sent
        before is listed in .demo/submitted.json and skipped: the tap's ledger refuses to resend an
        accepted batch anyway, but would send a rejected one again."""
        record = self.data / "submitted.json"
        sent: set[str] = set(json.loads(record.read_text())) if record.exists() else set()
        dxso = files["dxso"]
        packages = {", ".join(p.name for p in dxso): dxso} if dxso else {}
        items: list[Path | str] = [*files["batches"], *packages, *files["documents"]]
        todo = [item for item in items if (item if isinstance(item, str) else item.name) not in sent]
        before = len(items) - len(todo)
        if not todo:
            say(f"Submitted nothing to DATEV: all {before} submissions were made before (not sent again)")
            return False
        config = load_config([self.tap_config()])
        os.environ[DEFAULT_KEY_ENV] = self.env[DEFAULT_KEY_ENV]  # the tap reads its store key from here
        with Ledger.open(tap_settings.state_dir(config)) as ledger:
            client = DatevClient(config)
            for item in todo:
                name = item if isinstance(item, str) else item.name
                try:
                    row = self.submit_one(client, ledger, item, packages)
                except SubmitRefused as exc:
                    if "already" not in exc.message:
                        raise SystemExit(f"Submitting {name} failed: {exc.message}") from None
                else:
                    if row.status == "failed" and row.kind != "extf":
                        raise SystemExit(f"Submitting {name} failed: {row.error}")
                sent.add(name)
                record.write_text(json.dumps(sorted(sent), indent=1), encoding="utf-8")
        say(f"Submitted {len(todo)} to DATEV; {before} submissions were made before (not sent again)")
        return True

    @staticmethod
    def submit_one(
        client: DatevClient, ledger: Ledger, item: Path | str, packages: dict[str, list[Path]]
    ) -> Submission:
        if isinstance(item, str):  # the DXSO package (Lindner Maschinenbau's invoices)
            paths = packages[item]
            entity = next(e for e in demo_data.ENTITIES if str(e.client) in paths[-1].name)
            month = paths[-1].stem[-7:].replace("_", "-")  # Rechnungen_<client>_YYYY_MM.xml
            package = [(p.name, p.read_bytes()) for p in paths]
            import_type = "accountsPayableLedgerImport"
            return submit_dxso(
                client, ledger, entity.client_id, import_type=import_type, month=month, files=package
            )
        if item.suffix == ".csv":
            return submit_extf(client, ledger, item.name, item.read_bytes())
        entity = next(e for e in demo_data.ENTITIES if str(e.client) in item.name)
        return submit_document(
            client, ledger, entity.client_id, item.name, item.read_bytes(), document_type="Rechnungseingang"
        )

    @staticmethod
    def booked_ledger_reads(log: str) -> None:
        """What tap-datev exported of the booked ledger and what it skipped (closed fiscal years, years
        exported within ade_postings_interval_hours), from its log lines in Meltano's output."""
        reads = sorted({match.group(1) for match in ACCOUNT_POSTINGS_LOG.finditer(log)})
        if reads:
            say("tap-datev's account postings (Accounting Data Exchange):")
            for line in reads:
                print(f"      {line}", flush=True)

    def tap_config(self) -> str:
        path = self.data / "tap-datev-config.json"
        path.write_text(self.meltano("config", "print", "tap-datev").stdout, encoding="utf-8")
        return str(path)

    def report(self) -> dict[str, int]:
        found = self.lake.iterdir() if self.lake.is_dir() else iter(())
        # The target's own audit ledger (_ml_connector_*) grows by design on every run: not listed.
        data = [p for p in sorted(found) if (p / "_delta_log").is_dir() and not p.name.startswith("_")]
        tables = {p.name: read_delta(p) for p in data}
        if not tables:
            raise SystemExit("No Delta tables were written.")
        print(f"\nRows per table in {self.lake}")
        for name, table in tables.items():
            print(f"  {name:<32} {table.num_rows:>6}")
        if "booking_lines" in tables:
            # The exact types the tap declares, as the Delta log holds them (no float anywhere).
            fields = DeltaTable(str(self.lake / "booking_lines")).schema().fields
            money = [f"{f.name} {f.type.type}" for f in fields if f.name in MONEY_COLUMNS]
            print(f"\nbooking_lines column types (Delta log): {', '.join(money)}")
        return {name: table.num_rows for name, table in tables.items()}

    def marts(self) -> None:
        """The marts dbt built, printed, and the chart (in dbt's virtualenv: DuckDB and matplotlib)."""
        chart = self.data / "spend_monthly_by_entity.png"
        report = [str(DBT_PYTHON), str(REPO / "scripts" / "demo_report.py")]
        subprocess.run([*report, str(self.project / ".lake" / "marts.duckdb"), str(chart)], check=True)

    def run(self) -> dict[str, int]:
        self.env = {
            **os.environ,
            DEFAULT_KEY_ENV: self.key(),
            "MELTANO_AUTO_INSTALL": "false",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "BROWSER": "true",  # no real browser here: this script answers the login page itself
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        files = demo_data.write_all(self.data / "files", self.invoices_per_month)
        with self.datev_emulator() as url:
            say(f"DATEV emulator at {url}")
            self.env["DATEV_EMULATOR_URL"] = url
            # DATEV takes minutes for an account-postings export; the emulator's jobs finish on its own
            # clock, so the demo's few whole-year exports add seconds (the tap polls with its backoff).
            requests.post(
                f"{url}/_emulator/settings", json={"ade_delay_seconds": ADE_JOB_SECONDS}, timeout=10
            ).raise_for_status()
            if self.logged_in():
                say("A DATEV token pair is stored already: the tap refreshes it (no new login)")
            else:
                self.login()
            if self.submit(files):
                time.sleep(EXTF_JOB_SECONDS)  # jobs still pending would simply be re-polled next run
            say("meltano --environment demo run datev-to-databricks (tap-datev target-databricks dbt:build)")
            started = time.monotonic()
            run = self.meltano("run", "datev-to-databricks")
            say(f"meltano run finished in {time.monotonic() - started:.1f} s")
            self.booked_ledger_reads(run.stdout + run.stderr)
        counts = self.report()
        self.marts()
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project", type=Path, default=REPO, help="Meltano project folder (default: the repo)"
    )
    parser.add_argument(
        "--invoices-per-month",
        type=int,
        default=demo_data.DEFAULT_INVOICES_PER_MONTH,
        help="supplier invoices per entity and month (the year's size)",
    )
    args = parser.parse_args()
    Demo(args.project.resolve(), args.invoices_per_month).run()


if __name__ == "__main__":
    main()

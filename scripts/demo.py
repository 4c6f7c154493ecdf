"""`make demo`: the main job on the embedded default — DATEV emulator → local Delta tables.

1. starts the DATEV emulator on a free loopback port (its data kept in .demo/datev-emulator),
2. logs in the way a user does in production (`meltano invoke tap-datev:login`: authorization
   code + PKCE; this script plays the browser, the emulator's test user consents) unless a token
   pair is stored already,
3. submits each entity's EXTF Buchungsstapel and one invoice scan once (`tap-datev:submit`),
4. runs `meltano --environment demo run tap-datev target-databricks`,
5. stops the emulator (also when a step fails) and prints rows per table read back from .lake.

Run it twice: the second run submits nothing new and duplicates no row.
`--project DIR` runs it in another Meltano project folder holding a copy of meltano.yml (the
end-to-end test does that).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import requests
from deltalake import DeltaTable

from ml_credentials import DEFAULT_KEY_ENV, CredentialStore, generate_key
from target_databricks.engines.local import read_delta_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_data

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LISTENING = re.compile(r"listening on (http://\S+)")
AUTHORIZE_URL = re.compile(r"(http://\S+/openid/authorize\?\S+)")
EXTF_JOB_SECONDS = 6  # the emulator finishes an EXTF job ~5 s after upload


def read_delta(path: Path) -> pa.Table:
    """A local Delta table's rows, read as the target's local engine reads them."""
    return read_delta_table(DeltaTable(str(path)))


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


class Demo:
    def __init__(self, project: Path) -> None:
        self.project = project
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
        """`tap-datev login` as a user runs it; this method is the user's browser."""
        proc = subprocess.Popen(
            [str(BIN / "meltano"), "--environment", "demo", "invoke", "tap-datev:login"],
            cwd=self.project,
            env=self.env,
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
                # The emulator's test user consents at once and redirects to tap-datev's listener.
                browser = threading.Thread(
                    target=requests.get, args=(match.group(1),), kwargs={"timeout": 30}, daemon=True
                )
                browser.start()
        if proc.wait() != 0:
            sys.stderr.write("".join(output))
            raise SystemExit("tap-datev login failed")
        if browser is not None:
            browser.join(30)
        lines = [ln.strip() for ln in output if ln.strip() and "[info" not in ln]
        say("Logged in to DATEV (emulator)" + (f": {lines[-1]}" if lines else ""))

    def submit(self, files: dict[str, list[Path]]) -> None:
        """Each entity's Buchungsstapel and one scanned invoice; the ledger refuses repeats."""
        commands = [("extf", str(path)) for path in files["batches"]]
        for path in files["documents"]:
            client = next(e.client_id for e in demo_data.ENTITIES if str(e.client) in path.name)
            commands.append(("document", "--client", client, "--type", "Rechnungseingang", str(path)))
        for command in commands:
            path = Path(command[-1])
            result = self.meltano("invoke", "tap-datev:submit", *command, check=False)
            output = result.stdout + result.stderr
            if result.returncode == 0:
                say(f"Submitted {path.name}")
            elif "already" in output:
                say(f"{path.name} was submitted before: not sent again")
            else:
                sys.stderr.write(output[-6000:])
                raise SystemExit(f"Submitting {path.name} failed")

    def report(self) -> dict[str, int]:
        import pyarrow.compute as pc

        found = self.lake.iterdir() if self.lake.is_dir() else iter(())
        tables = {p.name: read_delta(p) for p in sorted(found) if (p / "_delta_log").is_dir()}
        if not tables:
            raise SystemExit("No Delta tables were written.")
        print(f"\nRows per table in {self.lake}")
        for name, table in tables.items():
            print(f"  {name:<32} {table.num_rows:>6}")
        if "booking_lines" in tables:
            lines = tables["booking_lines"]
            accepted = lines.filter(pc.equal(lines["job_result"], "succeeded"))
            grouped = accepted.group_by("client_id").aggregate([("account_amount_eur", "sum")])
            print("\nBooked amounts in EUR on the booking account (accepted batches) per legal entity:")
            for row in grouped.sort_by("client_id").to_pylist():
                print(f"  {row['client_id']:<14} {row['account_amount_eur_sum']:>14,.2f}")
        return {name: table.num_rows for name, table in tables.items()}

    def run(self) -> dict[str, int]:
        self.env = {
            **os.environ,
            DEFAULT_KEY_ENV: self.key(),
            "MELTANO_AUTO_INSTALL": "false",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "BROWSER": "true",  # no real browser here: this script answers the login page itself
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        files = demo_data.write_all(self.data / "files")
        with self.datev_emulator() as url:
            say(f"DATEV emulator at {url}")
            self.env["DATEV_EMULATOR_URL"] = url
            if self.logged_in():
                say("A DATEV token pair is stored already: the tap refreshes it (no new login)")
            else:
                self.login()
            self.submit(files)
            time.sleep(EXTF_JOB_SECONDS)  # jobs still pending would simply be re-polled next run
            say("meltano --environment demo run tap-datev target-databricks")
            started = time.monotonic()
            self.meltano("run", "tap-datev", "target-databricks")
            say(f"meltano run finished in {time.monotonic() - started:.1f} s")
        counts = self.report()
        state_ids = self.meltano("state", "list", check=False).stdout.strip()
        print(f"\nMeltano state ids: {state_ids or '(none)'}")
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--project", type=Path, default=REPO, help="Meltano project folder (default: the repo)"
    )
    Demo(parser.parse_args().project.resolve()).run()


if __name__ == "__main__":
    main()

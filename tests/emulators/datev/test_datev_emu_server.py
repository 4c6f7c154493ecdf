"""The emulator as a process: state survives a restart on the same data dir; the CLI prints its URL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests
from datev_emu_helpers import CLIENTS, EXTF, Flow

from datev_emulator.server import start

EXTF_BODY = (
    '"EXTF";700;21;"Buchungsstapel";13;20250203101500000;;"RE";"";"";29098;55004;20250701;4;20250701;20250731;'
    '"Juli";"WD";1;0;0;"EUR";;"";;;"03";;;"";""\r\nUmsatz;S/H\r\n100,00;"S"\r\n200,00;"H"\r\n'
).encode("cp1252")


def test_state_persists_across_restart(tmp_path: Path) -> None:
    data = tmp_path / "datev"
    with start(data) as first:
        flow = Flow(first)
        tokens = flow.login()
        kid = requests.get(f"{first.url}/certs", timeout=10).json()["keys"][0]["kid"]
        response = flow.api(
            "POST",
            f"{EXTF}/clients/29098-55004/extf-files/import",
            tokens["access_token"],
            data=EXTF_BODY,
            headers={"Filename": "EXTF_Juli.csv", "Content-Type": "application/octet-stream"},
        )
        location = response.headers["Location"]
        first.control.add_clients(5, consultant_number=30000)
        first.control.advance(120)
    assert (data / "signing-key.json").stat().st_mode & 0o077 == 0

    with start(data) as second:
        flow = Flow(second)
        assert (
            second.url != ""
            and requests.get(f"{second.url}/certs", timeout=10).json()["keys"][0]["kid"] == kid
        )
        # The clock offset, the access token and the job survived; the job finished meanwhile.
        assert flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"]).headers["Total-Items"] == "8"
        job = flow.api("GET", EXTF + location, tokens["access_token"]).json()
        assert job["result"] == "succeeded"
        assert job["number_of_accounting_records"] == 2
        refreshed = flow.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 200
        # Rotation state survived too: the old refresh token is spent.
        assert flow.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_cli_prints_listening_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    script = "from datev_emulator.cli import main; raise SystemExit(main())"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data",
            str(tmp_path / "d"),
            "--filler-clients",
            "150",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().rstrip("\n")
        match = re.fullmatch(r"datev-emulator listening on (http://127\.0\.0\.1:(\d+))", line)
        assert match, line
        url = match.group(1)
        discovery = requests.get(f"{url}/openid/.well-known/openid-configuration", timeout=10).json()
        assert discovery["issuer"] == f"{url}/openid"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""  # exactly one line on stdout
        clients = json.loads((tmp_path / "d" / "datev.json").read_text("utf-8"))["clients"]
        assert len(clients) == 3 + 150 and "29099-10150" in clients
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

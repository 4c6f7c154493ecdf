"""The console script prints its listening line and stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests


def test_cli_serves_and_stops(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("databricks-emulator")
    process = subprocess.Popen(
        [str(script), "serve", "--host", "127.0.0.1", "--port", "0", "--data", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("databricks-emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        config = requests.get(f"{url}/.well-known/databricks-config", timeout=5).json()
        assert config == {"oidc_endpoint": f"{url}/oidc", "workspace_id": "1234567890", "cloud": "AWS"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert (tmp_path / "data" / "catalogs" / "main.duckdb").is_file()

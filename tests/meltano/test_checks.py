"""`tap-datev check` and `target-databricks check`: one line per check, exit 1 at the first
failure, and nothing left behind (no ledger, no schema, no volume, no statement, no started warehouse).

Run as a user runs them (the console scripts with a config file) against the emulators.
"""

from __future__ import annotations

import json
import subprocess
import typing as t
from pathlib import Path

import pytest
import requests
from meltano_testlib import BIN, KEY_ENV, clean_env

from databricks_emulator.auth import SERVICE_PRINCIPAL_ID, SERVICE_PRINCIPAL_SECRET
from databricks_emulator.server import RunningEmulator, start
from databricks_emulator.warehouses import DEFAULT_WAREHOUSE_ID
from ml_credentials import generate_key

DEMO_CLIENTS = ["29098-55003", "29098-55004", "29098-55005"]


def run_check(executable: str, config: dict[str, t.Any], tmp_path: Path) -> tuple[int, list[str]]:
    config_file = tmp_path / f"{executable}.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    result = subprocess.run(
        [str(BIN / executable), "check", "--config", str(config_file)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout.splitlines()


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) if folder.exists() else set()


# --- tap-datev ---------------------------------------------------------------------------------


@pytest.fixture
def tap_config(tmp_path: Path, datev_emulator: t.Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, t.Any]:
    monkeypatch.setenv(KEY_ENV, generate_key())
    return {
        "environment": "local",
        "base_url": datev_emulator.url,
        "client_id": "ml-connector-demo",
        "redirect_uri": "http://127.0.0.1:0/callback",
        "state_dir": str(tmp_path / "state"),
        "client_ids": DEMO_CLIENTS,
    }


def logged_in(config: dict[str, t.Any]) -> dict[str, t.Any]:
    from tap_datev.login import login

    login(config, open_url=lambda url: requests.get(url, timeout=30).raise_for_status())
    return config


def test_tap_check_passes_after_login_and_writes_nothing(
    tap_config: dict[str, t.Any], tmp_path: Path
) -> None:
    config = logged_in(tap_config)
    before = files_under(Path(config["state_dir"]))
    code, lines = run_check("tap-datev", config, tmp_path)
    assert code == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "ok   stored login",
        "ok   DATEV reachable",
        "ok   clients visible",
        "ok   data services",
    ]
    assert lines[2].endswith(", ".join(DEMO_CLIENTS))
    # Lindner Service GmbH has no Rechnungsdatenservice (DXSO) booked in the emulator.
    assert "29098-55005 without dxso" in lines[3]
    assert files_under(Path(config["state_dir"])) == before, "the check left files behind"


def test_tap_check_without_login_stops_at_the_first_check(
    tap_config: dict[str, t.Any], tmp_path: Path
) -> None:
    code, lines = run_check("tap-datev", tap_config, tmp_path)
    assert code == 1
    (line,) = lines
    assert line.startswith("FAIL stored login: Not logged in to DATEV yet")
    assert "`meltano invoke tap-datev:login`" in line


def test_tap_check_names_a_client_the_login_cannot_see(tap_config: dict[str, t.Any], tmp_path: Path) -> None:
    config = logged_in({**tap_config, "client_ids": ["29098-55003", "12345-99999"]})
    code, lines = run_check("tap-datev", config, tmp_path)
    assert code == 1
    assert lines[-1].startswith("FAIL clients visible: client_ids 12345-99999 not visible to this login")
    assert len(lines) == 3


def test_tap_check_fails_fast_when_datev_is_unreachable(tap_config: dict[str, t.Any], tmp_path: Path) -> None:
    config = logged_in(tap_config)
    code, lines = run_check("tap-datev", {**config, "base_url": "http://127.0.0.1:9"}, tmp_path)
    assert code == 1
    assert lines[-1].startswith("FAIL DATEV reachable:")


# --- target-databricks -------------------------------------------------------------------------


@pytest.fixture
def databricks(tmp_path: Path) -> t.Iterator[RunningEmulator]:
    with start(tmp_path / "databricks") as emulator:
        yield emulator


def workspace_config(emulator: RunningEmulator, **overrides: t.Any) -> dict[str, t.Any]:
    return {
        "engine": "workspace",
        "host": emulator.url,
        "auth_type": "oauth-m2m",
        "client_id": SERVICE_PRINCIPAL_ID,
        "client_secret": SERVICE_PRINCIPAL_SECRET,
        "http_path": f"/sql/1.0/warehouses/{DEFAULT_WAREHOUSE_ID}",
        "catalog": "main",
        "schema": "datev",
        **overrides,
    }


def writes(emulator: RunningEmulator) -> list[t.Any]:
    return [r for r in emulator.control.requests if r.method != "GET" and r.endpoint != "token"]


def test_target_check_passes_and_creates_nothing(databricks: RunningEmulator, tmp_path: Path) -> None:
    databricks.control.set_warehouse_state("STOPPED", DEFAULT_WAREHOUSE_ID)
    code, lines = run_check("target-databricks", workspace_config(databricks), tmp_path)
    assert code == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "ok   auth",
        "ok   warehouse",
        "ok   Unity Catalog",
        "ok   catalog/schema privileges",
        "ok   staging volume",
    ]
    assert lines[0].endswith(f"as {SERVICE_PRINCIPAL_ID}")
    assert f"{DEFAULT_WAREHOUSE_ID} STOPPED" in lines[1]
    assert "schema main.datev missing: the first run creates it" in lines[3]
    assert "main.datev._ml_connector_staging missing" in lines[4]
    assert writes(databricks) == [], "the check changed the workspace"
    assert databricks.control.sql_statements_executed() == 0
    assert databricks.control.count("warehouses.start") == 0, "the check started the warehouse"


def test_target_check_reports_rejected_credentials(databricks: RunningEmulator, tmp_path: Path) -> None:
    config = workspace_config(databricks, client_secret="not-the-secret", retry_timeout_seconds=5)
    code, lines = run_check("target-databricks", config, tmp_path)
    assert code == 1
    (line,) = lines
    assert line.startswith(f"FAIL auth: Databricks rejected the credentials for {databricks.url}")


def test_target_check_reports_a_workspace_without_unity_catalog(
    databricks: RunningEmulator, tmp_path: Path
) -> None:
    databricks.control.set_metastore(False)
    code, lines = run_check("target-databricks", workspace_config(databricks), tmp_path)
    assert code == 1
    assert lines[-1].startswith("FAIL Unity Catalog: Unity Catalog is not enabled for this workspace")
    assert len(lines) == 3


def test_target_check_of_the_local_engine(tmp_path: Path) -> None:
    config = {"engine": "local", "local_path": str(tmp_path / "lake"), "catalog": "c", "schema": "s"}
    code, lines = run_check("target-databricks", config, tmp_path)
    assert code == 0
    assert lines == [f"ok   local Delta tables: {tmp_path / 'lake' / 'c' / 's'} (created on the first run)"]
    assert not (tmp_path / "lake").exists()

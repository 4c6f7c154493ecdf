"""Settings → URLs and scopes, offline discovery, and the CLI dispatch (no DATEV needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tap_datev import settings
from tap_datev.cli import commands, subcommand_first
from tap_datev.login import login_scopes
from tap_datev.tap import TapDatev

TAP = [sys.executable, "-c", "from tap_datev.cli import main; main()"]


def test_api_base_urls_per_environment() -> None:
    prod = {"client_id": "x"}
    sandbox = {"client_id": "x", "environment": "datev-sandbox"}
    local = {"client_id": "x", "environment": "local", "base_url": "http://127.0.0.1:5000/"}
    assert settings.api_base_url(prod, "clients") == "https://accounting-clients.api.datev.de/platform/v2"
    assert settings.api_base_url(prod, "extf") == "https://accounting-extf-files.api.datev.de/platform/v3"
    assert (
        settings.api_base_url(sandbox, "documents")
        == "https://accounting-documents.api.datev.de/platform-sandbox/v2"
    )
    assert settings.api_base_url(local, "dxso") == "http://127.0.0.1:5000/accounting-dxso-jobs/platform/v2"
    assert settings.discovery_url(prod) == "https://login.datev.de/openid/.well-known/openid-configuration"
    assert (
        settings.discovery_url(sandbox)
        == "https://login.datev.de/openidsandbox/.well-known/openid-configuration"
    )
    assert settings.discovery_url(local) == "http://127.0.0.1:5000/openid/.well-known/openid-configuration"


def test_loopback_only_outside_production() -> None:
    assert not settings.uses_loopback({"client_id": "x"})  # production: paste the redirected URL
    assert settings.uses_loopback({"client_id": "x", "environment": "datev-sandbox"})
    assert not settings.uses_loopback(
        {
            "client_id": "x",
            "environment": "local",
            "base_url": "http://h",
            "redirect_uri": "https://a.example/cb",
        }
    )


def test_login_scopes_follow_submit_kinds_and_always_include_the_clients_scopes() -> None:
    clients = {"openid", "offline_access", "datev:accounting:clients", "accounting:clients:read"}
    everything = login_scopes({"client_id": "x"})
    assert everything[:2] == ["openid", "offline_access"]
    assert set(everything) == clients | {
        "accounting:documents",
        "datev:accounting:extf-files-import",
        "accounting:dxso-jobs",
    }
    assert len(everything) == len(set(everything))
    assert set(login_scopes({"client_id": "x", "submit_kinds": []})) == clients
    only_extf = login_scopes({"client_id": "x", "submit_kinds": ["extf"]})
    assert set(only_extf) == clients | {"datev:accounting:extf-files-import"}
    only_dxso = login_scopes({"client_id": "x", "submit_kinds": ["dxso"]})
    assert set(only_dxso) == clients | {"accounting:dxso-jobs"}


def test_token_entry_per_environment_and_client() -> None:
    assert settings.token_entry_name({"client_id": "abc"}) == "datev-tokens-production-abc"


def test_discovery_needs_no_token_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML_CONNECTOR_CREDENTIALS_KEY", raising=False)
    state = tmp_path / "state"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"client_id": "ml-connector-demo", "state_dir": str(state)}))
    done = subprocess.run(
        [*TAP, "--discover", "--config", str(config)], capture_output=True, text=True, check=True, timeout=60
    )
    catalog = json.loads(done.stdout)
    names = {entry["tap_stream_id"] for entry in catalog["streams"]}
    assert {"clients", "document_types"} <= names
    keys = {e["tap_stream_id"]: e.get("key_properties") for e in catalog["streams"]}
    assert keys["clients"] == ["id"]
    assert keys["document_types"] == ["client_id", "name"]
    assert not state.exists()  # nothing written, no store opened


def test_about_json_lists_settings_with_secret_marked() -> None:
    done = subprocess.run([*TAP, "--about", "--format", "json"], capture_output=True, text=True, check=True)
    about = json.loads(done.stdout)
    assert about["name"] == "tap-datev"
    props = about["settings"]["properties"]
    for key in (
        "environment",
        "base_url",
        "client_id",
        "client_secret",
        "client_auth",
        "redirect_uri",
        "state_dir",
        "credentials_path",
        "credentials_key_env",
        "client_ids",
        "submit_kinds",
        "gl_accounts",
        "gl_account_files",
        "business_partner_files",
        "start_date",
        "backoff_base_seconds",
        "backoff_max_seconds",
        "backoff_budget_seconds",
        "request_timeout_seconds",
    ):
        assert props[key].get("description"), key
    assert props["client_secret"].get("secret") is True
    assert props["client_auth"]["default"] == "none"
    assert about["settings"]["required"] == ["client_id"]


def test_login_help_and_subcommand_dispatch() -> None:
    done = subprocess.run([*TAP, "login", "--help"], capture_output=True, text=True, check=True)
    assert "PKCE" in done.stdout and "--config" in done.stdout
    singer = subprocess.run([*TAP, "--help"], capture_output=True, text=True, check=True)
    assert "--discover" in singer.stdout and "tap-datev login" in singer.stdout
    runner = CliRunner()
    listed = runner.invoke(commands, ["--help"])
    assert {"login", "logout", "submit"} <= set(listed.output.split())


def test_meltano_invoke_order_reaches_the_subcommand() -> None:
    assert subcommand_first(["--config", "m.json", "login"]) == ["login", "--config", "m.json"]
    assert subcommand_first(["--config=a", "--config", "b", "submit", "extf", "F"]) == [
        "submit",
        "extf",
        "--config=a",
        "--config",
        "b",
        "F",
    ]
    assert subcommand_first(["--config", "m.json", "--discover"]) == ["--config", "m.json", "--discover"]
    assert subcommand_first(["login", "--help"]) == ["login", "--help"]


def test_subcommand_config_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"environment": "moon"}))
    result = CliRunner().invoke(commands, ["logout", "--config", str(bad)])
    assert result.exit_code != 0
    assert "Invalid tap-datev config" in result.output


def test_local_needs_base_url(tmp_path: Path) -> None:
    config = tmp_path / "local.json"
    config.write_text(json.dumps({"environment": "local", "client_id": "x"}))
    result = CliRunner().invoke(commands, ["login", "--config", str(config)])
    assert result.exit_code != 0
    assert "'base_url' is a required property" in result.output


def test_subcommand_reads_env_when_no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_credentials import generate_key

    monkeypatch.setenv("TAP_DATEV_CLIENT_ID", "from-env")
    monkeypatch.setenv("TAP_DATEV_STATE_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("ML_CONNECTOR_CREDENTIALS_KEY", generate_key())
    result = CliRunner().invoke(commands, ["logout"])
    assert result.exit_code == 0, result.output
    assert "datev-tokens-production-from-env" in result.output


def test_tap_constructs_without_store(tmp_path: Path) -> None:
    tap = TapDatev(config={"client_id": "x", "state_dir": str(tmp_path / "nothing")})
    assert {"clients", "document_types"} <= set(tap.streams)
    assert tap._datev_client is None


def test_sync_without_login_ends_with_the_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_credentials import generate_key

    monkeypatch.setenv("ML_CONNECTOR_CREDENTIALS_KEY", generate_key())
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "client_id": "ml-connector-demo",
                "environment": "local",
                "base_url": "http://127.0.0.1:9",
                "state_dir": str(tmp_path / "state"),
            }
        )
    )
    done = subprocess.run(
        [*TAP, "--config", str(config)], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Not logged in to DATEV yet" in done.stderr and "tap-datev:login" in done.stderr
    assert "Traceback" not in done.stderr
    assert '"type":"RECORD"' not in done.stdout


def test_a_held_ledger_ends_the_singer_command_with_the_advice(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import types

    from tap_datev import cli
    from tap_datev.ledger import LedgerError

    def busy(**_: object) -> None:
        raise LedgerError("Another tap-datev process (a submit or a sync) holds ledger.lock")

    class Busy:  # the Singer command, stopped by a submit holding the ledger
        logger = logging.getLogger("tap-datev")
        cli = types.SimpleNamespace(main=busy)

    monkeypatch.setattr(cli, "TapDatev", Busy)
    with pytest.raises(SystemExit) as done:
        cli.main(["--config", "config.json"])
    assert done.value.code == 1
    assert "holds ledger.lock" in caplog.text

"""Settings → URLs and scopes, offline discovery, and the CLI dispatch (no DATEV needed)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import typing as t
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


@pytest.mark.parametrize("value", ["yesterday", "2025-02-30", "2025-01-01T00:00:00Z", "20250101"])
def test_start_date_is_validated_when_the_config_is_read(value: str) -> None:
    from singer_sdk.exceptions import ConfigValidationError

    with pytest.raises(ConfigValidationError) as error:
        TapDatev(config={"client_id": "x", "start_date": value})
    assert error.value.errors == [f"start_date must be a date as YYYY-MM-DD (e.g. 2025-01-01), not {value!r}"]
    accepted = TapDatev(config={"client_id": "x", "start_date": "2025-01-31"})
    assert accepted.config["start_date"] == "2025-01-31"


def test_start_date_is_refused_by_the_subcommands_too(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"client_id": "x", "start_date": "yesterday"}))
    result = CliRunner().invoke(commands, ["logout", "--config", str(config)])
    assert result.exit_code == 1
    assert "start_date must be a date as YYYY-MM-DD" in result.output


def test_start_date_has_the_same_type_in_meltano_yml_and_the_plugin() -> None:
    import yaml

    project = yaml.safe_load((Path(__file__).resolve().parents[3] / "meltano.yml").read_text())
    (tap,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-datev"]
    (setting,) = [s for s in tap["settings"] if s["name"] == "start_date"]
    # Meltano's date kind is date_iso8601 (it has no date-time kind); the plugin's is format date.
    assert setting["kind"] == "date_iso8601"
    assert TapDatev.config_jsonschema["properties"]["start_date"]["format"] == "date"


def test_meltano_invoke_order_with_catalog_and_state_reaches_the_subcommand() -> None:
    """After a `meltano run`, `meltano invoke tap-datev …` also passes --catalog and --state."""
    files = ["--config", "c.json", "--catalog", "tap.properties.json", "--state", "state.json"]
    assert subcommand_first([*files, "logout"]) == ["logout", "--config", "c.json"]
    assert subcommand_first([*files, "submit", "extf", "--force", "F"]) == [
        "submit",
        "extf",
        "--config",
        "c.json",
        "--force",
        "F",
    ]
    assert subcommand_first([*files, "submit", "--help"]) == ["submit", "--help"]
    assert subcommand_first(["--config=c.json", "--state=s.json", "login"]) == ["login", "--config=c.json"]
    assert subcommand_first(files) == files  # the Singer command keeps everything


def test_submit_help_after_meltanos_options_is_the_submit_help() -> None:
    args = ["--config", "c.json", "--catalog", "p.json", "--state", "s.json", "submit", "--help"]
    done = subprocess.run([*TAP, *args], capture_output=True, text=True, check=True, timeout=60)
    assert "Submit EXTF batches" in done.stdout
    assert "--discover" not in done.stdout


def _unreachable_cases(emulator_url: str) -> list[tuple[str, str]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    discovery = "/openid/.well-known/openid-configuration"
    return [
        (dead, dead + discovery),  # connection refused
        ("http://datev-emulator.invalid", "http://datev-emulator.invalid" + discovery),  # DNS
        (emulator_url + "/not-datev", emulator_url + "/not-datev" + discovery),  # wrong base_url: 404
    ]


def test_a_run_that_cannot_reach_datev_ends_at_once_with_one_error_naming_the_url(
    logged_in_config: dict[str, t.Any], datev_emulator: t.Any, tmp_path: Path
) -> None:
    """First contact: no backoff (the default budget is 900 s), one ERROR line, no traceback,
    and no record, although gl_accounts could be read without DATEV."""
    for base_url, named in _unreachable_cases(datev_emulator.url):
        config = {
            **logged_in_config,
            "base_url": base_url,
            "backoff_base_seconds": 5,
            "backoff_budget_seconds": 900,
            "gl_accounts": [{"client_id": "29098-55003", "account_number": "1200", "label": "Bank"}],
        }
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        done = subprocess.run(
            [*TAP, "--config", str(path)], check=False, capture_output=True, text=True, timeout=120
        )
        errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
        assert done.returncode == 1, done.stderr[-2000:]
        assert len(errors) == 1, done.stderr[-2000:]
        assert named in errors[0]
        assert "Traceback" not in done.stderr
        assert "retry" not in done.stderr
        assert '"type":"RECORD"' not in done.stdout.replace(" ", "")

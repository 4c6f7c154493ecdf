"""Settings → databricks-sdk Config: host/warehouse resolution, auth types, the credential store."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_credentials.store import CredentialStore, generate_key
from target_databricks.engines.base import EngineError
from target_databricks.engines.workspace_auth import (
    build_config,
    config_kwargs,
    resolve_host,
    warehouse_id,
)


@pytest.fixture(autouse=True)
def _no_databricks_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HOST", "TOKEN", "CLIENT_ID", "CLIENT_SECRET", "AUTH_TYPE", "CONFIG_PROFILE"):
        monkeypatch.delenv(f"DATABRICKS_{name}", raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))


def test_host_and_warehouse_resolution() -> None:
    assert (
        resolve_host({"server_hostname": "adb-1.2.azuredatabricks.net"})
        == "https://adb-1.2.azuredatabricks.net"
    )
    assert resolve_host({"host": "http://127.0.0.1:5000/"}) == "http://127.0.0.1:5000"
    assert warehouse_id({"http_path": "/sql/1.0/warehouses/abc123"}) == "abc123"
    assert warehouse_id({"warehouse_id": "w1", "http_path": "/sql/1.0/warehouses/abc"}) == "w1"
    with pytest.raises(EngineError, match="not a SQL warehouse path"):
        warehouse_id({"http_path": "/sql/protocolv1/o/1/cluster"})
    with pytest.raises(EngineError, match="No SQL warehouse configured"):
        warehouse_id({})


def test_explicit_auth_type_takes_only_its_credentials() -> None:
    settings = {
        "host": "h.example",
        "auth_type": "pat",
        "token": "t0k",
        "client_id": "c",
        "client_secret": "s",
    }
    assert config_kwargs(settings) == {"host": "https://h.example", "auth_type": "pat", "token": "t0k"}
    m2m = {**settings, "auth_type": "oauth-m2m"}
    assert config_kwargs(m2m) == {
        "host": "https://h.example",
        "auth_type": "oauth-m2m",
        "client_id": "c",
        "client_secret": "s",
    }


def test_missing_secret_names_the_fix_without_values() -> None:
    with pytest.raises(EngineError, match="needs client_secret") as info:
        config_kwargs({"host": "h", "auth_type": "oauth-m2m", "client_id": "my-sp"})
    assert "my-sp" not in str(info.value)
    with pytest.raises(EngineError, match="not supported"):
        config_kwargs({"host": "h", "auth_type": "basic"})


def test_secret_from_the_credential_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv("MY_KEY", key)
    store = CredentialStore(tmp_path / "creds", key)
    store.put("dbx", {"client_secret": "stored-secret", "token": "stored-token"})
    settings = {
        "host": "https://h.example",
        "auth_type": "oauth-m2m",
        "client_id": "sp",
        "credentials_path": str(tmp_path / "creds"),
        "credentials_key_env": "MY_KEY",
        "credentials_entry": "dbx",
    }
    assert config_kwargs(settings)["client_secret"] == "stored-secret"
    # An inline value wins over the store.
    assert config_kwargs({**settings, "client_secret": "inline"})["client_secret"] == "inline"
    with pytest.raises(EngineError, match="has no entry 'other'"):
        config_kwargs({**settings, "credentials_entry": "other"})
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(EngineError, match="MY_KEY"):
        config_kwargs(settings)


def test_pat_config_and_sdk_error_hides_the_secret() -> None:
    # Port 1 refuses at once; a 1 s retry budget keeps the SDK's host-metadata probe short.
    offline = {"host": "http://127.0.0.1:1", "retry_timeout_seconds": 1, "http_timeout_seconds": 1}
    cfg = build_config({**offline, "auth_type": "pat", "token": "dapi-secret-value"})
    assert cfg.auth_type == "pat"
    assert cfg.authenticate()["Authorization"] == "Bearer dapi-secret-value"
    # No credentials at all: the SDK's default chain finds nothing; the message names the fix.
    with pytest.raises(EngineError, match="Cannot authenticate to Databricks") as info:
        build_config(offline)
    assert "dapi-secret-value" not in str(info.value)

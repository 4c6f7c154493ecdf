"""Pre-flight and authentication of the workspace engine against the Databricks emulator."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from databricks.sdk.errors import NotFound
from databricks.sdk.service.sql import State
from workspace_testlib import PAT, SP_SECRET, batch, settings, spec, staged_load

from databricks_emulator.server import RunningEmulator
from ml_credentials.store import CredentialStore, generate_key
from target_databricks.engines.base import EngineError
from target_databricks.engines.workspace import WorkspaceEngine


def test_no_metastore_names_the_fix(emulator: RunningEmulator) -> None:
    emulator.control.set_metastore(False)
    with pytest.raises(
        EngineError, match="Unity Catalog is not enabled for this workspace: assign a metastore"
    ):
        WorkspaceEngine(settings(emulator)).preflight()


def test_missing_catalog_is_created_only_when_allowed(emulator: RunningEmulator) -> None:
    cfg = settings(emulator, catalog="finance")
    refused = WorkspaceEngine(cfg)
    with pytest.raises(EngineError, match=r"Catalog 'finance' does not exist.*create_catalog: true") as info:
        refused.preflight()
    assert "CREATE CATALOG privilege" in str(info.value)
    with pytest.raises(NotFound):
        refused.client.catalogs.get("finance")  # nothing was created

    allowed = WorkspaceEngine({**cfg, "create_catalog": True})
    allowed.preflight()
    w = allowed.client
    assert w.catalogs.get("finance").name == "finance"
    assert w.schemas.get("finance.datev").name == "datev"
    assert w.volumes.read("finance.datev._ml_connector_staging").name == "_ml_connector_staging"
    allowed.preflight()  # a second pre-flight finds everything in place


def test_preflight_creates_through_unity_catalog_without_statements(emulator: RunningEmulator) -> None:
    emulator.control.reset_counters()
    eng = WorkspaceEngine(settings(emulator, schema="fresh"))
    eng.preflight()
    assert emulator.control.sql_statements() == []
    assert emulator.control.count("uc.schemas") == 1 and emulator.control.count("uc.volumes") == 1
    # Statements see what REST made: a table in the schema, a file in the volume.
    eng.execute("CREATE TABLE `main`.`fresh`.`t` (id BIGINT) USING DELTA")
    assert eng.client.tables.get("main.fresh.t").schema_name == "fresh"
    assert eng.client.volumes.read("main.fresh._ml_connector_staging").volume_type is not None


@pytest.mark.parametrize(
    ("privilege", "fix"),
    [
        ("CREATE_SCHEMA", "schema main.fresh: grant the principal CREATE SCHEMA on catalog main"),
        ("CREATE_VOLUME", "grant the principal CREATE VOLUME on schema main.fresh"),
    ],
)
def test_missing_privilege_names_the_grant(emulator: RunningEmulator, privilege: str, fix: str) -> None:
    emulator.control.deny(privilege)
    with pytest.raises(EngineError) as info:
        WorkspaceEngine(settings(emulator, schema="fresh")).preflight()
    message = str(info.value)
    assert fix in message and "PERMISSION_DENIED" in message and "\n" not in message


def test_stopped_warehouse_is_started_and_waited_for(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.control.set_warehouse_state("STOPPED")
    eng = WorkspaceEngine(settings(emulator))
    with caplog.at_level(logging.INFO, logger="target_databricks"):
        eng.preflight()
    assert eng.client.warehouses.get("emulator-warehouse").state == State.RUNNING
    assert emulator.control.count("warehouses.start") >= 1
    assert "emulator-warehouse is STOPPED: starting it and waiting up to 600 s" in caplog.text
    assert "is RUNNING after" in caplog.text


def test_warehouse_start_wait_is_bounded(emulator: RunningEmulator) -> None:
    emulator.control.warehouse_start_polls = 10**9  # never becomes RUNNING
    emulator.control.set_warehouse_state("STOPPED")
    eng = WorkspaceEngine(settings(emulator, warehouse_start_timeout_seconds=0.5))
    started = time.monotonic()
    with pytest.raises(
        EngineError, match=r"still STARTING after 0.5 s.*raise warehouse_start_timeout_seconds"
    ):
        eng.preflight()
    assert time.monotonic() - started < 5


def _load_one(eng: WorkspaceEngine, load_id: str) -> int:
    table = spec()
    eng.ensure_table(table)
    return eng.apply(staged_load(eng, table, load_id, batch(table, load_id, [(1, "a", "1.00")]))).rows


def test_oauth_m2m_renews_short_lived_tokens(emulator: RunningEmulator) -> None:
    # Tokens that live 1 s: the SDK must fetch fresh ones itself while the engine keeps working.
    emulator.control.set_token_lifetime(1)
    eng = WorkspaceEngine(settings(emulator))
    eng.preflight()
    before = emulator.control.count("token")
    time.sleep(1.1)
    assert _load_one(eng, "oauth-load") == 1
    assert emulator.control.count("token") > before
    assert eng.client.config.auth_type == "oauth-m2m"


def test_pat(emulator: RunningEmulator) -> None:
    cfg = settings(emulator, auth_type="pat", token=PAT, client_id=None, client_secret=None)
    eng = WorkspaceEngine(cfg)
    eng.preflight()
    assert _load_one(eng, "pat-load") == 1
    assert emulator.control.count("token") == 0  # no OAuth involved


def test_secret_from_the_credential_store(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key()
    monkeypatch.setenv("ML_CONNECTOR_CREDENTIALS_KEY", key)
    CredentialStore(tmp_path / "store", key).put("databricks", {"client_secret": SP_SECRET})
    eng = WorkspaceEngine(settings(emulator, client_secret=None, credentials_path=str(tmp_path / "store")))
    eng.preflight()
    assert _load_one(eng, "store-load") == 1


def test_sdk_environment_variables(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_HOST", emulator.url)
    monkeypatch.setenv("DATABRICKS_CLIENT_ID", "ml-connector-sp")
    monkeypatch.setenv("DATABRICKS_CLIENT_SECRET", SP_SECRET)
    cfg = settings(emulator, host=None, auth_type=None, client_id=None, client_secret=None)
    eng = WorkspaceEngine(cfg)
    eng.preflight()
    assert eng.client.config.auth_type == "oauth-m2m"


@pytest.mark.parametrize(
    "overrides",
    [{"client_secret": "wrong-secret-1234"}, {"auth_type": "pat", "token": "dapi-wrong-secret-1234"}],
)
def test_rejected_credentials_name_the_fix_not_the_secret(
    emulator: RunningEmulator, overrides: dict[str, str]
) -> None:
    eng = WorkspaceEngine(settings(emulator, retry_timeout_seconds=2, **overrides))
    with pytest.raises(EngineError, match="Databricks rejected the credentials") as info:
        eng.preflight()
    assert "wrong-secret-1234" not in str(info.value)


def test_config_profile(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "databrickscfg"
    config_file.write_text(f"[emulator]\nhost = {emulator.url}\ntoken = {PAT}\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(config_file))
    only_profile = {"host": None, "auth_type": None, "client_id": None, "client_secret": None}
    cfg = settings(emulator, **only_profile, profile="emulator")
    eng = WorkspaceEngine(cfg)
    eng.preflight()
    assert eng.client.config.auth_type == "pat"
    assert _load_one(eng, "profile-load") == 1

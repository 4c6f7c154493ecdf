"""Settings given inline or by environment variable win over the credential store, and the store is
opened only for what they do not give — in the shape of meltano.yml's `prod` environment
(engine workspace, host, http_path, auth_type oauth-m2m, client_id, catalog, schema,
credentials_path; the secret comes from the store or from TARGET_DATABRICKS_CLIENT_SECRET)."""

from __future__ import annotations

import io
import typing as t
from pathlib import Path

import pytest
from target_testlib import lines, record_msg, run, schema_msg
from workspace_testlib import SP_ID, SP_SECRET

from databricks_emulator.server import RunningEmulator
from databricks_emulator.warehouses import DEFAULT_WAREHOUSE_ID
from ml_credentials.store import DEFAULT_KEY_ENV, CredentialStore, generate_key
from target_databricks.engines.base import EngineError, TableRef
from target_databricks.engines.workspace import WorkspaceEngine
from target_databricks.target import TargetDatabricks

PROPS = {"id": {"type": "integer"}}


@pytest.fixture(autouse=True)
def _no_databricks_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HOST", "TOKEN", "CLIENT_ID", "CLIENT_SECRET", "AUTH_TYPE", "CONFIG_PROFILE"):
        monkeypatch.delenv(f"DATABRICKS_{name}", raising=False)
    monkeypatch.delenv("TARGET_DATABRICKS_CLIENT_SECRET", raising=False)
    monkeypatch.delenv(DEFAULT_KEY_ENV, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))


def _prod(emu: RunningEmulator, state_dir: Path) -> dict[str, t.Any]:
    """meltano.yml's prod loader config, its ${...} filled in for the emulator."""
    return {
        "engine": "workspace",
        "host": emu.url,
        "http_path": f"/sql/1.0/warehouses/{DEFAULT_WAREHOUSE_ID}",
        "auth_type": "oauth-m2m",
        "client_id": SP_ID,
        "catalog": "main",
        "schema": "datev",
        "credentials_path": str(state_dir / "credentials"),
        "poll_interval_seconds": 0.05,
    }


def _store(state_dir: Path, secret: str) -> str:
    """A store holding `secret` for the default entry; returns its key (not exported)."""
    key = generate_key()
    CredentialStore(state_dir / "credentials", key).put("databricks", {"client_secret": secret})
    return key


def _load(cfg: dict[str, t.Any], n: int) -> list[int]:
    run(cfg, [schema_msg("t", PROPS, ["id"]), record_msg("t", {"id": n})])
    return _ids(cfg)


def _ids(cfg: dict[str, t.Any]) -> list[int]:
    table = WorkspaceEngine({**cfg, "client_secret": SP_SECRET}).read_table(TableRef("main", "datev", "t"))
    return sorted(table.column("id").to_pylist())


def test_an_inline_secret_is_used_and_the_store_is_not_opened(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    _store(tmp_path, "stale-secret")  # its key is not in the environment: opening it would fail
    assert _load({**_prod(emulator, tmp_path), "client_secret": SP_SECRET}, 1) == [1]


def test_a_secret_from_the_environment_wins_over_the_store(
    tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEFAULT_KEY_ENV, _store(tmp_path, "stale-secret"))  # readable, but stale
    monkeypatch.setenv("TARGET_DATABRICKS_CLIENT_SECRET", SP_SECRET)
    target = TargetDatabricks(config=_prod(emulator, tmp_path), parse_env_config=True)
    target.listen(io.StringIO(lines([schema_msg("t", PROPS, ["id"]), record_msg("t", {"id": 2})])))
    assert _ids(_prod(emulator, tmp_path)) == [2]


def test_the_store_is_read_for_what_is_not_given(
    tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEFAULT_KEY_ENV, _store(tmp_path, SP_SECRET))
    assert _load(_prod(emulator, tmp_path), 3) == [3]
    monkeypatch.delenv(DEFAULT_KEY_ENV)
    with pytest.raises(EngineError, match=DEFAULT_KEY_ENV):  # needed, so opened, and the key is missing
        WorkspaceEngine(_prod(emulator, tmp_path)).preflight()

"""The shared encrypted credential store: round trip, encryption at rest, atomicity, locking."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ml_credentials import CredentialStore, CredentialStoreError, generate_key
from ml_credentials.cli import main as cli_main


def test_round_trip_and_encrypted_at_rest(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "store", generate_key())
    store.put("datev-tokens", {"refresh_token": "rt-SECRET-123", "expires_at": 42})
    assert store.get("datev-tokens") == {"refresh_token": "rt-SECRET-123", "expires_at": 42}
    (entry,) = (tmp_path / "store").glob("*.fernet")
    assert b"rt-SECRET-123" not in entry.read_bytes()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert store.names() == ["datev-tokens"]
    assert store.delete("datev-tokens") is True
    assert store.get("datev-tokens") is None
    assert store.delete("datev-tokens") is False


def test_wrong_key_is_a_clear_error(tmp_path: Path) -> None:
    CredentialStore(tmp_path, generate_key()).put("x", {"a": 1})
    with pytest.raises(CredentialStoreError, match="does not match"):
        CredentialStore(tmp_path, generate_key()).get("x")


def test_missing_or_invalid_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOME_KEY_ENV", raising=False)
    with pytest.raises(CredentialStoreError, match="SOME_KEY_ENV"):
        CredentialStore.from_env(tmp_path, "SOME_KEY_ENV")
    with pytest.raises(CredentialStoreError, match="ml-credentials keygen"):
        CredentialStore(tmp_path, "not-a-key")


def test_names_cannot_escape_the_directory(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "s", generate_key())
    for bad in ("../evil", "a/b", "", ".hidden"):
        with pytest.raises(CredentialStoreError, match="Invalid credential name"):
            store.put(bad, {"a": 1})


def test_repr_never_shows_the_key(tmp_path: Path) -> None:
    key = generate_key()
    assert key not in repr(CredentialStore(tmp_path, key))


def _increment(path: str, key: str, rounds: int) -> None:
    store = CredentialStore(path, key)
    for _ in range(rounds):
        with store.locked("counter"):
            value = (store.get("counter") or {"n": 0})["n"]
            time.sleep(0.001)  # widen the race window a lock must close
            store.put("counter", {"n": value + 1})


def test_lock_serialises_read_modify_write_across_processes(tmp_path: Path) -> None:
    key = generate_key()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_increment, args=(str(tmp_path), key, 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    assert CredentialStore(tmp_path, key).get("counter") == {"n": 100}


def test_cli_set_reads_stdin_and_never_prints_the_secret(tmp_path: Path) -> None:
    key = generate_key()
    env = {"ML_CONNECTOR_CREDENTIALS_KEY": key}
    runner = CliRunner()
    result = runner.invoke(
        cli_main,
        ["set", "--store", str(tmp_path), "databricks", "client_secret"],
        input="s3cr3t-value\n",
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "s3cr3t-value" not in result.output
    assert CredentialStore(tmp_path, key).get("databricks") == {"client_secret": "s3cr3t-value"}
    listed = runner.invoke(cli_main, ["list", "--store", str(tmp_path)], env=env)
    assert listed.output.strip() == "databricks: client_secret"
    keygen = runner.invoke(cli_main, ["keygen"])
    CredentialStore(tmp_path, keygen.output.strip())  # a valid key


def test_put_is_atomic_no_temp_files_left(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path, generate_key())
    for i in range(5):
        store.put("x", {"i": i})
    assert sorted(os.listdir(tmp_path)) == ["x.fernet"]

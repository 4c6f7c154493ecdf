"""Fixtures for the Meltano project tests: a DATEV emulator on 127.0.0.1, port 0."""

from __future__ import annotations

import os
import shutil
import sys
import typing as t
from pathlib import Path

import pytest

if t.TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def datev_emulator(tmp_path: Path) -> Iterator[t.Any]:
    """A running DATEV emulator on a fresh data directory (demo dataset)."""
    from datev_emulator.server import start

    data_dir = tmp_path / "datev-emulator"
    data_dir.mkdir()
    emulator = start(data_dir, host="127.0.0.1", port=0)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def demo_project(tmp_path: Path, datev_emulator: t.Any) -> Path:
    """A copy of this project (meltano.yml, the venv, the demo's files) logged in to the emulator,
    laid out as the scheduling recipes expect: its .env holds what the demo environment reads."""
    from meltano_testlib import BIN, KEY_ENV, REPO, clean_env, login

    from ml_credentials import generate_key

    sys.path.insert(0, str(REPO / "scripts"))
    import demo_data

    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "meltano.yml", project / "meltano.yml")
    (project / ".venv").symlink_to(BIN.parent)
    # The job ends with dbt:build: the marts' project and dbt's own virtualenv, as `make install` made them.
    (project / "transform").symlink_to(REPO / "transform")
    (project / ".venv-dbt").symlink_to(REPO / ".venv-dbt")
    demo_data.write_all(project / ".demo" / "files")
    dotenv = {"DATEV_EMULATOR_URL": datev_emulator.url, KEY_ENV: generate_key()}
    (project / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()), encoding="utf-8")
    (project / ".env").chmod(0o600)
    env = clean_env(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", **dotenv)
    login(project, "--environment", "demo", env=env)
    # The demo environment reads the booked ledger: its export jobs finish as quickly as in `make demo`.
    datev_emulator.control.set_job_delays(ade_seconds=0.5)
    return project

"""The Databricks emulator (in-process, 127.0.0.1, port 0) and a workspace engine pointed at it."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator, start
from target_databricks.engines.workspace import WorkspaceEngine


@pytest.fixture
def emulator(tmp_path: Path) -> t.Iterator[RunningEmulator]:
    with start(tmp_path / "databricks") as emu:
        yield emu


@pytest.fixture
def engine(emulator: RunningEmulator) -> t.Iterator[WorkspaceEngine]:
    eng = WorkspaceEngine(settings(emulator))
    eng.preflight()
    yield eng
    eng.close()

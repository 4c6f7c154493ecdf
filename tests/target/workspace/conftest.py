"""The Databricks emulator (in-process, 127.0.0.1, port 0) and a workspace engine pointed at it."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

import pytest
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator, start
from target_databricks.engines.workspace import WorkspaceEngine

# tests/target holds the local engine's checked standard suite and target_testlib, reused here.
_TARGET_TESTS = str(Path(__file__).resolve().parents[1])
if _TARGET_TESTS not in sys.path:
    sys.path.append(_TARGET_TESTS)


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

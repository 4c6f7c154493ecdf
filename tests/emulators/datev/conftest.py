"""Fixtures for the DATEV emulator tests: a running emulator per test and a login helper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from datev_emu_helpers import Flow

from datev_emulator.server import RunningEmulator, start


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    with start(tmp_path / "datev") as running:
        yield running


@pytest.fixture
def flow(emulator: RunningEmulator) -> Flow:
    return Flow(emulator)


@pytest.fixture
def tokens(flow: Flow) -> dict[str, Any]:
    return flow.login()

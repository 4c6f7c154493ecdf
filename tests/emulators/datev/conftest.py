"""Fixtures for the DATEV emulator tests: a running emulator per test and a login helper."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from datev_emu_helpers import Flow

from datev_emulator.seed import FILLER_CONSULTANT
from datev_emulator.server import RunningEmulator, build_context, start


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded data dir (demo data and RSA key) per session; each test gets its own copy."""
    template = tmp_path_factory.mktemp("datev-template")
    build_context(template)
    return template


@pytest.fixture
def emulator(tmp_path: Path, seeded_template: Path) -> Iterator[RunningEmulator]:
    data_dir = tmp_path / "datev"
    shutil.copytree(seeded_template, data_dir)
    with start(data_dir) as running:
        yield running


@pytest.fixture
def filler_clients(emulator: RunningEmulator) -> list[str]:
    """250 plain clients of consultant 29099 besides the demo's three: 253, three pages of 100."""
    return emulator.control.add_clients(250, consultant_number=FILLER_CONSULTANT)


@pytest.fixture
def flow(emulator: RunningEmulator) -> Flow:
    return Flow(emulator)


@pytest.fixture
def tokens(flow: Flow) -> dict[str, Any]:
    return flow.login()

"""Fixtures for the Meltano project tests: a DATEV emulator on 127.0.0.1, port 0."""

from __future__ import annotations

import typing as t

import pytest

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


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

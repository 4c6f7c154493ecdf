"""Fixtures: an emulator per test (port 0, tmp data dir) and databricks-sdk clients against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient

from databricks_emulator.auth import PERSONAL_ACCESS_TOKEN, SERVICE_PRINCIPAL_ID, SERVICE_PRINCIPAL_SECRET
from databricks_emulator.server import RunningEmulator, start


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    with start(tmp_path / "databricks") as running:
        yield running


@pytest.fixture
def sp_client(emulator: RunningEmulator) -> WorkspaceClient:
    return WorkspaceClient(
        host=emulator.url,
        client_id=SERVICE_PRINCIPAL_ID,
        client_secret=SERVICE_PRINCIPAL_SECRET,
        auth_type="oauth-m2m",
    )


@pytest.fixture
def pat_client(emulator: RunningEmulator) -> WorkspaceClient:
    return WorkspaceClient(host=emulator.url, token=PERSONAL_ACCESS_TOKEN, auth_type="pat")

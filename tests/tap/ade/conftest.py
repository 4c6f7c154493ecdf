"""Fixtures for the Accounting Data Exchange streams: a logged-in config with `ade_enabled`, jobs that
complete quickly on the emulator clock, and tap → target runs read back from the local Delta tables."""

from __future__ import annotations

import io
import json
import typing as t
from urllib.parse import urlsplit

import pytest
from booking.conftest import RequestLog
from deltalake import DeltaTable

from tap_datev import client as client_module
from target_databricks.target import TargetDatabricks

if t.TYPE_CHECKING:
    from pathlib import Path

ADE_STREAMS = (
    "fiscal_years",
    "accounting_sequences",
    "general_ledger_accounts",
    "sums_and_balances",
    "terms_of_payment",
    "account_postings",
)
CLIENT = "29098-55003"


@pytest.fixture
def ade_config(tap_config: dict[str, t.Any], consent: t.Any, datev_emulator: t.Any) -> dict[str, t.Any]:
    """Logged in with ade_enabled (so the login asked for datev:accounting:exchange), one client."""
    from tap_datev.login import login

    config = {**tap_config, "ade_enabled": True, "client_ids": [CLIENT]}
    login(config, open_url=consent)
    datev_emulator.control.set_job_delays(ade_seconds=0.2)
    return config


class Lake:
    """target-databricks' local engine in a temporary directory; tables read back as Python rows."""

    def __init__(self, root: Path, hard_delete: bool = False) -> None:
        self.root = root
        self.config = {
            "local_path": str(root),
            "catalog": "main",
            "schema": "datev",
            "hard_delete": hard_delete,
        }

    def land(self, messages: list[dict[str, t.Any]]) -> None:
        text = "".join(json.dumps(m) + "\n" for m in messages)
        TargetDatabricks(config=self.config).listen(io.StringIO(text))

    def rows(self, table: str, *, deleted: bool = False) -> list[dict[str, t.Any]]:
        """The table's rows; without `deleted`, those not soft-deleted."""
        data = DeltaTable(str(self.root / "main" / "datev" / table)).to_pyarrow_table().to_pylist()
        return [r for r in data if deleted or r.get("_sdc_deleted_at") is None]


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def request_log(monkeypatch: pytest.MonkeyPatch) -> RequestLog:
    """Every request the tap's DatevClient sends: (method, path), in order."""
    log = RequestLog()
    original = client_module.DatevClient.send

    def send(self: t.Any, request: t.Any, **kwargs: t.Any) -> t.Any:
        log.calls.append((request.method.upper(), urlsplit(request.url).path))
        return original(self, request, **kwargs)

    monkeypatch.setattr(client_module.DatevClient, "send", send)
    return log

"""Fixtures for the tap's tests: a DATEV emulator, a config pointing at it, and a logged-in config.

Everything runs on 127.0.0.1 with port 0; nothing leaves the machine.
"""

from __future__ import annotations

import typing as t

import pytest
import requests

from ml_credentials import generate_key

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

KEY_ENV = "ML_CONNECTOR_CREDENTIALS_KEY"
DEMO_CLIENT_IDS = ("29098-55003", "29098-55004", "29098-55005")
CONFIDENTIAL_CLIENT = "ml-connector-confidential"
CONFIDENTIAL_SECRET = "emulator-secret-not-for-production"


def consent_in_browser(url: str) -> None:
    """What a browser does for the emulator's test user: GET the authorization URL, follow the
    302 to the redirect URI (the tap's loopback listener)."""
    response = requests.get(url, allow_redirects=True, timeout=30)
    response.raise_for_status()


@pytest.fixture
def datev_emulator(tmp_path: Path) -> Iterator[t.Any]:
    """A running DATEV emulator on a fresh data directory (demo dataset)."""
    server = pytest.importorskip("datev_emulator.server")
    data_dir = tmp_path / "datev-emulator"
    data_dir.mkdir()
    emulator = server.start(data_dir, host="127.0.0.1", port=0)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def filler_clients(datev_emulator: t.Any) -> list[str]:
    """250 plain clients of consultant 29099 (Buchungsdatenservice only) besides the three demo
    clients: 253 in all, three pages of skip/top=100. The first is 29099-10001."""
    from datev_emulator.seed import FILLER_CONSULTANT

    ids: list[str] = datev_emulator.control.add_clients(250, consultant_number=FILLER_CONSULTANT)
    return ids


@pytest.fixture
def tap_config(datev_emulator: t.Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, t.Any]:
    """Config for `environment: local` against the emulator, with a fresh credential store key."""
    monkeypatch.setenv(KEY_ENV, generate_key())
    return {
        "environment": "local",
        "base_url": datev_emulator.url,
        "client_id": "ml-connector-demo",
        "client_auth": "none",
        "redirect_uri": "http://127.0.0.1:0/callback",
        "state_dir": str(tmp_path / "state"),
        "credentials_key_env": KEY_ENV,
        # Tiny waits so retry tests stay fast.
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "backoff_budget_seconds": 5,
        "request_timeout_seconds": 10,
    }


@pytest.fixture
def logged_in_config(tap_config: dict[str, t.Any]) -> dict[str, t.Any]:
    """`tap_config` after a completed `tap-datev login` (tokens in the encrypted store)."""
    from tap_datev.login import login

    login(tap_config, open_url=consent_in_browser)
    return tap_config


class EmulatorControl:
    """The emulator's test switches, in one place: its clock and its fault board."""

    def __init__(self, emulator: t.Any) -> None:
        self.emulator = emulator

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock (token and code expiry) forward."""
        self.emulator.control.advance(seconds)

    def fault(self, **fault: t.Any) -> None:
        """Make the next matching requests fail: kind, status, count, retry_after, method, path_prefix."""
        self.emulator.control.arm_fault(**fault)


@pytest.fixture
def emulator_control(datev_emulator: t.Any) -> EmulatorControl:
    return EmulatorControl(datev_emulator)


@pytest.fixture
def consent() -> t.Callable[[str], None]:
    """`open_url` for login(): the emulator's test user consents without a browser."""
    return consent_in_browser

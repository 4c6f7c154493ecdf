"""singer-sdk's standard tap tests, run against the DATEV emulator with a logged-in config.

The SDK builds its test class (and discovers streams) at import time from a config dict, so the
dict starts as a discovery-only config and a class fixture fills in the emulator and the login
before the SDK's runner syncs.
"""

from __future__ import annotations

import os
import tempfile
import typing as t
from pathlib import Path

import pytest
import requests
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from ml_credentials import generate_key
from tap_datev.booking_streams import BOOKING_STREAMS
from tap_datev.login import login
from tap_datev.tap import TapDatev

if t.TYPE_CHECKING:
    from collections.abc import Iterator

KEY_ENV = "TAP_DATEV_SDK_TEST_STORE_KEY"

CONFIG: dict[str, t.Any] = {
    "environment": "local",
    "base_url": "http://127.0.0.1:9",  # replaced by the running emulator before any sync
    "client_id": "ml-connector-demo",
    "credentials_key_env": KEY_ENV,
    "client_ids": ["29098-55003", "29098-55004", "29098-55005", "29099-10001"],
    "redirect_uri": "http://127.0.0.1:0/callback",
    "backoff_base_seconds": 0.01,
    "backoff_max_seconds": 0.05,
}

_StandardTests = get_tap_test_class(
    TapDatev,
    config=CONFIG,
    suite_config=SuiteConfig(
        # Streams built from what the user submitted (C2's) have nothing in a fresh emulator.
        ignore_no_records_for_streams=[stream.name for stream in BOOKING_STREAMS],
    ),
)


class TestTapDatevStandard(_StandardTests):  # type: ignore[misc,valid-type]
    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _emulator_login(cls) -> Iterator[None]:
        from datev_emulator.server import start

        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) / "emulator"
            data_dir.mkdir()
            emulator = start(data_dir, host="127.0.0.1", port=0)
            os.environ[KEY_ENV] = generate_key()
            CONFIG.update(base_url=emulator.url, state_dir=str(Path(tmp) / "state"))
            try:
                login(CONFIG, open_url=lambda url: requests.get(url, timeout=30).raise_for_status())
                yield
            finally:
                emulator.stop()
                os.environ.pop(KEY_ENV, None)

"""singer-sdk's standard tap tests, run against the DATEV emulator with a logged-in config.

The SDK builds its test class (and discovers streams) at import time from a config dict, so the
dict starts as a discovery-only config and a class fixture fills in the emulator and the login
before the SDK's runner syncs. The fixture also submits a document, an EXTF Buchungsstapel and a
DXSO package and supplies GL labels and a Debitoren/Kreditoren file, so that every stream has
records for the SDK's per-stream checks.
"""

from __future__ import annotations

import os
import tempfile
import typing as t
from pathlib import Path

import pytest
import requests
from booking.factory import CLIENT_ID, DOCUMENT_XML, LEDGER_XML, buchungsstapel
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from ml_credentials import generate_key
from tap_datev.client import DatevClient
from tap_datev.ledger import Ledger
from tap_datev.login import login
from tap_datev.submit import submit_document, submit_dxso, submit_extf
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
    "gl_accounts": [{"client_id": CLIENT_ID, "account_number": "1200", "label": "Bank"}],
}
# A Debitoren/Kreditoren (category 16, version 5) file with one creditor; columns by position.
PARTNERS = (
    '"EXTF";700;16;"Debitoren/Kreditoren";5;20260401120000000;;"RE";"";"";29098;55003;20260101;4;;;'
    '"";"";;;;"";;"";;;"03";;;"";""\r\nKonto;Name (Adressattyp Unternehmen)\r\n70001;"Papier Müller KG"\r\n'
).encode("cp1252")


def _submit_one_of_each(config: dict[str, t.Any]) -> None:
    datev = DatevClient(config)
    with Ledger.open(config["state_dir"]) as ledger:
        submit_document(datev, ledger, CLIENT_ID, "Rechnung_4711.pdf", b"%PDF-1.4\n%%EOF\n")
        row = submit_extf(datev, ledger, "EXTF_Maerz_2026.csv", buchungsstapel())
        ledger.update(row.batch_id, next_poll_at=None)  # poll in the first sync, not after Retry-After
        package = [("document.xml", DOCUMENT_XML), ("Rechnung_4711.xml", LEDGER_XML)]
        submit_dxso(
            datev,
            ledger,
            CLIENT_ID,
            import_type="accountsPayableLedgerImport",
            month="2026-03",
            files=package,
        )


_StandardTests = get_tap_test_class(
    TapDatev,
    config=CONFIG,
    suite_config=SuiteConfig(ignore_no_records_for_streams=[]),
)


class TestTapDatevStandard(_StandardTests):  # type: ignore[misc,valid-type]
    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _emulator_login(cls) -> Iterator[None]:
        from datev_emulator.server import start

        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) / "emulator"
            data_dir.mkdir()
            emulator = start(data_dir, host="127.0.0.1", port=0, filler_clients=1)  # 29099-10001
            os.environ[KEY_ENV] = generate_key()
            partners = Path(tmp) / "EXTF_DebKred.csv"
            partners.write_bytes(PARTNERS)
            CONFIG.update(
                base_url=emulator.url,
                state_dir=str(Path(tmp) / "state"),
                business_partner_files=[str(partners)],
            )
            try:
                login(CONFIG, open_url=lambda url: requests.get(url, timeout=30).raise_for_status())
                _submit_one_of_each(CONFIG)
                emulator.control.advance(60)  # DATEV's side finishes both jobs
                yield
            finally:
                emulator.stop()
                os.environ.pop(KEY_ENV, None)

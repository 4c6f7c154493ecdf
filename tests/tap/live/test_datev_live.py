"""Opt-in: tap-datev against DATEV itself (DATEV's sandbox or production).

Runs only when TAP_DATEV_LIVE_CONFIG names a tap config file (environment `datev-sandbox` or
`production`) whose state_dir holds a token pair from `tap-datev login`, and the credential store
key variable it names is set. It only reads: clients and document_types (it submits nothing).
"""

from __future__ import annotations

import json
import os
import typing as t
from pathlib import Path

import pytest

from tap_datev.tap import TapDatev
from tap_datev.tokens import TokenStore

pytestmark = pytest.mark.live

_CONFIG = os.environ.get("TAP_DATEV_LIVE_CONFIG")
if not _CONFIG:
    pytest.skip("live DATEV test: set TAP_DATEV_LIVE_CONFIG (a logged-in config)", allow_module_level=True)


@pytest.fixture(scope="module")
def config() -> dict[str, t.Any]:
    value: dict[str, t.Any] = json.loads(Path(str(_CONFIG)).read_text(encoding="utf-8"))
    assert value.get("environment") in {"datev-sandbox", "production"}, "live tests talk to DATEV itself"
    assert TokenStore.from_config(value).load() is not None, "run `tap-datev login` first"
    return value


def test_clients_and_document_types(config: dict[str, t.Any], capsys: pytest.CaptureFixture[str]) -> None:
    tap = TapDatev(config=config)
    for name, stream in tap.streams.items():
        stream.selected = name in {"clients", "document_types"}
    capsys.readouterr()
    tap.sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    clients = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "clients"]
    assert clients, "DATEV returned no clients for this user"
    for client in clients:
        assert client["id"] == f"{client['consultant_number']}-{client['client_number']}"
    token = TokenStore.from_config(config).load()
    assert token is not None
    dumped = json.dumps(messages)
    assert token.access_token not in dumped
    assert token.refresh_token not in dumped

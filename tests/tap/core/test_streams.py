"""clients and document_types synced from the emulator through the tap, plus secret hygiene."""

from __future__ import annotations

import json
import logging
import os
import typing as t
from collections import defaultdict

import pytest
import requests

from tap_datev.login import login, logout
from tap_datev.tap import TapDatev
from tap_datev.tokens import TokenStore

CORE_STREAMS = ("clients", "document_types")


def _sync(config: dict[str, t.Any], capsys: pytest.CaptureFixture[str]) -> dict[str, list[dict[str, t.Any]]]:
    tap = TapDatev(config=config)
    for name, stream in tap.streams.items():
        stream.selected = name in CORE_STREAMS
    capsys.readouterr()
    tap.sync_all()
    records: dict[str, list[dict[str, t.Any]]] = defaultdict(list)
    for line in capsys.readouterr().out.splitlines():
        message = json.loads(line)
        if message["type"] == "RECORD":
            records[message["stream"]].append(message["record"])
    return records


@pytest.mark.usefixtures("filler_clients")
def test_clients_pages_to_the_end_with_basics(
    logged_in_config: dict[str, t.Any], capsys: pytest.CaptureFixture[str]
) -> None:
    records = _sync(logged_in_config, capsys)
    clients = {c["id"]: c for c in records["clients"]}
    assert len(records["clients"]) == len(clients) == 253  # three pages of skip/top=100
    lindner = clients["29098-55003"]
    assert lindner["name"] == "Lindner Maschinenbau GmbH"
    assert lindner["consultant_number"] == 29098 and lindner["client_number"] == 55003
    assert {s["name"] for s in lindner["services"]} >= {"Belegbilderservice", "Buchungsdatenservice"}
    assert lindner["account_length"] == 4 and lindner["datev_chart_of_accounts"] == 3
    assert [y["fiscal_year_start"] for y in lindner["fiscal_years"]] == [
        "2024-01-01",
        "2025-01-01",
        "2026-01-01",
    ]
    assert clients["29098-55004"]["fiscal_years"][0]["fiscal_year_start"] == "2024-07-01"

    types = records["document_types"]
    by_client: dict[str, set[str]] = defaultdict(set)
    for row in types:
        by_client[row["client_id"]].add(row["name"])
    # Only the three demo clients book the Belegbilderservice; the fillers are skipped.
    assert set(by_client) == {"29098-55003", "29098-55004", "29098-55005"}
    assert {"Rechnungseingang", "Bürobedarf"} <= by_client["29098-55003"]
    assert "Gutschrift Kunde" in by_client["29098-55004"]
    assert len(types) == len({(r["client_id"], r["name"]) for r in types})


@pytest.mark.usefixtures("filler_clients")
def test_client_ids_restrict_and_skips_are_logged(
    logged_in_config: dict[str, t.Any], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = {**logged_in_config, "client_ids": ["29098-55005", "29099-10001"]}
    with caplog.at_level(logging.INFO):
        records = _sync(config, capsys)
    assert sorted(c["id"] for c in records["clients"]) == ["29098-55005", "29099-10001"]
    assert {r["client_id"] for r in records["document_types"]} == {"29098-55005"}
    assert "Skipping client 29099-10001 for stream document_types" in caplog.text


def test_basics_stay_null_without_the_documents_scope(
    logged_in_config: dict[str, t.Any], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # As if DATEV granted fewer scopes than asked for.
    store = TokenStore.from_config(logged_in_config)
    pair = store.load()
    assert pair is not None
    narrowed = " ".join(s for s in pair.scope.split() if s != "accounting:clients:read")
    store.save(type(pair)(**{**pair.to_dict(), "scope": narrowed}))
    config = {**logged_in_config, "client_ids": ["29098-55003"]}
    with caplog.at_level(logging.INFO):
        records = _sync(config, capsys)
    (client,) = records["clients"]
    assert client["fiscal_years"] is None and client["account_length"] is None
    assert client["name"] == "Lindner Maschinenbau GmbH"
    assert "accounting:clients:read not granted" in caplog.text


def test_no_secret_reaches_logs_or_output(
    tap_config: dict[str, t.Any],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    emulator_control: t.Any,
) -> None:
    from tap_datev import settings

    config = {
        **tap_config,
        "client_id": "ml-connector-confidential",
        "client_auth": "basic",
        "client_secret": "emulator-secret-not-for-production",
        "client_ids": ["29098-55003"],
    }
    codes: list[str] = []

    def browser(url: str) -> None:
        # The browser is another process in real life: keep its own request logs out of the haystack.
        urllib3_logger = logging.getLogger("urllib3.connectionpool")
        urllib3_logger.disabled = True
        try:
            answer = requests.get(url, allow_redirects=False, timeout=10)
            location = answer.headers["Location"]
            codes.append(location.split("code=")[1].split("&")[0])
            requests.get(location, timeout=10)
        finally:
            urllib3_logger.disabled = False

    secrets: set[str] = {config["client_secret"]}
    with caplog.at_level(logging.DEBUG):
        login(config, open_url=browser)
        first = TokenStore.from_config(config).load()
        assert first is not None
        secrets |= {first.access_token, first.refresh_token}
        emulator_control.advance(1000)  # force a 401 → refresh inside the sync
        _sync(config, capsys)
        second = TokenStore.from_config(config).load()
        assert second is not None and second.refresh_token != first.refresh_token
        secrets |= {second.access_token, second.refresh_token}
        logout(config)
    out = capsys.readouterr()
    secrets |= set(codes)
    secrets.add(os.environ[settings.credentials_key_env(config)])  # the store key
    haystack = caplog.text + out.out + out.err
    assert "Refreshed the DATEV access token" in caplog.text
    for secret in secrets:
        where = haystack.find(secret)
        assert where < 0, haystack[max(0, where - 300) : where + 50]
        # Not even a recognisable chunk of it.
        assert secret[:16] not in haystack


@pytest.mark.usefixtures("filler_clients")
def test_a_4xx_ends_the_stream_with_datev_details(logged_in_config: dict[str, t.Any]) -> None:
    from tap_datev.errors import DatevAPIError

    tap = TapDatev(config=logged_in_config)
    stream = tap.streams["document_types"]
    # Unknown services (clients not synced first), so the tap asks and DATEV refuses.
    with pytest.raises(DatevAPIError) as error:
        list(stream.get_records({"client_id": "29099-10001"}))
    assert error.value.status == 403
    assert "has not booked the data service Belegbilderservice" in str(error.value)
    assert "/clients/29099-10001/document-types" in str(error.value)

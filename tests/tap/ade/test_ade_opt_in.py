"""The Accounting Data Exchange streams are opt-in: without `ade_enabled` the tap offers the same
streams and asks for the same scopes as before; with it, login asks for datev:accounting:exchange and
a login made before (without that scope) skips the streams with one line instead of failing."""

from __future__ import annotations

import logging
import typing as t

import pytest
from booking.conftest import run_tap

from tap_datev.login import login, login_scopes
from tap_datev.settings import ADE_SCOPE
from tap_datev.tap import TapDatev

from .conftest import ADE_STREAMS, CLIENT

BEFORE = {
    "clients",
    "document_types",
    "documents",
    "booking_batches",
    "booking_lines",
    "gl_accounts",
    "business_partners",
}


def _streams(config: dict[str, t.Any]) -> set[str]:
    catalog = TapDatev(config=config, validate_config=False).catalog_dict
    return {entry["tap_stream_id"] for entry in catalog["streams"]}


def test_without_the_setting_nothing_changes(tap_config: dict[str, t.Any]) -> None:
    assert _streams(tap_config) == BEFORE
    assert ADE_SCOPE not in login_scopes(tap_config)


def test_with_the_setting_the_streams_and_the_scope_come(tap_config: dict[str, t.Any]) -> None:
    config = {**tap_config, "ade_enabled": True}
    assert _streams(config) == BEFORE | set(ADE_STREAMS)
    assert ADE_SCOPE in login_scopes(config)


def test_a_login_without_the_scope_skips_the_streams(
    tap_config: dict[str, t.Any], consent: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    login(tap_config, open_url=consent)  # made before ade_enabled was set
    config = {**tap_config, "ade_enabled": True, "client_ids": [CLIENT]}
    with caplog.at_level(logging.INFO):
        run = run_tap(config, streams=ADE_STREAMS)
    assert not [m for m in run.messages if m["type"] == "RECORD"]
    skipped = [r.getMessage() for r in caplog.records if ADE_SCOPE in r.getMessage()]
    assert len(skipped) == len(ADE_STREAMS)
    assert all("log in again" in line for line in skipped)

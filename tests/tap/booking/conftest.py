"""Fixtures for the booking tests: a logged-in config with labels, a counting DATEV client, and
an in-process tap run that returns the Singer messages it wrote."""

from __future__ import annotations

import contextlib
import io
import json
import typing as t
from urllib.parse import urlsplit

import pytest

from tap_datev import client as client_module
from tap_datev.client import DatevClient
from tap_datev.ledger import Ledger

if t.TYPE_CHECKING:
    from pathlib import Path

BOOKING_STREAM_NAMES = ("documents", "booking_batches", "booking_lines", "gl_accounts", "business_partners")

GL_LABELS = [
    {"client_id": "29098-55003", "account_number": "1200", "label": "Bank"},
    {"client_id": "29098-55003", "account_number": "8400", "label": "Erlöse 19 % USt"},
    {"client_id": "29098-55003", "account_number": "4930", "label": "Bürobedarf"},
    {"client_id": "29098-55003", "account_number": "4930", "label": "Office supplies", "language": "en-GB"},
]


@pytest.fixture
def booking_config(logged_in_config: dict[str, t.Any]) -> dict[str, t.Any]:
    return {**logged_in_config, "gl_accounts": GL_LABELS}


@pytest.fixture
def config_file(booking_config: dict[str, t.Any], tmp_path: Path) -> Path:
    path = tmp_path / "tap-config.json"
    path.write_text(json.dumps(booking_config), "utf-8")
    return path


class RequestLog:
    """Every request the tap's DatevClient sends: (method, path), in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def count(self, method: str, contains: str) -> int:
        return sum(1 for m, p in self.calls if m == method and contains in p)


@pytest.fixture
def request_log(monkeypatch: pytest.MonkeyPatch) -> RequestLog:
    log = RequestLog()
    original = client_module.DatevClient.send

    def send(self: DatevClient, request: t.Any, *, retry: bool = True) -> t.Any:
        log.calls.append((request.method.upper(), urlsplit(request.url).path))
        return original(self, request, retry=retry)

    monkeypatch.setattr(client_module.DatevClient, "send", send)
    return log


@pytest.fixture
def datev(booking_config: dict[str, t.Any]) -> DatevClient:
    """A DatevClient whose waits are recorded instead of slept."""
    client = DatevClient(booking_config)
    client.waits = []  # type: ignore[attr-defined]
    client.sleep = client.waits.append  # type: ignore[attr-defined]
    return client


@pytest.fixture
def ledger(booking_config: dict[str, t.Any]) -> t.Iterator[Ledger]:
    with Ledger.open(booking_config["state_dir"]) as opened:
        yield opened


class TapRun:
    def __init__(self, messages: list[dict[str, t.Any]]) -> None:
        self.messages = messages

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream]

    def batches(self, stream: str) -> list[dict[str, t.Any]]:
        return [m for m in self.messages if m["type"] == "BATCH" and m["stream"] == stream]

    def assert_records_match_schemas(self) -> int:
        """Every RECORD validates against its stream's SCHEMA message; returns how many were checked."""
        import jsonschema

        schemas: dict[str, t.Any] = {}
        checked = 0
        for message in self.messages:
            if message["type"] == "SCHEMA":
                schemas[message["stream"]] = jsonschema.Draft7Validator(message["schema"])
            elif message["type"] == "RECORD":
                validator = schemas[message["stream"]]
                validator.validate(message["record"])
                # booking_lines skips the SDK's conformance pass, so nothing else strips a stray key.
                assert set(message["record"]) <= set(validator.schema["properties"]), message["stream"]
                checked += 1
        return checked

    @property
    def state(self) -> dict[str, t.Any]:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else {}


def run_tap(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    streams: t.Iterable[str] = BOOKING_STREAM_NAMES,
) -> TapRun:
    """Sync the tap in-process with only `streams` selected; returns the Singer messages."""
    run, error = run_tap_until_error(config, state, streams)
    if error is not None:
        raise error
    return run


def run_tap_until_error(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    streams: t.Iterable[str] = BOOKING_STREAM_NAMES,
) -> tuple[TapRun, Exception | None]:
    """Like run_tap, but returns the messages written before a failure together with the error."""
    from tap_datev.tap import TapDatev

    wanted = set(streams)
    catalog = TapDatev(config=config, validate_config=False).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    tap = TapDatev(config=config, catalog=catalog, state=state or {}, validate_config=False)
    out = io.StringIO()
    error: Exception | None = None
    with contextlib.redirect_stdout(out):
        try:
            tap.sync_all()
        except Exception as exc:
            error = exc
    return TapRun([json.loads(line) for line in out.getvalue().splitlines() if line.strip()]), error

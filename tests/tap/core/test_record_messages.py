"""The tap's RECORD messages are singer-sdk's own (record_messages.py replaces its per-record selection
walk with one worked out per selection): the same messages as the SDK's `_generate_record_messages`
for every kind of selection, checked on the tap's streams with and without type conformance."""

from __future__ import annotations

import copy
import typing as t

import pytest
from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_datev.record_messages import Deselection
from tap_datev.tap import TapDatev

CONFIG = {
    "environment": "local",
    "base_url": "http://127.0.0.1:9",
    "client_id": "ml-connector-demo",
    "redirect_uri": "http://127.0.0.1:0/callback",
}

BATCH = {
    "batch_id": "b1",
    "client_id": "29098-55003",
    "kind": "extf",
    "size": 1234,
    "validation_details": {"type": "https://example.invalid/x/EXTF-1", "title": "t", "detail": "d"},
    "protocol_entries": [{"text": "ok"}],
    "updated_at": "2026-03-01T12:00:00.000000Z",
    "unknown_key": "not in the schema",
}
LINE = {
    "client_id": "29098-55003",
    "batch_id": "b1",
    "line_number": 3,
    "umsatz": "119.00",
    "konto": 1200,
    "buchungstext": "Rechnung",
    "is_general_reversal": False,
    "extra": None,
}

CLIENT = {
    "id": "29098-55003",
    "client_number": 55003,
    "name": "Müller GmbH",
    "services": [{"name": "Buchungsdatenservice", "scopes": ["accounting:documents"]}],
    "fiscal_years": None,
}

SELECTIONS: dict[str, dict[str, list[tuple[str, ...]]]] = {
    "everything": {},
    "top-level fields": {
        "booking_batches": [("properties", "size"), ("properties", "kind")],
        "booking_lines": [("properties", "buchungstext"), ("properties", "umsatz")],
        "clients": [("properties", "name")],
    },
    "a nested field": {"booking_batches": [("properties", "validation_details", "properties", "detail")]},
}


# Without these the SDK's one stream map returns each record as it is; with them it does not.
OPTIONS: dict[str, dict[str, t.Any]] = {
    "no options": {},
    "stream maps": {
        "stream_maps": {
            "booking_lines": {"konto_text": "str(konto)", "extra": None},
            "booking_batches": {"__alias__": "batches"},
            "clients": {"client_label": "id + '!'"},
        }
    },
    "flattening": {"flattening_enabled": True, "flattening_max_depth": 1},
}


def _tap(deselected: dict[str, list[tuple[str, ...]]], options: dict[str, t.Any] | None = None) -> TapDatev:
    config = {**CONFIG, **(options or {})}
    catalog = TapDatev(config=config, validate_config=False).catalog_dict
    for entry in catalog["streams"]:
        for crumb in deselected.get(entry["tap_stream_id"], []):
            found = [m for m in entry["metadata"] if m["breadcrumb"] == list(crumb)]
            for meta in found or [{"breadcrumb": list(crumb), "metadata": {}}]:
                meta["metadata"]["selected"] = False
                if not found:
                    entry["metadata"].append(meta)
    return TapDatev(config=config, catalog=catalog, validate_config=False)


def _messages(
    stream: Stream, record: dict[str, t.Any], method: t.Callable[..., t.Any]
) -> list[dict[str, t.Any]]:
    messages = [m.to_dict() for m in method(stream, copy.deepcopy(record))]
    for message in messages:
        assert message.pop("time_extracted")  # the clock at emission: the one field that differs
    return messages


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("selection", SELECTIONS)
@pytest.mark.parametrize(
    ("name", "record"), [("booking_batches", BATCH), ("booking_lines", LINE), ("clients", CLIENT)]
)
def test_same_messages_as_the_sdk(options: str, selection: str, name: str, record: dict[str, t.Any]) -> None:
    stream = _tap(SELECTIONS[selection], OPTIONS[options]).streams[name]
    sdk = _messages(stream, record, Stream._generate_record_messages)
    ours = _messages(stream, record, type(stream)._generate_record_messages)
    assert ours == sdk
    emitted = ours[0]["record"]
    assert all(crumb[1] not in emitted for crumb in SELECTIONS[selection].get(name, []) if len(crumb) == 2)
    if options == "no options" and selection == "a nested field" and name == "booking_batches":
        assert "detail" not in emitted["validation_details"]
        assert emitted["validation_details"]["title"] == "t"


def test_stream_maps_and_flattening_still_apply() -> None:
    mapped = _tap({}, OPTIONS["stream maps"]).streams
    (line,) = _messages(
        mapped["booking_lines"], LINE, type(mapped["booking_lines"])._generate_record_messages
    )
    assert line["record"]["konto_text"] == "1200" and "extra" not in line["record"]
    (batch,) = _messages(
        mapped["booking_batches"], BATCH, type(mapped["booking_batches"])._generate_record_messages
    )
    assert batch["stream"] == "batches"
    flat = _tap({}, OPTIONS["flattening"]).streams["booking_batches"]
    (batch,) = _messages(flat, BATCH, type(flat)._generate_record_messages)
    assert batch["record"]["validation_details__title"] == "t"


def test_conformance_runs_where_the_stream_asks_for_it() -> None:
    batches = _tap({}).streams["booking_batches"]
    assert batches.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE
    (message,) = _messages(batches, BATCH, type(batches)._generate_record_messages)
    assert "unknown_key" not in message["record"]  # the SDK's conformance drops what the schema lacks


def test_the_selection_is_worked_out_once_per_mask() -> None:
    lines = _tap(SELECTIONS["top-level fields"]).streams["booking_lines"]
    first = lines.deselection()
    assert first == Deselection(top_level=("umsatz", "buchungstext"), nested=False)  # schema order
    assert lines.deselection() is first
    lines.selected = True  # the SDK builds a new mask when the selection changes
    assert lines.deselection() is not first
    assert lines.deselection() == first

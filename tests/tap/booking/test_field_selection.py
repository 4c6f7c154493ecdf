"""Fields deselected in the catalog stay out of the Singer output, as `tap-datev --catalog` runs it
(Meltano's `select:` writes such a catalog): absent from the SCHEMA and from every RECORD, and only
those fields. The tap removes them without singer-sdk's per-record walk (record_messages.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from pathlib import Path

from tap_datev.ledger import Ledger
from tap_datev.submit import submit_extf

from .catalogs import selected_catalog
from .factory import BOOKINGS, buchungsstapel

if t.TYPE_CHECKING:
    from tap_datev.client import DatevClient

TAP = Path(sys.executable).parent / "tap-datev"
BOOKING_STREAMS = {"booking_batches", "booking_lines"}
DESELECTED = {"booking_lines": {"buchungstext", "account_label"}, "booking_batches": {"sha256"}}


def _run(config: dict[str, t.Any], catalog: dict[str, t.Any], tmp_path: Path) -> list[dict[str, t.Any]]:
    (tmp_path / "config.json").write_text(json.dumps(config), "utf-8")
    (tmp_path / "catalog.json").write_text(json.dumps(catalog), "utf-8")
    command = [
        str(TAP),
        "--config",
        str(tmp_path / "config.json"),
        "--catalog",
        str(tmp_path / "catalog.json"),
    ]
    done = subprocess.run(command, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def _fields(messages: list[dict[str, t.Any]], kind: str, stream: str) -> list[set[str]]:
    key = "schema" if kind == "SCHEMA" else "record"
    found = [m[key] for m in messages if m["type"] == kind and m["stream"] == stream]
    return [set(item["properties"] if kind == "SCHEMA" else item) for item in found]


def test_deselected_fields_are_absent_from_schema_and_records(
    booking_config: dict[str, t.Any], datev: DatevClient, tmp_path: Path
) -> None:
    with Ledger.open(booking_config["state_dir"]) as ledger:  # closed: the tap process takes its lock
        submit_extf(datev, ledger, "EXTF_select.csv", buchungsstapel())
    everything = _run(booking_config, selected_catalog(booking_config, BOOKING_STREAMS), tmp_path)
    (tmp_path / "deselected").mkdir()
    deselected = selected_catalog(booking_config, BOOKING_STREAMS, DESELECTED)
    selected = _run(booking_config, deselected, tmp_path / "deselected")

    for stream, dropped in DESELECTED.items():
        (all_fields,) = set(map(frozenset, _fields(everything, "SCHEMA", stream)))
        assert dropped < all_fields  # the test deselects fields the stream has
        assert set(map(frozenset, _fields(selected, "SCHEMA", stream))) == {all_fields - dropped}
        full = _fields(everything, "RECORD", stream)
        assert full and all(fields == all_fields for fields in full)  # every field in every record
        assert _fields(selected, "RECORD", stream) == [fields - dropped for fields in full]

    lines = [m["record"] for m in selected if m["type"] == "RECORD" and m["stream"] == "booking_lines"]
    assert [line["line_number"] for line in lines] == list(range(3, 3 + len(BOOKINGS)))
    assert {line["konto"] for line in lines} == {b.account for b in BOOKINGS}  # the rest as before

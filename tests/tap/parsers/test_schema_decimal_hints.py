"""Precision and scale of every decimal survive the tap's catalog: `--discover`, `--catalog`, Meltano.

singer-sdk 0.54's catalog keeps only the JSON Schema keys its `Schema` knows; `x-sql-datatype` and
`x-sql-datatype-properties` are among them, bare `precision`/`scale` are not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from importlib import resources
from pathlib import Path

import pytest
from singer_sdk.singerlib import Catalog

from tap_datev.extf_columns import BUCHUNGSSTAPEL_V13

TAP = [sys.executable, "-c", "from tap_datev.cli import main; main()"]
SCHEMAS = ("booking_lines", "business_partners", "clients", "document_types", "gl_accounts")


def _properties(stream: str) -> dict[str, t.Any]:
    text = resources.files("tap_datev").joinpath("schemas", f"{stream}.json").read_text(encoding="utf-8")
    return t.cast("dict[str, t.Any]", json.loads(text)["properties"])


@pytest.mark.parametrize("stream", SCHEMAS)
def test_every_decimal_says_precision_and_scale_in_catalog_keys(stream: str) -> None:
    for name, prop in _properties(stream).items():
        assert "precision" not in prop and "scale" not in prop, f"{stream}.{name}: lost in the catalog"
        if prop.get("format") == "x-singer.decimal":
            assert prop["x-sql-datatype"] == "decimal", f"{stream}.{name}"
            assert set(prop["x-sql-datatype-properties"]) == {"precision", "scale"}, f"{stream}.{name}"


def test_decimal_scales_match_the_extf_column_definitions() -> None:
    props = _properties("booking_lines")
    for column in BUCHUNGSSTAPEL_V13:
        if column.kind in ("amount", "decimal"):
            hint = props[column.field]["x-sql-datatype-properties"]
            assert hint["scale"] == column.scale, column.field
    assert props["kurs"]["x-sql-datatype-properties"] == {"precision": 10, "scale": 6}
    for money in ("amount", "account_amount", "contra_account_amount", "account_amount_eur", "umsatz"):
        assert props[money]["x-sql-datatype-properties"] == {"precision": 15, "scale": 2}, money


def test_discovered_catalog_carries_the_hints_through_a_round_trip(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"client_id": "ml-connector-demo", "state_dir": str(tmp_path / "state")}))
    done = subprocess.run(
        [*TAP, "--discover", "--config", str(config)], capture_output=True, text=True, check=True, timeout=60
    )
    discovered = json.loads(done.stdout)
    # What a run with --catalog (and Meltano) gives the streams: the SDK's Catalog parsed back.
    reparsed = Catalog.from_dict(discovered).to_dict()
    for catalog in (discovered, reparsed):
        (lines,) = [s for s in catalog["streams"] if s["tap_stream_id"] == "booking_lines"]
        props = lines["schema"]["properties"]
        assert props["kurs"]["x-sql-datatype-properties"] == {"precision": 10, "scale": 6}
        assert props["account_amount_eur"]["x-sql-datatype"] == "decimal"
        assert props["account_amount_eur"]["x-sql-datatype-properties"] == {"precision": 15, "scale": 2}

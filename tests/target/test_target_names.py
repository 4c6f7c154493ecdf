"""`catalog` and `schema` are used as written (lower case, as Unity Catalog stores them); a name Unity
Catalog cannot take is refused with the rule it breaks. Stream and property names are conformed,
with one WARNING per renamed name."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from cli_testlib import error_line, write_json, write_lines
from target_testlib import config, record_msg, run, run_process, schema_msg

from target_databricks.errors import SettingsError
from target_databricks.target import TargetDatabricks

PROPS = {"id": {"type": "integer"}, "v": {"type": ["integer", "null"]}}


@pytest.mark.parametrize(
    ("setting", "value", "rule"),
    [
        ("catalog", "my catalog", "it has a space"),
        ("schema", "raw.datev", "it has a period"),
        ("catalog", "dev/raw", "it has a slash"),
        ("schema", "raw\tdata", "it has a space"),  # a tab is whitespace
        ("schema", "raw\x01data", "it has a control character"),
        ("catalog", "c" * 256, "it has 256 characters (at most 255)"),
        ("default_target_schema", "Raw Data", "it has a space"),
    ],
)
def test_names_unity_catalog_cannot_take_are_refused(
    tmp_path: Path, setting: str, value: str, rule: str
) -> None:
    cfg = config(tmp_path, **{setting: value})
    with pytest.raises(SettingsError) as info:
        TargetDatabricks(config=cfg)
    assert f"{setting} {value!r} is not a Unity Catalog name: {rule}" in str(info.value)
    assert not (tmp_path / "lake").exists()


def test_a_refused_catalog_is_one_error_line_and_nothing_is_created(tmp_path: Path) -> None:
    cfg = config(tmp_path, catalog="my catalog")
    messages = [schema_msg("t", PROPS, ["id"]), record_msg("t", {"id": 1, "v": 1})]
    result = run_process(write_json(tmp_path / "c.json", cfg), write_lines(tmp_path / "in.singer", messages))
    error_line(result, "catalog 'my catalog' is not a Unity Catalog name: it has a space")
    assert not (tmp_path / "lake" / "my_catalog").exists()


def test_catalog_and_schema_are_used_as_written_in_lower_case(tmp_path: Path) -> None:
    cfg = config(tmp_path, catalog="Dev-Finance", schema="DATEV_raw")
    run(cfg, [schema_msg("t", PROPS, ["id"]), record_msg("t", {"id": 1, "v": 1})])
    assert (tmp_path / "lake" / "dev-finance" / "datev_raw" / "t" / "_delta_log").is_dir()


def test_one_warning_per_renamed_stream_or_property(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stream = f"Buchungen{uuid.uuid4().hex[:6]}"  # warnings are once per process: a name of its own
    props = {"belegId": {"type": "integer"}, "Betrag (EUR)": {"type": ["number", "null"]}, "text": {}}
    schema = schema_msg(stream, props, ["belegId"])
    with caplog.at_level(logging.WARNING):
        run(config(tmp_path), [schema, record_msg(stream, {"belegId": 1}), schema])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    table = stream.lower()
    renamed = sorted(w.removesuffix(" (names are conformed)") for w in warnings if "conformed" in w)
    assert renamed == sorted(
        [
            f"stream {stream!r} is loaded into table {table!r}",
            f"stream {stream!r}: property 'belegId' is loaded into column 'beleg_id'",
            f"stream {stream!r}: property 'Betrag (EUR)' is loaded into column 'betrag_eur'",
        ]
    )

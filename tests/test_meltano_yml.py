"""meltano.yml is valid for Meltano and in step with the plugins' own settings."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))

# singer-sdk adds these to every plugin; meltano.yml need not repeat them all.
SDK_BUILTINS = {
    "stream_maps",
    "stream_map_config",
    "faker_config",
    "flattening_enabled",
    "flattening_max_depth",
    "batch_config",
    "add_record_metadata",
    "load_method",
    "batch_size_rows",
    "validate_records",
    "default_target_schema",
    "process_activate_version_messages",
    "hard_delete",
}


def test_meltano_yml_validates_against_meltanos_schema() -> None:
    schema_file = resources.files("meltano.schemas").joinpath("meltano.schema.json")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(PROJECT)


def test_no_pip_url_and_no_secret_values() -> None:
    for kind in ("extractors", "loaders"):
        for plugin in PROJECT["plugins"][kind]:
            assert "pip_url" not in plugin, "plugins come from the project venv (constraints.txt)"
            for setting in plugin["settings"]:
                if setting.get("sensitive"):
                    assert "value" not in setting, f"{setting['name']} must not carry a value"
    text = (ROOT / "meltano.yml").read_text(encoding="utf-8")
    assert "secret-not-for-production" not in text


def test_environments_job_and_schedule() -> None:
    assert {e["name"] for e in PROJECT["environments"]} == {"demo", "prod"}
    (job,) = PROJECT["jobs"]
    assert job["tasks"] == ["tap-datev target-databricks dbt:build"], "the job ends with the marts"
    (schedule,) = PROJECT["schedules"]
    assert schedule["job"] == job["name"]
    assert schedule["interval"].endswith("1-5"), "working days only"


def _settings(kind: str, name: str) -> set[str]:
    (plugin,) = [p for p in PROJECT["plugins"][kind] if p["name"] == name]
    return {s["name"] for s in plugin["settings"]}


@pytest.mark.parametrize(
    ("kind", "name", "import_path"),
    [
        ("extractors", "tap-datev", "tap_datev.tap:TapDatev"),
        ("loaders", "target-databricks", "target_databricks.target:TargetDatabricks"),
    ],
)
def test_settings_match_the_plugin(kind: str, name: str, import_path: str) -> None:
    module, cls = import_path.split(":")
    plugin_cls = getattr(__import__(module, fromlist=[cls]), cls)
    declared = {n for n in plugin_cls.config_jsonschema["properties"] if not n.startswith("flattening_")}
    listed = _settings(kind, name)
    assert listed - declared - SDK_BUILTINS == set(), "meltano.yml lists settings the plugin does not know"
    assert declared - listed - SDK_BUILTINS == set(), "plugin settings missing from meltano.yml"

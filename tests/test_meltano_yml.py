"""meltano.yml is valid for Meltano and says what the plugins themselves report with `--about`.

The plugins are the source of truth: their `--about --format=json` (capabilities, settings with
types, defaults, descriptions, secrets) is compared with meltano.yml, and their
`--about --format=markdown` settings table with each plugin's README, so none of them can drift.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from functools import cache
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROJECT = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))

PLUGINS = [("extractors", "tap-datev"), ("loaders", "target-databricks")]

# Capabilities `--about` reports that Meltano 4.4's meltano.schema.json rejects for a loader.
NOT_IN_MELTANOS_SCHEMA = {"loaders": {"validate-records", "target-schema"}}

# Defaults meltano.yml replaces on purpose, with the reason.
PROJECT_VALUES = {
    # The plugin's default is relative to the working directory; Meltano's is the project.
    ("tap-datev", "state_dir"): "$MELTANO_PROJECT_ROOT/.state/tap-datev",
    ("target-databricks", "local_path"): "$MELTANO_PROJECT_ROOT/.lake",
}

SETTINGS_BEGIN = (
    "<!-- settings: from `{name} --about --format=markdown`; tests/test_meltano_yml.py compares -->"
)
SETTINGS_END = "<!-- /settings -->"


@cache
def about(name: str, fmt: str = "json") -> str:
    result = subprocess.run(
        [str(BIN / name), "--about", f"--format={fmt}"], check=True, capture_output=True, text=True
    )
    return result.stdout


def plugin(kind: str, name: str) -> dict[str, t.Any]:
    (found,) = [p for p in PROJECT["plugins"][kind] if p["name"] == name]
    return t.cast(dict[str, t.Any], found)


def meltano_kind(prop: dict[str, t.Any]) -> str:
    """The Meltano setting kind for a JSON Schema property of the plugin's settings."""
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "enum" in prop:
        return "options"
    if prop.get("format") in {"date", "date-time"}:
        return "date_iso8601"
    for json_type, kind in [
        ("boolean", "boolean"),
        ("integer", "integer"),
        ("number", "decimal"),
        ("array", "array"),
        ("object", "object"),
    ]:
        if json_type in types:
            return kind
    return "string"


def test_meltano_yml_validates_against_meltanos_schema() -> None:
    schema_file = resources.files("meltano.schemas").joinpath("meltano.schema.json")
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(PROJECT)


def test_no_pip_url_and_no_secret_values() -> None:
    for kind, name in PLUGINS:
        entry = plugin(kind, name)
        assert "pip_url" not in entry, "this project's plugins come from its venv (constraints.txt)"
        for setting in entry["settings"]:
            if setting.get("sensitive"):
                assert "value" not in setting, f"{setting['name']} must not carry a value"
    text = (ROOT / "meltano.yml").read_text(encoding="utf-8")
    assert "secret-not-for-production" not in text


def test_environments_job_and_schedule() -> None:
    assert {e["name"] for e in PROJECT["environments"]} >= {"demo", "prod"}
    job = next(j for j in PROJECT["jobs"] if j["name"] == "datev-to-databricks")
    assert job["tasks"] == ["tap-datev target-databricks dbt:build"], "the job ends with the marts"
    (schedule,) = PROJECT["schedules"]
    assert schedule["job"] == job["name"]
    assert schedule["interval"].endswith("1-5"), "working days only"


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_capabilities_are_what_the_plugin_reports(kind: str, name: str) -> None:
    reported = set(json.loads(about(name))["capabilities"])
    assert set(plugin(kind, name)["capabilities"]) == reported - NOT_IN_MELTANOS_SCHEMA.get(kind, set())


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_settings_are_what_the_plugin_reports(kind: str, name: str) -> None:
    properties = json.loads(about(name))["settings"]["properties"]
    declared = {s["name"]: s for s in plugin(kind, name)["settings"]}
    assert list(declared) == list(properties), "meltano.yml lists the plugin's settings in its order"
    for setting_name, prop in properties.items():
        setting = declared[setting_name]
        where = f"{name}.{setting_name}"
        assert setting.get("label"), where
        assert setting["kind"] == meltano_kind(prop), where
        assert setting.get("sensitive", False) == prop.get("secret", False), where
        assert setting.get("description") == prop["description"], where
        expected_value = PROJECT_VALUES.get((name, setting_name), prop.get("default"))
        assert setting.get("value") == expected_value, where
        if "enum" in prop:
            offered = [option["value"] for option in setting["options"]]
            assert offered == [v for v in prop["enum"] if v != ""], where


@pytest.mark.parametrize("name", [name for _, name in PLUGINS])
def test_plugin_readme_settings_table_is_the_plugins_own(name: str) -> None:
    readme = (ROOT / name / "README.md").read_text(encoding="utf-8")
    begin = SETTINGS_BEGIN.format(name=name)
    assert begin in readme and SETTINGS_END in readme, f"{name}/README.md lacks the settings markers"
    documented = readme.split(begin, 1)[1].split(SETTINGS_END, 1)[0].strip()
    markdown = about(name, "markdown")
    generated = markdown.split("## Settings", 1)[1].split("\nA full list", 1)[0].strip()
    assert documented == generated, f"regenerate with: {name} --about --format=markdown"


@pytest.mark.parametrize("name", [name for _, name in PLUGINS])
def test_plugin_definition_files_are_meltano_ymls_entries(name: str) -> None:
    """`<plugin>/meltano-plugin.yml` (what `meltano add --from-ref` reads) is this project's entry."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import plugin_definitions

    text = plugin_definitions.path(name).read_text(encoding="utf-8")
    assert text == plugin_definitions.render(name), "regenerate: python scripts/plugin_definitions.py"
    definition = yaml.safe_load(text)
    assert definition["pip_url"].startswith("-c ${ML_CONNECTOR_SRC}/constraints.txt")

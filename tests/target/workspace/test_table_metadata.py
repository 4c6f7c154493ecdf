"""What a table carries for Unity Catalog users, on both engines (the workspace one on the emulator).

Each column's comment is its JSON Schema description, the table's comment names the stream and the tap
(from Meltano's MELTANO_EXTRACTOR_NAME); key columns are NOT NULL with an informational primary key
(RELY for upserts); upsert tables are clustered by their key unless `cluster_by` says otherwise;
`change_data_feed` and `table_properties` set Delta properties. Everything is read back through the
engine's own schema call: delta-rs' schema and metadata, or the Unity Catalog tables API.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from target_testlib import record_msg, run, schema_msg
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from target_databricks.engines.base import TableRef
from target_databricks.engines.local import LocalEngine
from target_databricks.engines.workspace import WorkspaceEngine
from target_databricks.errors import SettingsError

REF = TableRef("main", "datev", "items")
PROPS = {
    "id": {"type": "integer", "description": "Belegnummer"},
    "code": {"type": ["string", "null"], "description": "Kontonummer des Sachkontos"},
    "qty": {"type": ["integer", "null"]},
}


@pytest.fixture(params=["local", "workspace"])
def cfg(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, t.Any]:
    if request.param == "local":
        return {"local_path": str(tmp_path / "lake"), "catalog": "main", "schema": "datev"}
    emulator: RunningEmulator = request.getfixturevalue("emulator")
    return settings(emulator)


class Shown(t.NamedTuple):
    """A table as its engine describes it."""

    comment: str
    column_comments: dict[str, str]
    not_null: set[str]
    primary_key: tuple[list[str], bool] | None  # (columns, rely); None locally or without a key
    clustering: list[str]
    properties: dict[str, str]


def shown(cfg: dict[str, t.Any]) -> Shown:
    if cfg.get("engine") == "workspace":
        info = WorkspaceEngine(cfg).client.tables.get(REF.full_name)
        keys = [c.primary_key_constraint for c in info.table_constraints or [] if c.primary_key_constraint]
        properties = dict(info.properties or {})
        return Shown(
            info.comment or "",
            {c.name or "": c.comment for c in info.columns or [] if c.comment},
            {c.name or "" for c in info.columns or [] if c.nullable is False},
            (keys[0].child_columns, bool(keys[0].rely)) if keys else None,
            [".".join(p) for p in json.loads(properties.pop("clusteringColumns", "[]"))],
            properties,
        )
    table = DeltaTable(str(Path(cfg["local_path"]) / "main" / "datev" / "items"))
    schema = pa.schema(table.schema().to_arrow())
    comments = {f.name: (f.metadata or {}).get(b"comment", b"").decode() for f in schema}
    return Shown(
        table.metadata().description or "",
        {name: text for name, text in comments.items() if text},
        {f.name for f in schema if not f.nullable},
        None,
        LocalEngine(cfg).z_order(REF),
        dict(table.metadata().configuration),
    )


def _load(cfg: dict[str, t.Any], props: dict[str, t.Any] = PROPS, keys: tuple[str, ...] = ("id",)) -> None:
    run(
        cfg,
        [
            schema_msg("items", props, list(keys)),
            record_msg("items", {"id": 1, "code": "1200", "qty": 2}, "2024-03-01T00:00:00Z"),
            record_msg("items", {"id": 2, "code": "8400", "qty": 5}, "2024-03-01T00:00:00Z"),
        ],
    )


def test_descriptions_become_comments_and_the_table_names_stream_and_tap(
    cfg: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MELTANO_EXTRACTOR_NAME", "tap-datev")
    _load(cfg)
    table = shown(cfg)
    assert table.comment == "Singer stream 'items' of tap-datev, loaded by target-databricks."
    assert table.column_comments["id"] == "Belegnummer"
    assert table.column_comments["code"] == "Kontonummer des Sachkontos"
    assert "qty" not in table.column_comments  # no description, no comment
    assert table.column_comments["_sdc_extracted_at"].startswith("When the tap extracted")


def test_a_changed_description_is_updated(cfg: dict[str, t.Any]) -> None:
    _load(cfg)
    _load(cfg, {**PROPS, "code": {"type": ["string", "null"], "description": "Sachkonto (4-8 Stellen)"}})
    assert shown(cfg).column_comments["code"] == "Sachkonto (4-8 Stellen)"
    assert shown(cfg).comment == "Singer stream 'items', loaded by target-databricks."


def test_keys_are_not_null_with_a_primary_key_and_cluster_upserts(cfg: dict[str, t.Any]) -> None:
    _load(cfg)
    table = shown(cfg)
    assert table.not_null == {"id"}
    if cfg.get("engine") == "workspace":
        assert table.primary_key == (["id"], True)  # upserts keep the key unique: RELY
    assert table.clustering == ["id"]


def test_append_only_keys_are_not_relied_on_and_not_clustered(cfg: dict[str, t.Any]) -> None:
    _load({**cfg, "load_method": "append-only"})
    table = shown(cfg)
    assert table.not_null == {"id"}
    if cfg.get("engine") == "workspace":
        assert table.primary_key == (["id"], False)
    assert table.clustering == []


def test_cluster_by_setting_chooses_other_columns_or_none(cfg: dict[str, t.Any]) -> None:
    _load({**cfg, "cluster_by": ["code", "qty", "missing"]})
    assert shown(cfg).clustering == ["code", "qty"]  # the named columns the table has
    _load({**cfg, "cluster_by": []})
    assert shown(cfg).clustering == []


def test_change_data_feed_and_table_properties(cfg: dict[str, t.Any]) -> None:
    _load(
        {
            **cfg,
            "change_data_feed": True,
            "table_properties": {"delta.logRetentionDuration": "interval 60 days"},
        }
    )
    properties = shown(cfg).properties
    assert properties["delta.enableChangeDataFeed"] == "true"
    assert properties["delta.logRetentionDuration"] == "interval 60 days"
    if cfg.get("engine") != "workspace":
        _load({**cfg, "change_data_feed": True})  # an update of both rows: recorded in the feed
        table = DeltaTable(str(Path(cfg["local_path"]) / "main" / "datev" / "items"))
        changes = pa.table(table.load_cdf(starting_version=0).read_all()).column("_change_type").to_pylist()
        assert changes.count("insert") == 2


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"delta.appendOnly": "true"}, "'delta.appendOnly' is not a property the target sets; allowed: "),
        ({"delta.enableChangeDataFeed": "true"}, "use the change_data_feed setting"),
    ],
)
def test_table_properties_outside_the_allow_list_are_refused(
    tmp_path: Path, properties: dict[str, str], message: str
) -> None:
    cfg = {"local_path": str(tmp_path / "lake"), "catalog": "main", "schema": "datev"}
    with pytest.raises(SettingsError, match=message) as refused:
        _load({**cfg, "table_properties": properties})
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "lake" / "main" / "datev" / "items").exists()


def test_an_existing_table_gains_its_key_when_that_is_safe(emulator: RunningEmulator) -> None:
    cfg = settings(emulator)
    engine = WorkspaceEngine(cfg)
    engine.preflight()
    engine.execute("CREATE TABLE main.datev.items (id BIGINT, code STRING, qty BIGINT) USING DELTA")
    engine.execute("INSERT INTO main.datev.items VALUES (7, 'x', 1)")
    _load(cfg)
    table = shown(cfg)
    assert table.not_null == {"id"} and table.primary_key == (["id"], True)
    assert table.column_comments["code"] == "Kontonummer des Sachkontos"


def test_an_existing_table_with_a_null_key_keeps_loading_without_a_key(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = settings(emulator)
    engine = WorkspaceEngine(cfg)
    engine.preflight()
    engine.execute("CREATE TABLE main.datev.items (id BIGINT, code STRING, qty BIGINT) USING DELTA")
    engine.execute("INSERT INTO main.datev.items VALUES (NULL, 'x', 1)")
    _load(cfg)
    table = shown(cfg)
    assert table.primary_key is None and table.not_null == set()
    assert "main.datev.items gets no primary key" in caplog.text
    rows = engine.read_table(REF).to_pylist()
    assert sorted(r["code"] for r in rows) == ["1200", "8400", "x"]


def test_local_maintain_z_orders_by_the_key(tmp_path: Path) -> None:
    cfg = {"local_path": str(tmp_path / "lake"), "catalog": "main", "schema": "datev"}
    _load(cfg)
    _load({**cfg, "cluster_by": None})
    lines = LocalEngine(cfg).maintain([REF], vacuum_retention_hours=168)
    assert lines[0].startswith("main.datev.items: compacted ")
    assert " into 1 Z-ordered by id; " in lines[0]
    history = DeltaTable(str(tmp_path / "lake" / "main" / "datev" / "items")).history()
    optimized = next(c for c in history if c["operation"] == "OPTIMIZE")
    assert optimized["operationMetrics"]["plannerStrategy"] == "zOrder"
    assert len(LocalEngine(cfg).read_table(REF)) == 2


def test_a_property_value_delta_rs_refuses_is_one_settings_error(tmp_path: Path) -> None:
    cfg = {"local_path": str(tmp_path / "lake"), "catalog": "main", "schema": "datev"}
    with pytest.raises(SettingsError, match=r"delta\.enableDeletionVectors = 'maybe' is invalid") as refused:
        _load({**cfg, "table_properties": {"delta.enableDeletionVectors": "maybe"}})
    assert "\n" not in str(refused.value)

"""Schema evolution through the target, on both engines (the workspace one on the Databricks emulator).

A later SCHEMA never makes the target refuse a change that loses nothing: the column keeps its type
when it holds every new value, is widened in place where Delta allows it, or is rewritten when all
existing values fit the new type. Only a lossy change is refused, naming column, types and rule.
A property missing from a later SCHEMA keeps its column. What landed is read back from each engine.
"""

from __future__ import annotations

import decimal
import typing as t
from pathlib import Path

import pyarrow as pa
import pytest
from target_testlib import record_msg, run, schema_msg
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from target_databricks import schema as sch
from target_databricks.engines.base import SchemaChangeError, TableRef
from target_databricks.engines.local import LocalEngine
from target_databricks.engines.workspace import WorkspaceEngine

REF = TableRef("main", "datev", "items")


@pytest.fixture(params=["local", "workspace"])
def cfg(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, t.Any]:
    if request.param == "local":
        return {"local_path": str(tmp_path / "lake"), "catalog": "main", "schema": "datev"}
    emulator: RunningEmulator = request.getfixturevalue("emulator")
    return settings(emulator)


def _engine(cfg: dict[str, t.Any]) -> LocalEngine | WorkspaceEngine:
    return WorkspaceEngine(cfg) if cfg.get("engine") == "workspace" else LocalEngine(cfg)


def column_types(cfg: dict[str, t.Any]) -> dict[str, str]:
    """The table's column types as the engine itself reports them (Databricks SQL spelling)."""
    if cfg.get("engine") == "workspace":
        info = WorkspaceEngine(cfg).client.tables.get(REF.full_name)
        return {c.name or "": sch.normalize_type(c.type_text or "") for c in info.columns or []}
    from deltalake import DeltaTable

    path = Path(cfg["local_path"]) / "main" / "datev" / "items"
    schema = pa.schema(DeltaTable(str(path)).schema().to_arrow())
    return {f.name: sch.sql_type_for_arrow(f.type) for f in schema}


def rows(cfg: dict[str, t.Any]) -> dict[t.Any, dict[str, t.Any]]:
    return {r["id"]: r for r in _engine(cfg).read_table(REF).to_pylist()}


def _load(cfg: dict[str, t.Any], props: dict[str, t.Any], *records: dict[str, t.Any]) -> None:
    run(
        cfg,
        [schema_msg("items", {"id": {"type": "integer"}, **props}, ["id"])]
        + [record_msg("items", r, "2024-03-01T00:00:00Z") for r in records],
    )


def test_string_then_integer_keeps_the_string_column(cfg: dict[str, t.Any]) -> None:
    _load(cfg, {"code": {"type": "string"}}, {"id": 1, "code": "A-1"})
    _load(cfg, {"code": {"type": "integer"}}, {"id": 2, "code": 42})
    assert column_types(cfg)["code"] == "STRING"
    assert {i: r["code"] for i, r in rows(cfg).items()} == {1: "A-1", 2: "42"}


def test_integer_then_string_rewrites_the_column_as_text(cfg: dict[str, t.Any]) -> None:
    _load(cfg, {"code": {"type": "integer"}}, {"id": 1, "code": 7})
    _load(cfg, {"code": {"type": "string"}}, {"id": 2, "code": "B-2"})
    assert column_types(cfg)["code"] == "STRING"
    assert {i: r["code"] for i, r in rows(cfg).items()} == {1: "7", 2: "B-2"}


def test_integer_then_number_becomes_double(cfg: dict[str, t.Any]) -> None:
    _load(cfg, {"qty": {"type": "integer"}}, {"id": 1, "qty": 3})
    _load(cfg, {"qty": {"type": "number"}}, {"id": 2, "qty": 2.5})
    assert column_types(cfg)["qty"] == "DOUBLE"
    assert {i: r["qty"] for i, r in rows(cfg).items()} == {1: 3.0, 2: 2.5}


def test_integer_then_decimal_and_wider_decimal_widen_in_place(cfg: dict[str, t.Any]) -> None:
    money = {"type": "string", "format": "x-singer.decimal"}
    _load(
        cfg,
        {"n": {"type": "integer"}, "amount": {**money, "precision": 10, "scale": 2}},
        {"id": 1, "n": 5, "amount": "12345678.90"},
    )
    wider = {"x-sql-datatype": "decimal", "x-sql-datatype-properties": {"precision": 15, "scale": 4}}
    _load(
        cfg,
        {"n": {**money, **wider}, "amount": {**money, **wider}},
        {"id": 2, "n": "0.1234", "amount": "1.5"},
    )
    types = column_types(cfg)
    assert (types["n"], types["amount"]) == ("DECIMAL(24,4)", "DECIMAL(15,4)")
    got = rows(cfg)
    assert (got[1]["n"], got[1]["amount"]) == (decimal.Decimal(5), decimal.Decimal("12345678.90"))
    assert (got[2]["n"], got[2]["amount"]) == (decimal.Decimal("0.1234"), decimal.Decimal("1.5"))


def test_added_and_removed_properties_keep_every_column(cfg: dict[str, t.Any]) -> None:
    _load(cfg, {"old": {"type": "string"}}, {"id": 1, "old": "x"})
    _load(cfg, {"new": {"type": "boolean"}}, {"id": 2, "new": True})
    assert {"old", "new"} <= set(column_types(cfg))
    got = rows(cfg)
    assert (got[1]["old"], got[1]["new"]) == ("x", None)
    assert (got[2]["old"], got[2]["new"]) == (None, True)


def test_removed_property_is_null_in_updated_and_new_rows_only(cfg: dict[str, t.Any]) -> None:
    props = {"a": {"type": "string"}, "b": {"type": "string"}}
    _load(cfg, props, *({"id": i, "a": f"a{i}", "b": f"b{i}"} for i in (1, 2)))
    # b is gone from the stream: id 1 is updated (a newer version), id 3 is new, id 2 untouched.
    run(
        cfg,
        [
            schema_msg("items", {"id": {"type": "integer"}, "a": {"type": "string"}}, ["id"]),
            record_msg("items", {"id": 1, "a": "a1-new"}, "2024-03-02T00:00:00Z"),
            record_msg("items", {"id": 3, "a": "a3"}, "2024-03-02T00:00:00Z"),
        ],
    )
    assert column_types(cfg)["b"] == "STRING"
    assert {i: (r["a"], r["b"]) for i, r in rows(cfg).items()} == {
        1: ("a1-new", None),
        2: ("a2", "b2"),
        3: ("a3", None),
    }


@pytest.mark.parametrize("method", ["append-only", "overwrite"])
def test_removed_property_is_null_in_appended_and_overwritten_rows(
    cfg: dict[str, t.Any], method: str
) -> None:
    cfg = {**cfg, "load_method": method}
    _load(cfg, {"a": {"type": "string"}, "b": {"type": "integer"}}, {"id": 1, "a": "x", "b": 5})
    _load(cfg, {"a": {"type": "string"}}, {"id": 1, "a": "y"})
    assert column_types(cfg)["b"] == "BIGINT"
    landed = sorted((r["a"], r["b"]) for r in _engine(cfg).read_table(REF).to_pylist())
    assert landed == ([("x", 5), ("y", None)] if method == "append-only" else [("y", None)])


def test_nested_object_then_string_lands_as_text(cfg: dict[str, t.Any]) -> None:
    _load(
        cfg,
        {"meta": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        {"id": 1, "meta": {"a": 1}},
    )
    _load(cfg, {"meta": {"type": "string"}}, {"id": 2, "meta": "plain"})
    assert column_types(cfg)["meta"] == "STRING"
    got = rows(cfg)
    assert got[1]["meta"].replace(" ", "") == '{"a":1}' and got[2]["meta"] == "plain"


def test_narrower_declared_decimal_loads_into_the_older_wider_column_with_one_warning(
    cfg: dict[str, t.Any], caplog: pytest.LogCaptureFixture
) -> None:
    _load(cfg, {"amount": {"type": "string", "format": "x-singer.decimal"}}, {"id": 1, "amount": "1.5"})
    assert column_types(cfg)["amount"] == "DECIMAL(38,10)"
    hint = {"x-sql-datatype": "decimal", "x-sql-datatype-properties": {"precision": 15, "scale": 2}}
    caplog.clear()
    _load(
        cfg,
        {"amount": {"type": "string", "format": "x-singer.decimal", **hint}},
        *[{"id": i, "amount": f"{i}.25"} for i in range(2, 6)],
    )
    assert column_types(cfg)["amount"] == "DECIMAL(38,10)"
    assert rows(cfg)[5]["amount"] == decimal.Decimal("5.25")
    warnings = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "amount" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "amount: table has DECIMAL(38,10), stream declares DECIMAL(15,2)" in warnings[0]


def test_lossy_change_is_refused_naming_column_types_and_rule(cfg: dict[str, t.Any]) -> None:
    _load(cfg, {"flag": {"type": "boolean"}}, {"id": 1, "flag": True})
    with pytest.raises(SchemaChangeError) as info:
        _load(cfg, {"flag": {"type": "integer"}}, {"id": 2, "flag": 5})
    message = str(info.value)
    assert "main.datev.items" in message and "flag: table has BOOLEAN, stream declares BIGINT" in message
    assert "do not fit BOOLEAN" in message and "no data was changed" in message
    assert column_types(cfg)["flag"] == "BOOLEAN" and set(rows(cfg)) == {1}

"""Type mapping and name conforming: pure, no I/O."""

from __future__ import annotations

import pyarrow as pa
import pytest

from target_databricks import schema as sch


@pytest.mark.parametrize(
    ("prop", "kind", "sql", "arrow"),
    [
        ({"type": "integer"}, "bigint", "BIGINT", pa.int64()),
        ({"type": ["null", "integer"]}, "bigint", "BIGINT", pa.int64()),
        (
            {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2},
            "decimal",
            "DECIMAL(15,2)",
            pa.decimal128(15, 2),
        ),
        (
            {"type": "string", "format": "x-singer.decimal"},
            "decimal",
            "DECIMAL(38,10)",
            pa.decimal128(38, 10),
        ),
        ({"type": "string", "format": "singer.decimal"}, "decimal", "DECIMAL(38,10)", pa.decimal128(38, 10)),
        ({"type": "number", "multipleOf": 0.01}, "decimal", "DECIMAL(38,2)", pa.decimal128(38, 2)),
        ({"type": "number"}, "double", "DOUBLE", pa.float64()),
        ({"type": "string", "format": "date"}, "date", "DATE", pa.date32()),
        ({"type": "string", "format": "date-time"}, "timestamp", "TIMESTAMP", pa.timestamp("us", tz="UTC")),
        ({"type": "boolean"}, "boolean", "BOOLEAN", pa.bool_()),
        ({"type": "object", "properties": {"a": {"type": "integer"}}}, "json", "STRING", pa.string()),
        ({"type": "object"}, "json", "STRING", pa.string()),
        ({"type": "array", "items": {"type": "string"}}, "json", "STRING", pa.string()),
        ({"type": "string"}, "string", "STRING", pa.string()),
        ({}, "json", "STRING", pa.string()),
        ({"type": "weird"}, "string", "STRING", pa.string()),
        (
            {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "timestamp",
            "TIMESTAMP",
            pa.timestamp("us", tz="UTC"),
        ),
        ({"type": ["integer", "number", "null"]}, "double", "DOUBLE", pa.float64()),
        ({"type": ["string", "integer"]}, "json", "STRING", pa.string()),
        (
            {"anyOf": [{"type": "string", "format": "date-time"}, {"type": ["string", "null"]}]},
            "json",
            "STRING",
            pa.string(),
        ),
    ],
)
def test_type_mapping(prop: dict, kind: str, sql: str, arrow: pa.DataType) -> None:
    got_kind, column = sch.column_for("c", prop)
    assert (got_kind, column.sql_type, column.arrow_type) == (kind, sql, arrow)


@pytest.mark.parametrize(
    ("source", "conformed"),
    [
        ("clientName", "client_name"),
        ("Id", "id"),
        ("HTTPServerURL", "http_server_url"),
        ("test:SpecialChars!in?attributes", "test_special_chars_in_attributes"),
        ("Umsatz (ohne Soll/Haben-Kz)", "umsatz_ohne_soll_haben_kz"),
        ("Beleg-Datum", "beleg_datum"),
        ("Straße Größe", "strasse_groesse"),
        ("a b,c;d{e}f(g)h\ni\tj=k", "a_b_c_d_e_f_g_h_i_j_k"),
        ("schema.table/x", "schema_table_x"),
        ("_sdc_extracted_at", "_sdc_extracted_at"),
        ("../../etc", "etc"),
        ("..\\..\\windows", "windows"),
        ("1st", "1st"),
        ("ctrl\x00\x7fchars", "ctrl_chars"),
    ],
)
def test_conform_name(source: str, conformed: str) -> None:
    assert sch.conform_name(source) == conformed


def test_conformed_names_are_safe_path_steps() -> None:
    for hostile in ["../../etc", "/abs/path", "a/../../b", "~root", "c:\\x", "\u202e..x", "x\x00y"]:
        name = sch.conform_name(hostile)
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")
        assert "/" not in name and ".." not in name


def test_name_without_letters_is_rejected() -> None:
    with pytest.raises(sch.NamingError, match="no letters or digits"):
        sch.conform_name("../..")


def test_long_names_are_truncated_distinctly() -> None:
    a, b = sch.conform_name("x" * 300 + "a"), sch.conform_name("x" * 300 + "b")
    assert len(a) == len(b) == sch.MAX_NAME_LENGTH
    assert a != b


def test_collision_names_both_sources() -> None:
    with pytest.raises(sch.NameCollisionError) as info:
        sch.conform_names(["clientName", "client_name"])
    assert "'clientName'" in str(info.value) and "'client_name'" in str(info.value)


def test_collision_in_stream_plan() -> None:
    props = {"Amount": {"type": "integer"}, "amount": {"type": "integer"}}
    with pytest.raises(sch.NameCollisionError, match="'Amount' and 'amount'"):
        sch.plan_stream("s", {"properties": props}, [], catalog="main", schema="datev")


def test_stream_plan_columns_keys_and_metadata() -> None:
    props = {
        "BelegId": {"type": "integer"},
        "Betrag": {"type": "string", "format": "x-singer.decimal", "precision": 15, "scale": 2},
        "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
    }
    plan = sch.plan_stream(
        "Booking Lines", {"properties": props}, ["BelegId"], catalog="Main", schema="DATEV"
    )
    assert plan.spec.ref.full_name == "main.datev.booking_lines"
    assert plan.spec.key_properties == ("beleg_id",)
    names = [c.name for c in plan.spec.columns]
    assert names[:2] == ["beleg_id", "betrag"]
    assert names[2:] == [
        c.name for c, _ in sch.METADATA_COLUMNS
    ]  # tap's _sdc_deleted_at is the metadata column
    assert plan.spec.column("_ml_position").sql_type == "BIGINT"  # type: ignore[union-attr]
    assert plan.spec.column("_ml_load_id").sql_type == "STRING"  # type: ignore[union-attr]


def test_quote_identifier() -> None:
    assert sch.quote_identifier("a`b") == "`a``b`"
    assert sch.quote_identifier("x") == "`x`"

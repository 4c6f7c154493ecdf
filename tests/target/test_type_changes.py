"""The one rule for a column whose declared type changes (schema.type_change), used by both engines."""

from __future__ import annotations

import pyarrow as pa
import pytest

from target_databricks import schema as sch
from target_databricks.engines.base import SchemaChangeError, TableRef


@pytest.mark.parametrize(
    ("old", "new", "action", "to"),
    [
        ("bigint", "BIGINT", "keep", "BIGINT"),
        ("decimal(15,2)", "DECIMAL(15, 2)", "keep", "DECIMAL(15,2)"),
        ("long", "bigint", "keep", "BIGINT"),
        ("timestamp_ltz", "TIMESTAMP", "keep", "TIMESTAMP"),
        # the column holds every declared value: values are cast on load
        ("STRING", "BIGINT", "keep", "STRING"),
        ("STRING", "DECIMAL(15,2)", "keep", "STRING"),
        ("STRING", "BOOLEAN", "keep", "STRING"),
        ("BIGINT", "INT", "keep", "BIGINT"),
        ("DECIMAL(38,10)", "DECIMAL(15,2)", "keep", "DECIMAL(38,10)"),
        ("DECIMAL(38,0)", "BIGINT", "keep", "DECIMAL(38,0)"),
        ("DOUBLE", "FLOAT", "keep", "DOUBLE"),
        ("DOUBLE", "BIGINT", "keep", "DOUBLE"),
        ("TIMESTAMP", "DATE", "keep", "TIMESTAMP"),
        # Delta's type widening changes these in place
        ("INT", "BIGINT", "widen", "BIGINT"),
        ("DECIMAL(15,2)", "DECIMAL(38,10)", "widen", "DECIMAL(38,10)"),
        ("DECIMAL(10,6)", "DECIMAL(15,2)", "widen", "DECIMAL(19,6)"),
        ("DECIMAL(10,2)", "BIGINT", "widen", "DECIMAL(21,2)"),
        ("BIGINT", "DECIMAL(15,2)", "widen", "DECIMAL(22,2)"),
        ("INT", "DECIMAL(15,2)", "widen", "DECIMAL(15,2)"),
        ("INT", "DOUBLE", "widen", "DOUBLE"),
        ("FLOAT", "DOUBLE", "widen", "DOUBLE"),
        ("DATE", "TIMESTAMP_NTZ", "widen", "TIMESTAMP_NTZ"),
        # every existing value fits the new type, but only by rewriting the column
        ("BIGINT", "STRING", "rewrite", "STRING"),
        ("BOOLEAN", "STRING", "rewrite", "STRING"),
        ("DATE", "STRING", "rewrite", "STRING"),
        ("DECIMAL(15,2)", "STRING", "rewrite", "STRING"),
        ("DATE", "TIMESTAMP", "rewrite", "TIMESTAMP"),
        ("BIGINT", "DOUBLE", "rewrite", "DOUBLE"),
        # lossy either way
        ("BOOLEAN", "BIGINT", "refuse", "BOOLEAN"),
        ("BIGINT", "BOOLEAN", "refuse", "BIGINT"),
        ("DECIMAL(15,2)", "DOUBLE", "refuse", "DECIMAL(15,2)"),
        ("DOUBLE", "DECIMAL(15,2)", "refuse", "DOUBLE"),
        ("TIMESTAMP", "BIGINT", "refuse", "TIMESTAMP"),
        ("DECIMAL(38,30)", "DECIMAL(38,2)", "refuse", "DECIMAL(38,30)"),
    ],
)
def test_type_change_rule(old: str, new: str, action: str, to: str) -> None:
    change = sch.type_change("c", old, new)
    assert (change.action, change.to) == (action, to)


def test_widened_decimal_holds_both_types() -> None:
    for old, new in [("DECIMAL(10,6)", "DECIMAL(15,2)"), ("DECIMAL(5,0)", "DECIMAL(7,3)")]:
        to = sch.type_change("c", old, new).to
        assert sch.type_change("c", to, old).action == "keep"
        assert sch.type_change("c", to, new).action == "keep"


def test_refusal_names_column_types_and_rule() -> None:
    ref = TableRef("main", "datev", "lines")
    changes = [sch.type_change("flag", "BOOLEAN", "BIGINT"), sch.type_change("n", "BIGINT", "BIGINT")]
    with pytest.raises(SchemaChangeError) as info:
        sch.check_type_changes(ref, changes)
    message = str(info.value)
    assert "main.datev.lines" in message and "flag: table has BOOLEAN, stream declares BIGINT" in message
    assert "do not fit BOOLEAN" in message and "n:" not in message


def test_one_warning_names_every_kept_wider_column() -> None:
    ref = TableRef("main", "datev", "lines")
    changes = [
        sch.type_change("amount", "DECIMAL(38,10)", "DECIMAL(15,2)"),
        sch.type_change("kurs", "DECIMAL(38,10)", "DECIMAL(10,6)"),
        sch.type_change("id", "BIGINT", "BIGINT"),
    ]
    warning = sch.check_type_changes(ref, changes)
    assert warning is not None and warning.count("table has DECIMAL(38,10)") == 2
    assert "id:" not in warning
    assert sch.check_type_changes(ref, changes[2:]) is None


@pytest.mark.parametrize(
    "arrow",
    [pa.int64(), pa.int32(), pa.string(), pa.decimal128(15, 2), pa.date32(), sch.TIMESTAMP_TYPE, pa.bool_()],
)
def test_sql_and_arrow_types_round_trip(arrow: pa.DataType) -> None:
    assert sch.arrow_type_for_sql(sch.sql_type_for_arrow(arrow)) == arrow

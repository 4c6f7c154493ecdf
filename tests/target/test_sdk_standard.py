"""singer-sdk's 16 standard target tests, each checking what landed in the local Delta tables."""

from __future__ import annotations

import json
import typing as t

import pyarrow as pa
import pytest
from singer_sdk.testing import get_target_test_class, target_tests
from singer_sdk.testing.runners import TargetTestRunner
from singer_sdk.testing.suites import SingerTestSuite
from target_testlib import read

from target_databricks.target import TargetDatabricks

TS = pa.timestamp("us", tz="UTC")


class Checked:
    """Mixin: validate() reads the landed table through the engine."""

    runner: TargetTestRunner

    @property
    def cfg(self) -> dict[str, t.Any]:
        return dict(self.runner.config)

    def table(self, name: str) -> pa.Table:
        return read(self.cfg, name)

    def rows(self, name: str, key: str = "id") -> dict[t.Any, dict[str, t.Any]]:
        return {r[key]: r for r in self.table(name).to_pylist()}


class ArrayData(Checked, target_tests.TargetArrayData):
    def validate(self) -> None:
        rows = self.rows("test_array_data")
        assert self.table("test_array_data").schema.field("fruits").type == pa.string()
        assert json.loads(rows[4]["fruits"]) == ["orange", "banana", "apple", "pear"]
        assert len(rows) == 4


class CamelcaseComplexSchema(Checked, target_tests.TargetCamelcaseComplexSchema):
    def validate(self) -> None:
        table = self.table("forecasting_type_to_category")
        assert {"id", "is_deleted", "created_date", "last_modified_date", "system_modstamp"} <= set(
            table.column_names
        )
        assert table.schema.field("is_deleted").type == pa.bool_()
        # anyOf [date-time string, plain string] is an unrelated union: text, never a lossy guess.
        assert table.schema.field("created_date").type == pa.string()
        assert table.num_rows == 0  # the file has SCHEMA messages only: an empty table still exists


class Camelcase(Checked, target_tests.TargetCamelcaseTest):
    def validate(self) -> None:
        rows = self.rows("test_camelcase")
        assert rows["1"]["client_name"] == "Gitter Windows Desktop App"
        assert rows["2"]["client_name"] == "Gitter iOS App"


class CliPrints(Checked, target_tests.TargetCliPrintsTest):
    pass  # checks --about/--version output only; there is no data to read


class DuplicateRecords(Checked, target_tests.TargetDuplicateRecords):
    def validate(self) -> None:
        assert {k: r["metric"] for k, r in self.rows("test_duplicate_records").items()} == {1: 100, 2: 20}


class EncodedStringData(Checked, target_tests.TargetEncodedStringData):
    def validate(self) -> None:
        rows = self.rows("test_strings")
        assert rows[2]["info"] == "απλή συμβολοσειρά"
        assert rows[3]["info"] == "简单的字串"
        assert rows[6]["info"] == 'various " \\ / \n escape sequences'
        assert rows[11]["info"] == "Control Characters in string: \x00 A \x01"
        assert len(rows) >= 11


class InvalidSchema(Checked, target_tests.TargetInvalidSchemaTest):
    def validate(self) -> None:
        # The base test asserts the exception; nothing may have been created for the stream.
        with pytest.raises(Exception, match="does not exist"):
            self.table("test_invalid_schema")


class NoPrimaryKeys(Checked, target_tests.TargetNoPrimaryKeys):
    def validate(self) -> None:
        table = self.table("test_no_pk")
        assert sorted(table.column("metric").to_pylist()) == [11, 22, 33]


class OptionalAttributes(Checked, target_tests.TargetOptionalAttributes):
    def validate(self) -> None:
        rows = self.rows("test_optional_attributes")
        assert rows[1]["optional"] == "This is optional"
        assert rows[2]["optional"] is None
        assert len(rows) == 4


class RecordBeforeSchema(Checked, target_tests.TargetRecordBeforeSchemaTest):
    def validate(self) -> None:
        # The base test expects RecordsWithoutSchemaException on line 1: nothing was created.
        with pytest.raises(Exception, match="does not exist"):
            self.table("test_record_before_schema")


class RecordMissingKeyProperty(Checked, target_tests.TargetRecordMissingKeyProperty):
    def validate(self) -> None:
        # MissingKeyPropertiesError (asserted by the base test): the table exists, no row landed.
        assert self.table("test_record_missing_key_property").num_rows == 0


class RecordMissingFields(Checked, target_tests.TargetRecordMissingOptionalFields):
    def validate(self) -> None:
        rows = self.rows("record_missing_fields")
        assert rows[1]["optional"] == "now you see me"
        assert rows[2]["optional"] is None


class SchemaNoProperties(Checked, target_tests.TargetSchemaNoProperties):
    def validate(self) -> None:
        with_props = self.table("test_object_schema_with_properties")
        no_props = self.table("test_object_schema_no_properties")
        assert [json.loads(v) for v in with_props.column("object_store").to_pylist()] == [
            {"id": 1, "metric": 187},
            {"id": 2, "metric": 203},
        ]
        assert no_props.schema.field("object_store").type == pa.string()
        assert sorted(json.loads(v)["metric"] for v in no_props.column("object_store").to_pylist()) == [1, 2]


class SchemaUpdates(Checked, target_tests.TargetSchemaUpdates):
    def validate(self) -> None:
        table = self.table("test_schema_updates")
        assert table.schema.field("a1").type == pa.float64()
        assert table.schema.field("a3").type == pa.bool_()
        assert table.schema.field("a6").type == pa.int64()
        rows = self.rows("test_schema_updates")
        assert len(rows) == 6
        assert rows[1]["a3"] is None and rows[1]["a6"] is None  # added later, null for old rows
        assert json.loads(rows[4]["a4"]) == {"id": 2, "value": 22}
        assert rows[6]["a6"] == 341 and rows[6]["a1"] == 106.0


class PrimaryKeyUpdates(Checked, target_tests.TargetPrimaryKeyUpdates):
    def validate(self) -> None:
        rows = self.rows("example_stream")
        assert {k: r["email"] for k, r in rows.items()} == {1: "alice@example.com", 2: "bob@example.com"}


class SpecialCharsInAttributes(Checked, target_tests.TargetSpecialCharsInAttributes):
    def validate(self) -> None:
        table = self.table("test_special_chars_in_attributes")
        row = table.to_pylist()[0]
        assert row["_id"] == "a2e98886"  # a leading underscore of the source name stays
        assert json.loads(row["d"])["agent:os:version"] == "10.13.1"
        assert row["_sdc_table_version"] == 1541199424491
        assert table.schema.field("_sdc_extracted_at").type == TS


SUITE = SingerTestSuite(
    kind="target",
    tests=[
        ArrayData,
        CamelcaseComplexSchema,
        Camelcase,
        CliPrints,
        DuplicateRecords,
        EncodedStringData,
        InvalidSchema,
        NoPrimaryKeys,
        OptionalAttributes,
        RecordBeforeSchema,
        RecordMissingKeyProperty,
        RecordMissingFields,
        SchemaNoProperties,
        SchemaUpdates,
        PrimaryKeyUpdates,
        SpecialCharsInAttributes,
    ],
)

_Base = get_target_test_class(
    TargetDatabricks, config={}, custom_suites=[SUITE], include_target_tests=False, parse_env_config=False
)


class TestTargetDatabricksStandard(_Base):  # type: ignore[misc,valid-type]
    @pytest.fixture
    def runner(self, tmp_path: t.Any) -> TargetTestRunner:
        return TargetTestRunner(
            target_class=TargetDatabricks,
            config={"local_path": str(tmp_path / "lake"), "schema": "datev"},
            parse_env_config=False,
        )


def test_suite_has_all_sixteen_standard_tests() -> None:
    standard = {
        cls.name for cls in target_tests.__dict__.values() if isinstance(cls, type) and hasattr(cls, "name")
    }
    ours = {cls.name for cls in SUITE.tests}
    from singer_sdk.testing.suites import target_tests as default_suite

    assert {cls.name for cls in default_suite.tests} == ours
    assert len(ours) == 16
    assert ours <= standard

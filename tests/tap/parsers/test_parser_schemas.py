"""The JSON schemas agree with the column definitions and with what the parsers emit."""

from __future__ import annotations

import json
import typing as t
from importlib import resources

import pytest
from extf_builder import booking, extf_bytes, q

from tap_datev import extf
from tap_datev.booking_line import DERIVED_FIELDS, RECORD_FIELDS
from tap_datev.extf_columns import (
    BUCHUNGSSTAPEL_V9,
    BUCHUNGSSTAPEL_V13,
    DEBITOREN_KREDITOREN_V5,
    KONTENBESCHRIFTUNGEN_V3,
    snake_case,
)

MONEY = {
    "type": ["string", "null"],
    "format": "x-singer.decimal",
    "x-sql-datatype": "decimal",
    "x-sql-datatype-properties": {"precision": 15, "scale": 2},
}


def schema(stream: str) -> dict[str, t.Any]:
    text = resources.files("tap_datev").joinpath("schemas", f"{stream}.json").read_text(encoding="utf-8")
    return t.cast("dict[str, t.Any]", json.loads(text))


def test_booking_lines_schema_covers_every_v13_column_and_derived_field() -> None:
    props = schema("booking_lines")["properties"]
    assert set(props) == set(RECORD_FIELDS)
    assert len(BUCHUNGSSTAPEL_V13) == 125 and len(BUCHUNGSSTAPEL_V9) == 120
    for col in BUCHUNGSSTAPEL_V13:
        prop = props[col.field]
        assert col.field.isascii() and col.field == col.field.lower()
        if col.kind == "amount":
            assert {k: prop[k] for k in MONEY} == MONEY, col.field
        elif col.kind == "int":
            assert prop["type"] == ["integer", "null"], col.field
        elif col.kind == "date":
            assert prop["format"] == "date", col.field
    assert {k: props["kurs"][k] for k in ("format", "x-sql-datatype", "x-sql-datatype-properties")} == {
        "format": "x-singer.decimal",
        "x-sql-datatype": "decimal",
        "x-sql-datatype-properties": {"precision": 10, "scale": 6},
    }
    for money_field in ("amount", "account_amount", "contra_account_amount", "account_amount_eur"):
        assert {k: props[money_field][k] for k in MONEY} == MONEY
    assert props["booking_date"]["format"] == "date"
    assert "extra" in DERIVED_FIELDS and props["is_general_reversal"]["type"] == "boolean"


def test_named_fields_the_brief_promises() -> None:
    fields = {c.field for c in BUCHUNGSSTAPEL_V13}
    expected = {"umsatz", "soll_haben_kennzeichen", "wkz_umsatz", "kurs", "basis_umsatz", "wkz_basis_umsatz"}
    expected |= {"konto", "gegenkonto", "bu_schluessel", "belegdatum", "belegfeld_1", "belegfeld_2", "skonto"}
    expected |= {"buchungstext", "generalumkehr"}
    assert expected <= fields


def test_account_numbers_are_integers_everywhere() -> None:
    assert schema("booking_lines")["properties"]["konto"]["type"] == ["integer", "null"]
    assert schema("booking_lines")["properties"]["gegenkonto"]["type"] == ["integer", "null"]
    assert schema("gl_accounts")["properties"]["account_number"]["type"] == "integer"
    assert schema("business_partners")["properties"]["account_number"]["type"] == "integer"


def test_master_data_columns() -> None:
    assert [c.field for c in KONTENBESCHRIFTUNGEN_V3] == [
        "konto",
        "kontenbeschriftung",
        "sprach_id",
        "kontenbeschriftung_lang",
    ]
    fields = [c.field for c in DEBITOREN_KREDITOREN_V5]
    assert len(fields) == len(set(fields)) == 254
    assert fields[:3] == ["konto", "name_adressattyp_unternehmen", "unternehmensgegenstand"]
    assert snake_case("Kreditoren-Skonto 1 %") == "kreditoren_skonto_1_prozent"
    assert snake_case("Straße (Rechnungsadresse)") == "strasse_rechnungsadresse"


def test_rows_keep_raw_text_with_none_for_empty_fields() -> None:
    f = extf.read_extf(extf_bytes([booking("12,50", at={11: q("RE-1")})]))
    row = f.rows[0]
    assert (row[0], row[1], row[6], row[9], row[10], row[2], row[3]) == (
        "12,50",
        "S",
        "1200",
        "1503",
        "RE-1",
        None,
        None,
    )
    assert len(row) == 125 and f.column_names[0] == "Column 1"


def test_trailing_empty_fields_do_not_warn_per_line() -> None:
    rows = [[*booking(), ""] for _ in range(3)]  # a trailing separator on every line
    f = extf.read_extf(extf_bytes(rows))
    recs = list(extf.booking_lines(f, client_id="c", batch_id="b", job_id=None, job_result=None))
    assert len(recs) == 3 and f.warnings == []


def test_too_few_columns_for_a_batch() -> None:
    f = extf.read_extf(
        extf_bytes([["1,00", q("S"), "", "", "", "", "1200", "8400", ""]], width=9, header={5: "5"})
    )
    with pytest.raises(extf.ExtfError, match="at least 14"):
        list(extf.booking_lines(f, client_id="c", batch_id="b", job_id=None, job_result=None))

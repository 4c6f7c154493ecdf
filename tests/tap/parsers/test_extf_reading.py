"""EXTF reading on generated files: encodings, quoting, NFC, format versions, fiscal years, amounts."""

from __future__ import annotations

import codecs
import typing as t
import unicodedata
from decimal import Decimal

import pytest
from extf_builder import booking, extf_bytes, q

from tap_datev import extf


def records(data: bytes, **kwargs: t.Any) -> tuple[extf.ExtfFile, list[dict[str, t.Any]]]:
    f = extf.read_extf(data, "EXTF_test.csv")
    recs = list(
        extf.booking_lines(f, client_id="29098-55003", batch_id="b", job_id=None, job_result=None, **kwargs)
    )
    return f, recs


def test_nfd_text_becomes_nfc(validate: t.Any) -> None:
    nfd = unicodedata.normalize("NFD", "Bürobedarf Müller")
    assert nfd != "Bürobedarf Müller"
    data = extf_bytes([booking(text=nfd)], encoding="utf-8", bom=codecs.BOM_UTF8)
    f, (rec,) = records(data)
    assert (f.encoding, f.had_bom, f.warnings) == ("utf-8", True, [])
    assert rec["buchungstext"] == "Bürobedarf Müller"
    assert unicodedata.is_normalized("NFC", rec["buchungstext"])
    validate("booking_lines", [rec])


def test_windows_1252_euro_dash_and_typographic_quotes() -> None:
    text = "\u201eBüro\u201c 5 \u20ac \u2013 \u201aok\u2018"
    data = extf_bytes([booking(text=text)], encoding="cp1252")
    assert (
        b"\x80" in data and b"\x84" in data and b"\x96" in data
    )  # euro, low quote, en dash: cp1252, not latin-1
    f, (rec,) = records(data)
    assert (f.encoding, f.had_bom, f.warnings) == ("windows-1252", False, [])
    assert rec["buchungstext"] == text


def test_separator_quotes_and_line_breaks_inside_quoted_text() -> None:
    tricky = 'Miete; Büro "Nord"\r\nzweite Zeile\ndritte'
    rows = [booking(text=tricky), booking("5,00", "H", text='nur "Anführung"')]
    f, (first, second) = records(extf_bytes(rows))
    assert first["buchungstext"] == tricky
    assert second["buchungstext"] == 'nur "Anführung"'  # written as "nur ""Anführung"""
    # physical lines: header 1, names 2, first row 3-5, second row 6
    assert f.line_numbers == [3, 6]
    assert (first["line_number"], second["line_number"]) == (3, 6)
    assert len(f.rows[0]) == len(f.rows[1]) == 125


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_lf_and_crlf(newline: str) -> None:
    f, recs = records(extf_bytes([booking(), booking("2,50", "H")], newline=newline))
    assert [r["account_amount"] for r in recs] == ["100.00", "-2.50"]
    assert f.line_numbers == [3, 4]


@pytest.mark.parametrize(("bom", "encoding", "name"), [
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
    (codecs.BOM_UTF8, "utf-8", "utf-8"),
])  # fmt: skip
def test_unicode_with_bom(bom: bytes, encoding: str, name: str) -> None:
    data = extf_bytes([booking(text="Čeština € ✓")], encoding=encoding, bom=bom)
    f, (rec,) = records(data)
    assert (f.encoding, f.had_bom, f.warnings) == (name, True, [])
    assert rec["buchungstext"] == "Čeština € ✓"
    assert f.header.client_id == "29098-55003"


def test_bomless_utf8_is_read_as_utf8_with_a_warning() -> None:
    data = extf_bytes([booking(text="Gebäude")], encoding="utf-8")
    f, (rec,) = records(data)
    assert (f.encoding, f.had_bom) == ("utf-8", False)
    assert rec["buchungstext"] == "Gebäude"
    assert len(f.warnings) == 1
    assert "Windows-1252" in f.warnings[0]
    assert "line 3, field 'Column 14'" in f.warnings[0]


def test_empty_fields_are_none_and_empty_text_is_null() -> None:
    f, (rec,) = records(extf_bytes([booking(at={11: q(""), 13: ""})]))
    assert f.rows[0][10] is None and f.rows[0][12] is None
    assert rec["belegfeld_1"] is None and rec["skonto"] is None


def test_whole_and_decimal_comma_amounts_are_exact() -> None:
    rows = [booking("64083"), booking("0,1", "H"), booking("1234567890,99"), booking("0,10", "H")]
    _, recs = records(extf_bytes(rows))
    assert [r["amount"] for r in recs] == ["64083.00", "0.10", "1234567890.99", "0.10"]
    assert [r["account_amount"] for r in recs] == ["64083.00", "-0.10", "1234567890.99", "-0.10"]
    total = sum(Decimal(r["account_amount_eur"]) for r in recs)
    assert total == Decimal("1234631973.79")  # exact: Decimal, never float


def test_eur_from_rate_when_no_base_amount_half_up() -> None:
    chf = booking("124,00", "H", at={3: q("CHF"), 4: "1,240402"})
    usd = booking("10,01", "S", at={3: q("USD"), 4: "2,0"})  # 5.005 -> 5.01 (half up)
    eur_with_header_currency = booking("7,00", "S", at={3: q("")})
    unknown = booking("3,00", "S", at={3: q("GBP")})
    f, recs = records(extf_bytes([chf, usd, eur_with_header_currency, unknown]))
    assert [r["currency"] for r in recs] == ["CHF", "USD", "EUR", "GBP"]
    assert [r["account_amount_eur"] for r in recs] == ["-99.97", "5.01", "7.00", None]
    assert [r["contra_account_amount_eur"] for r in recs] == ["99.97", "-5.01", "-7.00", None]
    assert recs[0]["kurs"] == "1.240402"
    assert any("line 6" in w and "no EUR amount" in w for w in f.warnings)


def test_fiscal_year_starting_in_july() -> None:
    header = {13: "20250701", 15: "20250701", 16: "20260630"}
    rows = [booking(belegdatum=d) for d in ("0101", "1507", "3006", "0107", "2902", "101")]
    f, recs = records(extf_bytes(rows, header=header))
    assert [r["booking_date"] for r in recs] == [
        "2026-01-01", "2025-07-15", "2026-06-30", "2025-07-01", None, "2026-01-01",
    ]  # fmt: skip
    assert recs[4]["belegdatum"] == "2902"
    assert any("line 7" in w and "impossible date" in w for w in f.warnings)  # 2026 is no leap year


def test_leap_day_and_date_outside_period_in_lenient_read() -> None:
    header = {13: "20240101", 15: "20240201", 16: "20240229"}
    f, recs = records(extf_bytes([booking(belegdatum="2902"), booking(belegdatum="1503")], header=header))
    assert [r["booking_date"] for r in recs] == ["2024-02-29", "2024-03-15"]
    assert any("line 4" in w and "outside the header period" in w for w in f.warnings)


def _v9_header() -> dict[int, str]:
    return {5: "9"}


def test_v9_and_v13_map_to_the_same_fields(validate: t.Any) -> None:
    extra = {14: q("Text"), 37: q("KST1"), 116: "01032025", 118: q("1")}
    v13 = extf_bytes([booking(at={**extra, 125: "1590"})])
    v9 = extf_bytes([booking(width=120, at=extra)], header=_v9_header(), width=120)
    (_, (r13,)), (f9, (r9,)) = records(v13), records(v9)
    assert f9.header.format_version == 9 and len(f9.rows[0]) == 120
    assert set(r9) == set(r13)
    differing = {k for k in r13 if r13[k] != r9[k]}
    assert differing == {"abw_skontokonto"}
    assert (r13["abw_skontokonto"], r9["abw_skontokonto"]) == (1590, None)
    assert (r9["kost1_kostenstelle"], r9["datum_zuord_steuerperiode"], r9["is_general_reversal"]) == (
        "KST1", "2025-03-01", True,
    )  # fmt: skip
    validate("booking_lines", [r9, r13])


def test_unknown_older_version_maps_by_position() -> None:
    data = extf_bytes([booking(width=116)], header={5: "7", 2: "510"}, width=116)
    f, (rec,) = records(data)
    assert (f.header.version, f.header.format_version, len(f.columns)) == (510, 7, 116)
    assert rec["konto"] == 1200 and rec["generalumkehr"] is None


def test_bad_values_become_null_with_warnings_in_lenient_read() -> None:
    bad = booking("1.234,50", "X", konto="12a0", at={115: "31022025"})
    f, (rec, good) = records(extf_bytes([bad, booking()]))
    assert good["amount"] == "100.00"
    assert (rec["amount"], rec["debit_credit"], rec["konto"], rec["leistungsdatum"]) == (
        None,
        None,
        None,
        None,
    )
    assert rec["account_amount"] is None
    joined = "\n".join(f.warnings)
    for field in ("'Umsatz (ohne Soll/Haben-Kz)'", "'Soll/Haben-Kennzeichen'", "'Konto'", "'Leistungsdatum'"):
        assert f"line 3, field {field}" in joined


def test_labels_map_account_numbers() -> None:
    _, (rec,) = records(extf_bytes([booking()]), labels={"1200": "Bank", "8400": "Erlöse 19 % USt"})
    assert (rec["account_label"], rec["contra_account_label"]) == ("Bank", "Erlöse 19 % USt")


def test_trailing_blank_lines_are_ignored_and_inner_ones_warned() -> None:
    f = extf.read_extf(extf_bytes([booking(), [], booking()]) + b"\r\n\r\n")
    assert len(f.rows) == 2
    assert f.line_numbers == [3, 5]
    assert len(f.warnings) == 1 and "line 4" in f.warnings[0]


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b'"EXTF";700;21;"Buchungsstapel";13\r\n', "column-name line"),
    (b'"XYZ";700;21\r\nA;B\r\n', "not an EXTF header"),
    (extf_bytes([booking()], header={12: "abc"}), "Mandantennummer"),
])  # fmt: skip
def test_unreadable_files_raise(data: bytes, message: str) -> None:
    with pytest.raises(extf.ExtfError, match=message):
        extf.read_extf(data, "EXTF_x.csv")


def test_error_message_format() -> None:
    err = extf.ExtfError("EXTF_x.csv", 7, "Umsatz", "bad")
    assert str(err) == "EXTF_x.csv line 7, field 'Umsatz': bad"
    assert (err.filename, err.line, err.field, err.reason) == ("EXTF_x.csv", 7, "Umsatz", "bad")
    assert isinstance(err, ValueError)
    assert str(extf.ExtfError("EXTF_x.csv", None, None, "too big")) == "EXTF_x.csv: too big"


def test_booking_lines_refuses_other_categories() -> None:
    f = extf.read_extf(
        extf_bytes(
            [["400", q("Kasse"), q("de-DE")]], header={3: "20", 4: q("Kontenbeschriftungen"), 5: "2"}, width=3
        )
    )
    assert [r["label"] for r in extf.gl_accounts(f, client_id="c")] == ["Kasse"]
    with pytest.raises(extf.ExtfError, match="not a Buchungsstapel"):
        next(extf.booking_lines(f, client_id="c", batch_id="b", job_id=None, job_result=None))

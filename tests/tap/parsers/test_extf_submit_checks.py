"""check_for_submit: every refusal names the file, the line and the field; valid files pass."""

from __future__ import annotations

import codecs

import pytest
from extf_builder import booking, extf_bytes, q

from tap_datev import extf

NAME = "EXTF_Buchungsstapel_2025_03.csv"
LABELS_HEADER = {3: "20", 4: q("Kontenbeschriftungen"), 5: "3", 15: "", 16: ""}


def refusal(data: bytes, filename: str = NAME) -> extf.ExtfError:
    with pytest.raises(extf.ExtfError) as info:
        extf.check_for_submit(data, filename)
    err = info.value
    assert str(err).startswith(filename)
    return err


def test_valid_batch_passes() -> None:
    rows = [
        booking(),
        booking("64083", "H", belegdatum="0101"),  # whole-number amount, as in DATEV's own sample
        booking("124,00", "H", at={3: q("CHF"), 4: "1,240402", 5: "100,00", 6: q("EUR")}),
        booking("5,00", "S", text='Semikolon; "Zitat"', at={118: q("1"), 115: "15032025", 116: "15032025"}),
    ]
    f = extf.check_for_submit(extf_bytes(rows), NAME)
    assert len(f.rows) == 4
    assert f.warnings == []


def test_valid_labels_and_unicode_with_bom_pass() -> None:
    data = extf_bytes([["400", q("Büroausstattung"), q("de-DE"), q("")]], header=LABELS_HEADER, width=4)
    assert len(extf.check_for_submit(data, "EXTF_Kontenbeschriftungen.csv").rows) == 1
    utf16 = extf_bytes([booking(text="Straße €")], encoding="utf-16-le", bom=codecs.BOM_UTF16_LE)
    assert extf.check_for_submit(utf16, NAME).encoding == "utf-16-le"


def test_bomless_utf8_is_refused_and_add_bom_fixes_it() -> None:
    data = extf_bytes([booking(), booking(text="Gebäude")], encoding="utf-8")
    err = refusal(data)
    assert (err.line, err.field) == (4, "Column 14")
    assert "Windows-1252" in err.reason and "--add-bom" in err.reason
    fixed = extf.add_bom(data)
    assert fixed == codecs.BOM_UTF8 + data
    assert extf.check_for_submit(fixed, NAME).rows[1][13] == "Gebäude"
    # add_bom leaves files with a BOM and Windows-1252 files alone
    assert extf.add_bom(fixed) == fixed
    cp1252 = extf_bytes([booking(text="Gebäude")])
    assert extf.add_bom(cp1252) == cp1252


def test_undecodable_bytes() -> None:
    data = extf_bytes([booking(), booking(text="Xy")]).replace(
        b'"Xy"', b'"X\x81y"'
    )  # 0x81: undefined in cp1252
    err = refusal(data)
    assert (err.line, err.field) == (4, "Column 14")
    assert "81" in err.reason and "windows-1252" in err.reason


@pytest.mark.parametrize(
    ("filename", "ok"),
    [
        ("EXTF_Buchungsstapel.csv", True),
        ("EXTF_.csv", True),
        ("EXTF_" + "x" * 51 + ".csv", True),
        ("EXTF_" + "x" * 52 + ".csv", False),
        ("Buchungsstapel.csv", False),
        ("EXTF_Buchungsstapel.txt", False),
        ("extf_buchungsstapel.csv", False),
    ],
)
def test_file_name_pattern(filename: str, ok: bool) -> None:
    data = extf_bytes([booking()])
    if ok:
        assert len(extf.check_for_submit(data, filename).rows) == 1
    else:
        err = refusal(data, filename)
        assert (err.line, err.field) == (None, None)
        assert "EXTF_" in err.reason


def test_file_name_must_travel_in_the_filename_header() -> None:
    assert len(extf.check_for_submit(extf_bytes([booking()]), "EXTF_Büro_März.csv").rows) == 1
    err = refusal(extf_bytes([booking()]), "EXTF_Stapel_€.csv")
    assert (err.line, err.field) == (None, None)
    assert "'€' cannot be sent in the Filename header" in err.reason


def test_over_50_mb() -> None:
    data = extf_bytes([booking()])
    big = data + b" " * (50 * 1024 * 1024 + 1 - len(data))
    err = refusal(big)
    assert "50 MB" in err.reason


def test_over_99999_lines() -> None:
    # the line count is checked before the lines themselves, so short lines keep this test fast
    data = extf_bytes([]) + b'1,00;"S"\r\n' * 100_000
    err = refusal(data)
    assert "99,999" in err.reason


@pytest.mark.parametrize(
    ("header", "field", "words"),
    [
        ({1: q("DTVF")}, "Kennzeichen", "EXTF"),
        ({2: "510"}, "Versionsnummer", "700"),
        ({3: "99"}, "Formatkategorie", "not a known"),
        ({3: "46", 4: q("Zahlungsbedingungen"), 5: "2"}, "Formatkategorie", "not supported"),
        ({4: q("Buchungen")}, "Formatname", "Buchungsstapel"),
        ({5: "14"}, "Formatversion", "12, 13"),
        ({5: "11"}, "Formatversion", ">= 12"),
        ({6: "2025010203"}, "Erzeugt am", "17 digits"),
        ({7: "1"}, "Importiert", "must be empty"),
        ({11: "999"}, "Beraternummer", "1001..9999999"),
        ({12: "100000"}, "Mandantennummer", "1..99999"),
        ({13: "20251301"}, "WJ-Beginn", "JJJJMMTT"),
        ({13: ""}, "WJ-Beginn", "required"),
        ({14: "9"}, "Sachkontenlänge", "4..8"),
        ({15: ""}, "Datum vom", "required"),
        ({15: "20250401", 16: "20250301"}, "Datum bis", "before Datum vom"),
        ({16: "20260115"}, "Datum bis", "fiscal year"),
        ({22: q("Euro")}, "WKZ", "ISO 4217"),
        ({24: q("X")}, "Derivatskennzeichen", "must be empty"),
        ({29: "1"}, "reserviert", "must be empty"),
    ],
)
def test_header_refusals(header: dict[int, str], field: str, words: str) -> None:
    err = refusal(extf_bytes([booking()], header=header))
    assert (err.line, err.field) == (1, field)
    assert words in err.reason


def test_short_header() -> None:
    data = (
        b'"EXTF";700;21;"Buchungsstapel";13;;;"";"";"";29098;55003;20250101\r\n'
        + extf_bytes([booking()]).split(b"\r\n", 1)[1]
    )
    err = refusal(data)
    assert err.line == 1 and "31" in err.reason


def test_labels_format_version_and_column_names() -> None:
    data = extf_bytes([["400", q("Kasse"), q("de-DE")]], header={**LABELS_HEADER, 5: "7"}, width=3)
    err = refusal(data)
    assert (err.line, err.field) == (1, "Formatversion")
    too_many_names = extf_bytes([booking(width=126)], width=126)
    err = refusal(too_many_names)
    assert err.line == 2 and "126" in err.reason


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        (booking(width=124), "Abw. Skontokonto", "124 fields"),
        (booking(width=126), "column 126", "126 fields"),
        (booking("1.234,50"), "Umsatz (ohne Soll/Haben-Kz)", "not an amount"),
        (booking("-5,00"), "Umsatz (ohne Soll/Haben-Kz)", "not an amount"),
        (booking("1,234"), "Umsatz (ohne Soll/Haben-Kz)", "2 decimals"),
        (booking("12345678901,00"), "Umsatz (ohne Soll/Haben-Kz)", "10 digits"),
        (booking(""), "Umsatz (ohne Soll/Haben-Kz)", "needs an amount"),
        (booking("0,00"), "Umsatz (ohne Soll/Haben-Kz)", "zero"),
        (booking("0"), "Umsatz (ohne Soll/Haben-Kz)", "zero"),
        (booking(at={13: "0,00"}), "Skonto", "zero"),
        (booking("5,00", "X"), "Soll/Haben-Kennzeichen", "S (Soll) or H (Haben)"),
        (booking("5,00", "s"), "Soll/Haben-Kennzeichen", "S (Soll) or H (Haben)"),
        (booking(belegdatum="3102"), "Belegdatum", "impossible date"),
        (booking(belegdatum="0013"), "Belegdatum", "impossible date"),
        (booking(belegdatum="15.03"), "Belegdatum", "TTMM"),
        (booking(belegdatum=""), "Belegdatum", "required"),
        (booking(konto=""), "Konto", "required"),
        (booking(konto="12A"), "Konto", "digits only"),
        (booking(gegenkonto="1234567890"), "Gegenkonto (ohne BU-Schlüssel)", "more than 9 digits"),
        (booking(at={4: "0,0", 3: q("USD")}), "Kurs", "0 is not allowed"),
        (booking(at={5: "100,00"}), "WKZ Basis-Umsatz", "together"),
        (booking(at={115: "31022025"}), "Leistungsdatum", "impossible date"),
        (booking(at={15: "ja"}), "Postensperre", "digits only"),
    ],
)
def test_row_refusals(row: list[str], field: str, words: str) -> None:
    data = extf_bytes([booking(), row])  # the bad line is line 4
    err = refusal(data)
    assert (err.line, err.field) == (4, field)
    assert words in err.reason
    assert str(err).startswith(f"{NAME} line 4, field '{field}': ")


def test_date_outside_the_header_period() -> None:
    header = {13: "20250701", 15: "20250701", 16: "20250930"}
    assert extf.check_for_submit(extf_bytes([booking(belegdatum="3009")], header=header), NAME)
    err = refusal(extf_bytes([booking(belegdatum="0110")], header=header))
    assert (err.line, err.field) == (3, "Belegdatum")
    assert "outside the header period" in err.reason and "30.09.2025" in err.reason


def test_date_resolution_across_new_year_in_fiscal_year_from_july() -> None:
    header = {13: "20250701", 15: "20251201", 16: "20260131"}
    f = extf.check_for_submit(
        extf_bytes([booking(belegdatum="1512"), booking(belegdatum="1501")], header=header), NAME
    )
    recs = list(extf.booking_lines(f, client_id="c", batch_id="b", job_id=None, job_result=None))
    assert [r["booking_date"] for r in recs] == ["2025-12-15", "2026-01-15"]


def test_inner_empty_line_and_broken_csv() -> None:
    err = refusal(extf_bytes([booking(), [], booking()]))
    assert err.line == 4 and "empty line" in err.reason
    broken = extf_bytes([booking(text="x")]).replace(b'"x"', b'"x"y"')
    err = refusal(broken)
    assert err.line == 3 and "CSV" in err.reason


def test_labels_row_checks() -> None:
    err = refusal(extf_bytes([["", q("Kasse"), q("de-DE"), q("")]], header=LABELS_HEADER, width=4))
    assert (err.line, err.field) == (3, "Konto")
    err = refusal(extf_bytes([["400", q("Kasse"), q("de-DE")]], header=LABELS_HEADER, width=4))
    assert (err.line, err.field) == (3, "Kontenbeschriftung lang")


def test_whole_fiscal_year_from_july_passes() -> None:
    header = {13: "20250701", 15: "20250701", 16: "20260630"}
    rows = [booking(belegdatum="0107"), booking(belegdatum="3006"), booking(belegdatum="2902", konto="1000")]
    err = refusal(extf_bytes(rows, header=header))  # 2026 has no 29 February
    assert (err.line, err.field) == (5, "Belegdatum")
    f = extf.check_for_submit(extf_bytes(rows[:2], header=header), NAME)
    recs = list(extf.booking_lines(f, client_id="c", batch_id="b", job_id=None, job_result=None))
    assert [r["booking_date"] for r in recs] == ["2025-07-01", "2026-06-30"]


@pytest.mark.parametrize("char", ["\r\n", "\n", "\t", "\x0c"])
def test_control_characters_inside_a_field_are_refused(char: str) -> None:
    # Read leniently (test_extf_reading), but DATEV-Format forbids them and DATEV counts lines.
    err = refusal(extf_bytes([booking(), booking(text=f"Miete{char}Büro")]))
    assert (err.line, err.field) == (4, "Buchungstext")
    assert "control character" in err.reason

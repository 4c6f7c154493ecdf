"""What a checked EXTF file says: posting digest, totals, CR LF line ends, the client's fiscal years."""

from __future__ import annotations

import codecs
import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from extf_builder import booking, extf_bytes, q

from tap_datev import extf

NAME = "EXTF_Buchungsstapel_2025_03.csv"
ROWS = [
    booking("100,00", "S", text="Gebäude Straße"),
    booking("64083", "H", belegdatum="0101"),
    booking("124,00", "S", at={3: q("CHF"), 4: "1,240402", 5: "100,00", 6: q("EUR")}),
    booking("5,00", "S", text='Semikolon; "Zitat"'),
]


def digest(data: bytes, filename: str = NAME) -> str:
    return extf.posting_digest(extf.check_for_submit(data, filename))


def test_posting_digest_is_the_same_however_the_postings_are_spelled() -> None:
    original = digest(extf_bytes(ROWS))
    assert len(original) == 64 and int(original, 16) >= 0
    nfd_rows = [[unicodedata.normalize("NFD", token) for token in row] for row in ROWS]
    spellings = {
        "UTF-8 with BOM": extf_bytes(ROWS, encoding="utf-8", bom=codecs.BOM_UTF8),
        "UTF-8 with BOM, decomposed umlauts": extf_bytes(nfd_rows, encoding="utf-8", bom=codecs.BOM_UTF8),
        "UTF-16LE with BOM": extf_bytes(ROWS, encoding="utf-16-le", bom=codecs.BOM_UTF16_LE),
        "LF line ends": extf_bytes(ROWS, newline="\n"),
        "another creation time": extf_bytes(ROWS, header={6: "20250309101112013"}),
        "another label and exporter": extf_bytes(ROWS, header={9: q("jemand"), 17: q("Neu")}),
        "other column names": extf_bytes(ROWS, names=[f"Spalte {i}" for i in range(1, 126)]),
        "the lines in another order": extf_bytes(ROWS[::-1]),
    }
    for what, data in spellings.items():
        assert digest(data, "EXTF_other_name.csv") == original, what


@pytest.mark.parametrize(
    ("what", "rows", "header"),
    [
        ("one amount", [booking("100,01", "S", text="Gebäude Straße"), *ROWS[1:]], None),
        ("one side", [booking("100,00", "H", text="Gebäude Straße"), *ROWS[1:]], None),
        ("one text", [booking("100,00", "S", text="Gebaeude Strasse"), *ROWS[1:]], None),
        ("one line fewer", ROWS[1:], None),
        ("one line twice", [*ROWS, ROWS[0]], None),
        ("another client", ROWS, {12: "55004"}),
        ("another fiscal year", ROWS, {13: "20240101", 15: "20240101", 16: "20241231"}),
        ("another account length", ROWS, {14: "5"}),
        ("another currency", ROWS, {22: q("CHF")}),
    ],
)
def test_posting_digest_changes_with_what_is_booked(
    what: str, rows: list[list[str]], header: dict[int, str] | None
) -> None:
    assert digest(extf_bytes(rows, header=header)) != digest(extf_bytes(ROWS)), what


def test_batch_totals_per_side_unsigned_without_conversion() -> None:
    totals = extf.batch_totals(extf.check_for_submit(extf_bytes(ROWS), NAME))
    # S: 100,00 + 124,00 CHF (no conversion) + 5,00; H: 64083
    assert totals == extf.BatchTotals(4, Decimal("229.00"), Decimal("64083"))
    labels = extf_bytes(
        [["400", q("Büroausstattung"), q("de-DE"), q("")]],
        header={3: "20", 4: q("Kontenbeschriftungen"), 5: "3", 15: "", 16: ""},
        width=4,
    )
    assert extf.batch_totals(extf.check_for_submit(labels, "EXTF_Kontenbeschriftungen.csv")) is None


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("cp1252", b""), ("utf-8", codecs.BOM_UTF8), ("utf-16-le", codecs.BOM_UTF16_LE)],
)
def test_lf_line_ends_become_crlf(encoding: str, bom: bytes) -> None:
    lf = extf_bytes(ROWS, encoding=encoding, bom=bom, newline="\n")
    crlf = extf_bytes(ROWS, encoding=encoding, bom=bom, newline="\r\n")
    assert extf.with_crlf(lf, extf.check_for_submit(lf, NAME)) == crlf
    assert extf.with_crlf(crlf, extf.check_for_submit(crlf, NAME)) is crlf  # nothing to change
    mixed = crlf.replace("\r\n".encode(encoding), "\n".encode(encoding), 1)
    assert extf.with_crlf(mixed, extf.check_for_submit(mixed, NAME)) == crlf


YEARS = [
    extf.FiscalYear(date(2024, 1, 1), date(2024, 12, 31), 4),
    extf.FiscalYear(date(2025, 1, 1), date(2025, 12, 31), 4),
]


def test_header_matching_a_fiscal_year_of_the_client_passes() -> None:
    f = extf.check_for_submit(extf_bytes(ROWS), NAME)  # WJ-Beginn 20250101, Sachkontenlänge 4
    extf.check_fiscal_year(f, "29098-55003", YEARS)


def test_wj_beginn_not_a_fiscal_year_of_the_client_is_refused_naming_its_years() -> None:
    data = extf_bytes(ROWS, header={13: "20230101", 15: "20230101", 16: "20231231"})
    f = extf.check_for_submit(data, NAME)  # locally consistent: the dates lie in that year
    with pytest.raises(extf.ExtfError) as info:
        extf.check_fiscal_year(f, "29098-55003", YEARS)
    err = info.value
    assert (err.filename, err.line, err.field) == (NAME, 1, "WJ-Beginn")
    assert "20230101" in err.reason and "29098-55003" in err.reason
    assert "20240101-20241231, Sachkontenlänge 4; 20250101-20251231, Sachkontenlänge 4" in err.reason
    with pytest.raises(extf.ExtfError, match=r"its fiscal years: none"):
        extf.check_fiscal_year(f, "29098-55003", [])


def test_sachkontenlaenge_other_than_the_fiscal_year_s_is_refused() -> None:
    f = extf.check_for_submit(extf_bytes(ROWS, header={14: "6"}), NAME)
    with pytest.raises(extf.ExtfError) as info:
        extf.check_fiscal_year(f, "29098-55003", YEARS)
    err = info.value
    assert (err.line, err.field) == (1, "Sachkontenlänge")
    assert "6 does not match the account length 4" in err.reason and "20250101-20251231" in err.reason

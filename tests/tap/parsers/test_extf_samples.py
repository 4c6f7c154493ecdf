"""Conformance: the public EXTF sample files in ../shared/extf-samples.

Expected counts and sums are computed here with a plain `csv` read and Decimal arithmetic, not with
the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import typing as t
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tap_datev import extf
from tap_datev.extf_columns import columns_for

if t.TYPE_CHECKING:
    from pathlib import Path

PFF_BATCH = "pff_EXTF_Buchungsstapel_v700_13.csv"
LED_BATCH = "ledermann_EXTF_Buchungsstapel_v700_21_9.csv"
PFF_LABELS = "pff_EXTF_Sachkontobeschriftungen_v700_20_3.csv"
LED_LABELS = "ledermann_EXTF_Kontenbeschriftungen_v700_20_2.csv"
PFF_PARTNERS = "pff_EXTF_DebKred_Stamm_v700_16_5.csv"

ENCODINGS = {PFF_BATCH: "utf-8", LED_BATCH: "cp1252", PFF_LABELS: "cp1252", LED_LABELS: "cp1252"}
ENCODINGS[PFF_PARTNERS] = "cp1252"


def plain_rows(path: Path) -> list[list[str]]:
    """Every record of a sample, read with the csv module and the encoding the README states."""
    text = path.read_bytes().decode(ENCODINGS[path.name])
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def to_decimal(raw: str) -> Decimal:
    return Decimal(raw.replace(",", ".")) if raw else Decimal(0)


def batch_records(samples: Path, name: str, **kwargs: t.Any) -> tuple[extf.ExtfFile, list[dict[str, t.Any]]]:
    f = extf.read_extf((samples / name).read_bytes(), name)
    records = list(
        extf.booking_lines(
            f, client_id="29098-55003", batch_id="b-1", job_id="j-1", job_result="succeeded", **kwargs
        )
    )
    return f, records


@pytest.mark.parametrize("name", [PFF_BATCH, LED_BATCH])
def test_batch_counts_and_debit_credit_sums(samples: Path, name: str, validate: t.Any) -> None:
    rows = plain_rows(samples / name)[2:]
    expected_debit = sum(to_decimal(r[0]) for r in rows if r[1] == "S")
    expected_credit = sum(to_decimal(r[0]) for r in rows if r[1] == "H")

    f, records = batch_records(samples, name)

    assert len(f.rows) == len(records) == len(rows)
    signed = [Decimal(r["account_amount"]) for r in records]
    assert sum(s for s in signed if s > 0) == expected_debit
    assert -sum(s for s in signed if s < 0) == expected_credit
    # contra side is the exact negation, so account + contra sums to zero over the batch
    assert sum(Decimal(r["contra_account_amount"]) for r in records) == -sum(signed)
    assert all(r["amount"] == f"{to_decimal(row[0]):.2f}" for r, row in zip(records, rows, strict=True))
    assert validate("booking_lines", records) == len(rows)


def test_pff_batch_header_encoding_and_lines(samples: Path) -> None:
    f, records = batch_records(samples, PFF_BATCH)
    h = f.header
    assert (h.marker, h.version, h.category, h.format_name, h.format_version) == (
        "EXTF", 700, 21, "Buchungsstapel", 13,
    )  # fmt: skip
    assert (h.consultant_number, h.client_number, h.client_id) == (29098, 55003, "29098-55003")
    assert (h.fiscal_year_start, h.date_from, h.date_to) == (
        date(2024, 1, 1),
        date(2024, 1, 1),
        date(2024, 8, 31),
    )
    assert (h.account_length, h.currency, h.label, h.chart_of_accounts) == (4, "EUR", "Buchungsstapel", "03")
    assert h.created_at == datetime(2024, 1, 30, 14, 4, 40, 439000, tzinfo=ZoneInfo("Europe/Berlin"))
    assert len(h.raw) == 31
    # BOM-less UTF-8 with umlauts: read as UTF-8, with a warning (DATEV itself would use cp1252)
    assert (f.encoding, f.had_bom) == ("utf-8", False)
    assert any("without a byte order mark" in w for w in f.warnings)
    assert len(f.column_names) == 125
    assert f.column_names[7] == "Gegenkonto (ohne BU-Schlüssel)"
    assert f.line_numbers == list(range(3, 57))  # LF line ends, no quoted line breaks
    first = records[0]
    assert (first["umsatz"], first["konto"], first["gegenkonto"], first["belegdatum"]) == (
        "100.18",
        48400,
        8401,
        "3101",
    )
    assert (first["booking_date"], first["line_number"], first["buchungstext"]) == (
        "2024-01-31",
        3,
        "Test Anzahlung",
    )
    assert (first["veranlagungsjahr"], first["auftragsnummer"], first["erloeskonto_anzahlungen"]) == (
        2012, "Projekt 4711", 8070,
    )  # fmt: skip
    whole = next(r for r in records if r["konto"] == 4400)  # `64083`: a whole-number amount
    assert (whole["amount"], whole["account_amount_eur"]) == ("64083.00", "64083.00")
    umlaut = next(r for r in records if r["gegenkonto"] == 85)
    assert umlaut["buchungstext"] == "Normalabschreibung Gebäude"


def test_pff_foreign_currency_rows(samples: Path) -> None:
    plain = plain_rows(samples / PFF_BATCH)[2:]
    foreign = [(i, r) for i, r in enumerate(plain) if r[2] not in ("", "EUR")]
    _, records = batch_records(samples, PFF_BATCH)
    assert len(foreign) == 6
    for i, row in foreign:
        rec = records[i]
        assert rec["currency"] == row[2]
        assert Decimal(rec["kurs"]) == to_decimal(row[3])
        sign = 1 if row[1] == "S" else -1
        # EUR comes from Basis-Umsatz when present
        assert Decimal(rec["account_amount_eur"]) == sign * to_decimal(row[4])
        assert Decimal(rec["contra_account_amount_eur"]) == -sign * to_decimal(row[4])
    chf = records[foreign[0][0]]
    assert (chf["umsatz"], chf["wkz_umsatz"], chf["kurs"], chf["basis_umsatz"]) == (
        "124.00",
        "CHF",
        "1.240402",
        "100.00",
    )
    assert (chf["account_amount"], chf["account_amount_eur"], chf["line_number"]) == (
        "-124.00",
        "-100.00",
        19,
    )


def test_pff_general_reversal_rows_are_flagged_not_negated(samples: Path) -> None:
    plain = plain_rows(samples / PFF_BATCH)[2:]
    gu_positions = [i for i, r in enumerate(plain) if r[117] == "1"]
    _, records = batch_records(samples, PFF_BATCH)
    assert [i for i, r in enumerate(records) if r["is_general_reversal"]] == gu_positions
    assert len(gu_positions) == 5
    for i in gu_positions:
        sign = 1 if plain[i][1] == "S" else -1  # the file's S/H is already flipped by DATEV's GU rule
        assert Decimal(records[i]["account_amount"]) == sign * to_decimal(plain[i][0])
    # "501" and "501 GU" cancel out on account 70010
    pair = [r for r in records if r["konto"] == 70010]
    assert sum(Decimal(r["account_amount_eur"]) for r in pair) == 0


def test_ledermann_v9_maps_by_position_onto_v13_fields(samples: Path, validate: t.Any) -> None:
    raw = (samples / LED_BATCH).read_bytes()
    assert b"\r\n" in raw
    labels = {"1200": "Bank", "4940": "Zeitschriften, Bücher"}
    f, records = batch_records(samples, LED_BATCH, labels=labels)
    assert (f.encoding, f.had_bom, f.warnings) == ("windows-1252", False, [])
    assert (f.header.format_version, len(f.column_names), f.header.consultant_number) == (9, 120, 1001)
    assert f.header.exported_by == "Chief Accounting Officer"
    assert f.column_names[20] == "Beleginfo \u2013 Art 1"  # en dash, decoded from cp1252 0x96
    assert [c.field for c in f.columns] == [c.field for c in columns_for(21, 13) or ()][:120]
    first, second = records
    assert (first["konto"], first["gegenkonto"], first["bu_schluessel"], first["booking_date"]) == (
        1200, 4940, "8", "2018-02-21",
    )  # fmt: skip
    assert first["buchungstext"] == "Fachbuch: Controlling für Dummies"
    assert (first["account_label"], first["contra_account_label"]) == ("Bank", "Zeitschriften, Bücher")
    assert (first["account_amount"], first["contra_account_amount"]) == ("-24.95", "24.95")
    assert (second["belegfeld_1"], second["account_amount_eur"]) == ("RE201802-135", "5950.00")
    # columns v9 does not have are present and null
    assert all(first[k] is None for k in ("abrechnungsreferenz", "bvv_position", "abw_skontokonto"))
    assert f.line_numbers == [3, 4]
    assert validate("booking_lines", records) == 2


@pytest.mark.parametrize(("name", "version", "count"), [(PFF_LABELS, 3, 52), (LED_LABELS, 2, 3)])
def test_gl_account_labels(samples: Path, name: str, version: int, count: int, validate: t.Any) -> None:
    plain = plain_rows(samples / name)[2:]
    f = extf.read_extf((samples / name).read_bytes(), name)
    assert (f.header.category, f.header.format_version, f.warnings) == (20, version, [])
    records = list(extf.gl_accounts(f, client_id="29098-55003"))
    assert len(records) == len(plain) == count
    assert [(r["account_number"], r["label"]) for r in records] == [(int(p[0]), p[1]) for p in plain]
    assert {r["language"] for r in records} == {"de-DE"}
    if version == 3:
        assert [r["label_long"] for r in records] == [p[3] or None for p in plain]
        assert next(r for r in records if r["account_number"] == 8602)["label"] == "Erlöskorrektur 8601"
    else:
        assert all(r["label_long"] is None for r in records)
    assert validate("gl_accounts", records) == count


def test_business_partners(samples: Path, validate: t.Any) -> None:
    plain = plain_rows(samples / PFF_PARTNERS)
    assert len(plain[1]) == 254
    f = extf.read_extf((samples / PFF_PARTNERS).read_bytes(), PFF_PARTNERS)
    assert (f.header.category, f.header.format_version, len(f.column_names), f.warnings) == (16, 5, 254, [])
    records = list(extf.business_partners(f, client_id="29098-55003"))
    assert validate("business_partners", records) == 4
    assert [(r["account_number"], r["name"]) for r in records] == [
        (10000, "Möbel Testgruber"),
        (20000, "Einrichtungshaus Muster"),
        (30000, "Hans Mustermeier"),
        (40000, "Susanne Testhuber"),
    ]
    first = records[0]
    assert (first["addressee_type"], first["short_name"], first["eu_country"], first["eu_vat_id"]) == (
        2, "Möbel Testgrube", "DE", "133546770",
    )  # fmt: skip
    assert (first["street"], first["postal_code"], first["city"]) == (
        "Nelkenteststraße 125",
        "90482",
        "Nürnberg",
    )
    assert (first["iban"], first["swift_code"], first["partner_type"]) == (
        "DE49100102220002222222", "GENODEF1S12", "debtor",
    )  # fmt: skip
    extra = json.loads(first["extra"])
    assert extra["briefanrede"] == "Sehr geehrte Frau"
    assert extra["sepa_mandatsreferenz_10"] == "778259637"
    # every non-empty column of the file is either mapped or kept in extra
    non_empty = sum(1 for v in plain[2] if v)
    mapped = sum(
        1
        for k, v in first.items()
        if v is not None and k not in ("client_id", "name", "partner_type", "extra")
    )
    assert mapped + len(extra) == non_empty


@pytest.mark.parametrize("name", [PFF_BATCH, PFF_LABELS, LED_LABELS, PFF_PARTNERS])
def test_current_samples_pass_submit_checks(samples: Path, name: str) -> None:
    # The pff batch is BOM-less UTF-8: refused as it is, accepted once the BOM is added.
    data = (samples / name).read_bytes()
    if name == PFF_BATCH:
        with pytest.raises(extf.ExtfError, match="--add-bom") as info:
            extf.check_for_submit(data, "EXTF_Buchungsstapel.csv")
        assert (info.value.line, info.value.field) == (2, "Gegenkonto (ohne BU-Schlüssel)")
        data = extf.add_bom(data)
    f = extf.check_for_submit(data, "EXTF_sample.csv")
    assert len(f.rows) == len(plain_rows(samples / name)) - 2


def test_v9_sample_is_refused_for_submit(samples: Path) -> None:
    with pytest.raises(extf.ExtfError) as info:
        extf.check_for_submit((samples / LED_BATCH).read_bytes(), "EXTF_Buchungsstapel.csv")
    assert (info.value.line, info.value.field) == (1, "Formatversion")
    assert "12" in info.value.reason

"""booking_lines reads a file in a plain encoding (ASCII, Windows-1252, UTF-8 with BOM) a block of
lines at a time, whole columns at once; other files (UTF-16, undecodable bytes) line by line.
Both give the same records and the same warnings, in the same order, for every kind of line: the
same content is read both ways here (Windows-1252 or UTF-8 with BOM against UTF-16) and compared,
with blocks of a few lines so that every block boundary case occurs."""

from __future__ import annotations

import codecs
import random
import tracemalloc
import typing as t
import unicodedata

import pytest
from extf_builder import booking, extf_bytes, q

from tap_datev import extf
from tap_datev.extf import body

if t.TYPE_CHECKING:
    from collections.abc import Iterable

NAME = "EXTF_blocks.csv"
LABELS = {"1200": "Bank", "8400": "Erlöse", "01200": "never: 01200 is account 1200"}


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body, "BLOCK_SIZE", 900)  # three or four booking lines per block


def read(data: bytes, labels: dict[str, str] | None = None) -> tuple[list[dict[str, t.Any]], list[str]]:
    f = extf.read_extf(data, NAME)
    recs = list(
        extf.booking_lines(f, client_id="c", batch_id="b", job_id=None, job_result=None, labels=labels)
    )
    return recs, f.warnings


def both_ways(
    rows: Iterable[list[str]],
    *,
    encoding: str = "cp1252",
    newline: str = "\r\n",
    width: int = 125,
    **kw: t.Any,
) -> tuple[list[dict[str, t.Any]], list[str]]:
    """Records and warnings of the rows read block-wise, after checking that the line-by-line read of
    the same content (UTF-16) gives the same."""
    rows = list(rows)
    bom = codecs.BOM_UTF8 if encoding == "utf-8" else b""
    plain = extf_bytes(rows, encoding=encoding, bom=bom, newline=newline, width=width)
    utf16 = extf_bytes(rows, encoding="utf-16-le", bom=codecs.BOM_UTF16_LE, newline=newline, width=width)
    assert extf.read_extf(plain, NAME).body is not None, "read block-wise"
    assert extf.read_extf(utf16, NAME).body is None, "read line by line"
    by_blocks, by_lines = read(plain, **kw), read(utf16, **kw)
    assert by_blocks[0] == by_lines[0]
    assert [type(v) for r in by_blocks[0] for v in r.values()] == [
        type(v) for r in by_lines[0] for v in r.values()
    ]
    assert by_blocks[1] == by_lines[1]
    return by_blocks


def mixed_rows(count: int, seed: int) -> list[list[str]]:
    """Booking lines with every kind of value: plain ones, other spellings the parser accepts, and
    values it refuses (each a warning)."""
    rnd = random.Random(seed)
    pick = rnd.choice
    rows = []
    for _ in range(count):
        at: dict[int, str] = {}
        currency = pick(["", "", "", q("EUR"), "CHF", "GBP", "USD", q("")])
        if currency == "CHF":
            at.update(
                {
                    3: q("CHF"),
                    4: pick(["1,076000", "", "0", "1,2345678"]),
                    5: pick(["", "100,00", "80"]),
                    6: pick(["", q("EUR"), q("CHF")]),
                }
            )
        elif currency in ("GBP", "USD"):
            at.update({3: q(currency), 4: pick(["", "2,0", "x"])})
        elif currency:
            at[3] = currency
        at[13] = pick(["", "5,00", "5", "0,5", "5.00"])  # Skonto
        at[115] = pick(["", "", "01032025", "31022025", "1032025", "00000000"])  # Leistungsdatum
        at[117] = pick(["", "", "30062025"])  # Fälligkeit
        at[118] = pick(["", q("1"), q("0"), q("")])  # Generalumkehr
        at[119] = pick(["", "19,00", "7", "7,5", "1,005", "19%"])  # Steuersatz
        at[15] = pick(["", "", "1", "x"])  # Postensperre
        at[121] = pick(["", "12345678901234567890", "007"])  # BVV-Position: big and padded ints
        # Beleglink: quotes the csv module reads leniently (and pyarrow.csv alike), a NUL, a tab
        at[20] = pick(["", q("BEDI a1b2"), '"http://x"y"', 'ab"c', ' "x"', '"x" ', "a\x00b", '"\t"'])
        text = pick(["Miete", "Büro \u201eNord\u201c", 'Sa"gt ""Hallo""', "Strom; Gas", "", "  ", "Café"])
        rows.append(
            booking(
                pick(["100,00", "0,00", "64083", "0,1", "1.234,50", "", "1234567890123,45", "007,50"]),
                pick(["S", "H", "H", "S", "X", ""]),
                konto=pick(["1200", "01200", "8400", "12a0", "", "99999999999999999999"]),
                gegenkonto=pick(["8400", "1200", "70001"]),
                belegdatum=pick(["1503", "0101", "101", "3112", "2902", "3102", "ab", ""]),
                text=text,
                at=at,
            )
        )
    return rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_kind_of_value_gives_the_same_records_and_warnings(seed: int, validate: t.Any) -> None:
    recs, warnings = both_ways(mixed_rows(60, seed), labels=LABELS)
    assert len(recs) == 60 and len(warnings) > 10
    assert [r["line_number"] for r in recs] == list(range(3, 63))
    assert any(r["account_label"] == "Bank" for r in recs)
    assert validate("booking_lines", [r for r in recs if r["amount"] is not None]) > 0


def test_utf8_with_bom_nfd_text_and_lf_line_ends() -> None:
    rows = [booking(text=unicodedata.normalize("NFD", f"Müller {n} Straße")) for n in range(12)]
    recs = both_ways(rows, encoding="utf-8", newline="\n")[0]
    assert {r["buchungstext"] for r in recs} == {f"Müller {n} Straße" for n in range(12)}


def test_a_line_break_inside_quotes_in_a_later_block_reads_the_rest_line_by_line() -> None:
    rows = [booking(text=f"Zeile {n}") for n in range(20)]
    rows[11] = booking(text="eins\r\nzwei")
    rows[16] = booking(text="drei\nvier")
    recs = both_ways(rows)[0]
    assert [r["line_number"] for r in recs[10:18]] == [13, 14, 16, 17, 18, 19, 20, 22]
    assert recs[11]["buchungstext"] == "eins\r\nzwei"


@pytest.mark.parametrize("where", [0, 9, 15])
def test_blank_lines_lines_with_other_field_counts_and_lone_cr(where: int) -> None:
    rows = [booking(text=f"Zeile {n}") for n in range(20)]
    rows.insert(where, [])
    rows[where + 3] = rows[where + 3][:100]  # too few fields
    rows[where + 5] = [*rows[where + 5], "extra"]  # a non-empty field beyond the format
    recs, warnings = both_ways(rows)
    assert len(recs) == 20
    assert sum("empty line between booking lines" in w for w in warnings) == 1
    assert sum("fields instead of 125" in w for w in warnings) == 2
    # A CR alone ends a line too (the csv module's reading): same lines both ways.
    cr = [booking(text=f"Zeile {n}") for n in range(6)]
    lone = extf_bytes(cr[:3]) + ";".join(cr[3]).encode() + b"\r" + extf_bytes(cr[4:]).split(b"\r\n", 2)[2]
    lone_recs, _ = read(lone)
    assert [r["line_number"] for r in lone_recs] == [3, 4, 5, 6, 7, 8]


def test_a_trailing_separator_on_every_line_is_no_extra_field() -> None:
    recs, warnings = both_ways([[*booking(), ""] for _ in range(8)])
    assert len(recs) == 8 and warnings == []


def test_older_format_versions_read_block_wise_too() -> None:
    rows = [booking(width=116, text=f"v7 {n}") for n in range(8)]
    plain = extf_bytes(rows, header={5: "7"}, width=116)
    utf16 = extf_bytes(rows, header={5: "7"}, width=116, encoding="utf-16-le", bom=codecs.BOM_UTF16_LE)
    assert read(plain) == read(utf16)
    assert read(plain)[0][0]["generalumkehr"] is None


def test_a_field_over_the_csv_limit_fails_naming_its_line() -> None:
    rows = [booking() for _ in range(8)]
    rows[6] = booking(text="x" * 140_000)
    for data in (extf_bytes(rows), extf_bytes(rows, encoding="utf-16-le", bom=codecs.BOM_UTF16_LE)):
        with pytest.raises(extf.ExtfError, match="line 9: not valid CSV: field larger than field limit"):
            read(data)


def test_memory_stays_flat_when_records_are_consumed_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python allocations peak at about one block's worth however long the file: the file is never
    held as text or rows, nor its records as a list."""
    monkeypatch.setattr(body, "BLOCK_SIZE", 1 << 16)  # about 450 lines

    def peak(lines: int) -> int:
        data = extf_bytes([booking("1234,56", "H", text=f"Beleg {n}") for n in range(lines)])
        tracemalloc.start()
        try:
            f = extf.read_extf(data, NAME)
            for _ in extf.booking_lines(f, client_id="c", batch_id="b", job_id=None, job_result=None):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(500)  # first use: imports, caches
    small, large = peak(3_000), peak(12_000)
    assert large < 1.3 * small, (small, large)

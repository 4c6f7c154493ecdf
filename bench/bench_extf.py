"""Benchmark: EXTF booking lines parsed per second (read_extf + booking_lines) vs a bare csv read.

Generates a Buchungsstapel v13 in memory (Windows-1252, CRLF, realistic sparse rows), then times
- the floor: decode + csv.reader over the same bytes, nothing else;
- the parser: read_extf + booking_lines, i.e. everything the tap does per line before Singer output
  (a block of lines at a time, whole columns at once: tap_datev/extf/booking_columns.py);
- the same content as UTF-16, which the parser reads line by line (the path of files in other
  encodings and of the lines the columnar checks flag), once.

Usage: .venv/bin/python bench/bench_extf.py [lines]   (default 200000)
"""

from __future__ import annotations

import codecs
import csv
import io
import random
import sys
import time

from tap_datev.extf import booking_lines, read_extf
from tap_datev.extf_columns import BUCHUNGSSTAPEL_V13

HEADER = (
    '"EXTF";700;21;"Buchungsstapel";13;20250102030405006;;"RE";"";"";29098;55003;20250101;4;'
    '20250101;20251231;"Bench";"WD";1;0;0;"EUR";;"";;;"03";;;"";""'
)
TEXTS = ("Büromaterial", "Miete März", "Bewirtung „Kunde“", "Reisekosten", "Software-Abo 12 €")


def generate(lines: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    names = ";".join(c.name for c in BUCHUNGSSTAPEL_V13)
    empty = ['""' if c.kind == "text" else "" for c in BUCHUNGSSTAPEL_V13]
    out = [HEADER, names]
    for n in range(lines):
        row = list(empty)
        row[0] = f"{rnd.randint(1, 999_999)},{rnd.randint(0, 99):02d}"
        row[1] = '"S"' if n % 2 else '"H"'
        row[6] = str(rnd.choice((1200, 1000, 4930, 8400, 70001, 10001)))
        row[7] = str(rnd.choice((1200, 1360, 3400, 8400, 4400)))
        row[9] = f"{rnd.randint(1, 28):02d}{rnd.randint(1, 12):02d}"
        row[10] = f'"RE-{n}"'
        row[13] = f'"{rnd.choice(TEXTS)}"'
        row[36] = '"100"'
        if n % 50 == 0:  # some foreign-currency lines
            row[2], row[3], row[4], row[5] = '"CHF"', "1,076000", "100,00", '"EUR"'
        row[113] = "0"
        out.append(";".join(row))
    return ("\r\n".join(out) + "\r\n").encode("cp1252")


def bare_csv(data: bytes) -> int:
    count = 0
    for _ in csv.reader(io.StringIO(data.decode("cp1252"), newline=""), delimiter=";"):
        count += 1
    return count - 2


def parser(data: bytes) -> int:
    f = read_extf(data, "EXTF_bench.csv")
    count = 0
    for _ in booking_lines(f, client_id="29098-55003", batch_id="bench", job_id=None, job_result=None):
        count += 1
    return count


def line_by_line(data: bytes, lines: int) -> float:
    """Seconds of the parser over the same content as UTF-16 (read line by line)."""
    utf16 = codecs.BOM_UTF16_LE + data.decode("cp1252").encode("utf-16-le")
    start = time.perf_counter()
    assert parser(utf16) == lines
    return time.perf_counter() - start


def best_of(data: bytes, lines: int, runs: int = 3) -> tuple[float, float]:
    """Best seconds of the bare csv read and of the parser over `data` (`lines` booking lines),
    the two interleaved so that machine noise hits both alike."""
    floor_s = parse_s = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        n1 = bare_csv(data)
        middle = time.perf_counter()
        n2 = parser(data)
        end = time.perf_counter()
        assert n1 == n2 == lines, (n1, n2, lines)
        floor_s, parse_s = min(floor_s, middle - start), min(parse_s, end - middle)
    return floor_s, parse_s


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    data = generate(lines)
    print(f"{lines} lines, {len(data) / 1e6:.1f} MB, Buchungsstapel v13 (125 columns), cp1252")
    floor_s, parse_s = best_of(data, lines)
    print(f"bare csv read          : {lines / floor_s:>10,.0f} lines/s  ({floor_s:.2f} s)")
    print(f"read_extf+booking_lines: {lines / parse_s:>10,.0f} lines/s  ({parse_s:.2f} s)")
    print(
        f"ratio to the csv floor : {floor_s / parse_s:.2f}"
        f" (parser time {parse_s / floor_s:.1f}x the csv time)"
    )
    by_line_s = line_by_line(data, lines)
    print(
        f"line by line (UTF-16)  : {lines / by_line_s:>10,.0f} lines/s  ({by_line_s:.2f} s, one run;"
        f" {floor_s / by_line_s:.2f} of the csv floor)"
    )


if __name__ == "__main__":
    main()

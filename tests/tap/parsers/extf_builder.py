"""Builds EXTF files for the parser tests (raw tokens in, bytes out)."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable

# A valid Buchungsstapel v13 header (31 fields, raw tokens as DATEV writes them).
HEADER_V13: tuple[str, ...] = (
    '"EXTF"', "700", "21", '"Buchungsstapel"', "13", "20250102030405006", "", '"RE"', '""', '""',
    "29098", "55003", "20250101", "4", "20250101", "20251231", '"Test"', '"WD"', "1", "0",
    "0", '"EUR"', "", '""', "", "", '"03"', "", "", '""', '""',
)  # fmt: skip


def q(text: str) -> str:
    """A quoted EXTF text token (embedded quotes doubled)."""
    return '"' + text.replace('"', '""') + '"'


def booking(
    amount: str = "100,00",
    sh: str = "S",
    *,
    konto: str = "1200",
    gegenkonto: str = "8400",
    belegdatum: str = "1503",
    text: str = "Test",
    width: int = 125,
    at: dict[int, str] | None = None,
) -> list[str]:
    """Raw tokens of one booking line; `at` sets further tokens by 1-based column position."""
    tokens = [""] * width
    tokens[0], tokens[1], tokens[6], tokens[7] = amount, q(sh), konto, gegenkonto
    tokens[9], tokens[13] = belegdatum, q(text)
    for pos, token in (at or {}).items():
        tokens[pos - 1] = token
    return tokens


def extf_bytes(
    rows: Iterable[list[str]],
    *,
    header: dict[int, str] | None = None,
    names: list[str] | None = None,
    width: int = 125,
    encoding: str = "cp1252",
    newline: str = "\r\n",
    bom: bytes = b"",
) -> bytes:
    """An EXTF file: header (HEADER_V13 with `header` tokens replaced by 1-based position), column
    names (`names` or Column 1..width), rows."""
    head = list(HEADER_V13)
    for pos, token in (header or {}).items():
        head[pos - 1] = token
    lines = [";".join(head), ";".join(names or [f"Column {i}" for i in range(1, width + 1)])]
    lines += [";".join(r) for r in rows]
    return bom + (newline.join(lines) + newline).encode(encoding)

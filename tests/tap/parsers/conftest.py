"""Fixtures for the pure parser tests: the shared sample folder, an EXTF file builder, schema checks."""

from __future__ import annotations

import json
import typing as t
from importlib import resources

import pytest
from jsonschema import Draft202012Validator, FormatChecker

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

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


@pytest.fixture(scope="session")
def samples(shared_dir: Path) -> Path:
    folder = shared_dir / "extf-samples"
    if not folder.is_dir():
        pytest.skip("../shared/extf-samples is not present on this machine")
    return folder


def _validator(stream: str) -> Draft202012Validator:
    text = resources.files("tap_datev").joinpath("schemas", f"{stream}.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture(scope="session")
def validate() -> Callable[[str, Iterable[dict[str, t.Any]]], int]:
    """validate(stream, records) -> number of records; fails on the first schema violation."""
    validators: dict[str, Draft202012Validator] = {}

    def check(stream: str, records: Iterable[dict[str, t.Any]]) -> int:
        validator = validators.get(stream) or validators.setdefault(stream, _validator(stream))
        count = 0
        for record in records:
            errors = sorted(validator.iter_errors(record), key=str)
            assert not errors, f"{stream} record {record.get('line_number')}: {errors[0].message}"
            count += 1
        return count

    return check

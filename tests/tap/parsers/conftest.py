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

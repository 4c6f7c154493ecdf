"""A 200,000-posting fiscal year: four ndjson pages of 50,000, every posting once, and the tap's peak
memory about that of a year with a hundred postings (pages are streamed, never held)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tap_datev.tap import TapDatev

from .conftest import CLIENT

BIN = Path(sys.executable).parent


def _run(config: dict[str, t.Any], tmp_path: Path) -> tuple[int, set[int], int]:
    """The tap as its own process, account_postings of 2026 only: (postings, fiscal years, peak RSS KiB)."""
    catalog = TapDatev(config=config, validate_config=False).catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] == "account_postings"
    (tmp_path / "config.json").write_text(json.dumps(config), "utf-8")
    (tmp_path / "catalog.json").write_text(json.dumps(catalog), "utf-8")
    command = [str(BIN / "tap-datev"), "--config", str(tmp_path / "config.json")]
    command += ["--catalog", str(tmp_path / "catalog.json")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    count, years = 0, set()
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"'):
            count += 1
            years.add(json.loads(line)["record"]["fiscal_year"])
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0
    return count, years, usage.ru_maxrss


@pytest.mark.slow
def test_a_200000_posting_year_streams_in_flat_memory(
    ade_config: dict[str, t.Any], datev_emulator: t.Any, tmp_path: Path
) -> None:
    small, _, small_peak = _run(ade_config, tmp_path)
    datev_emulator.control.add_advisor_postings(CLIENT, 20240101, 200_000, committed=True)
    big, years, big_peak = _run(ade_config, tmp_path)  # no state: every year is exported
    assert big == small + 200_000
    assert years == {20240101, 20250101, 20260101}
    assert big_peak - small_peak < 64 * 1024, (
        small_peak,
        big_peak,
    )  # KiB; measured: +0.1 MB (one page of dicts held would be ~100 MB)

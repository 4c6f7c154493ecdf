"""What a failed `target-databricks` process must print: one ERROR line, no traceback."""

from __future__ import annotations

import json
import subprocess
import typing as t
from pathlib import Path


def error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The single ERROR line of a process that failed on a user error; it contains `fragments`."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def write_json(path: Path, value: t.Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def write_lines(path: Path, messages: t.Iterable[dict[str, t.Any]]) -> Path:
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path

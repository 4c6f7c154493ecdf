"""`make demo`'s script, run twice in one throwaway Meltano project for the whole session.

The project holds a copy of meltano.yml and links to the repository's dbt project and dbt
virtualenv (the utility plugin `dbt` finds them relative to the project root).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))


@dataclasses.dataclass(frozen=True)
class DemoRuns:
    project: Path
    first: str  # stdout of the first run
    second: str
    rows_after_first: dict[str, int]
    chart_after_first: bytes

    @property
    def lake(self) -> Path:
        return self.project / ".lake" / "ml_connector" / "datev"

    @property
    def marts(self) -> Path:
        return self.project / ".lake" / "marts.duckdb"

    @property
    def chart(self) -> Path:
        return self.project / ".demo" / "spend_monthly_by_entity.png"


def run_demo(project: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_DATEV_", "TARGET_DATABRICKS_"))}
    result = subprocess.run(  # noqa: PLW1510 - the exit code is checked below
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--project", str(project)],
        env=env,
        text=True,
        capture_output=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout


def lake_rows(lake: Path) -> dict[str, int]:
    from demo import read_delta

    tables = [p for p in sorted(lake.iterdir()) if (p / "_delta_log").is_dir() and not p.name.startswith("_")]
    return {p.name: read_delta(p).num_rows for p in tables}


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> DemoRuns:
    if not (REPO / ".venv-dbt" / "bin" / "dbt").exists():
        pytest.fail("dbt's virtualenv is missing: run `make install` (it creates .venv-dbt)")
    project = tmp_path_factory.mktemp("demo") / "project"
    project.mkdir()
    shutil.copy(REPO / "meltano.yml", project / "meltano.yml")
    (project / "transform").symlink_to(REPO / "transform")
    (project / ".venv-dbt").symlink_to(REPO / ".venv-dbt")
    first = run_demo(project)
    rows = lake_rows(project / ".lake" / "ml_connector" / "datev")
    chart = (project / ".demo" / "spend_monthly_by_entity.png").read_bytes()
    second = run_demo(project)
    return DemoRuns(project, first, second, rows, chart)


def dbt(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """dbt of .venv-dbt on the demo target, with the paths the Meltano utility `dbt` sets."""
    env = {
        **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}},
        "MELTANO_ENVIRONMENT": "demo",
        "DBT_PROJECT_DIR": str(REPO / "transform"),
        "DBT_PROFILES_DIR": str(REPO / "transform"),
        "DBT_TARGET_PATH": str(project / ".meltano" / "dbt" / "target"),
        "DBT_LOG_PATH": str(project / ".meltano" / "dbt" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "ML_CONNECTOR_LAKE": str(project / ".lake"),
    }
    dbt_bin = REPO / ".venv-dbt" / "bin" / "dbt"
    return subprocess.run(
        [str(dbt_bin), *args], env=env, text=True, capture_output=True, check=False, timeout=900
    )

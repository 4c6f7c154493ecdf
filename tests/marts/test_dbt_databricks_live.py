"""Opt-in: `dbt build` of the marts on a real Databricks SQL warehouse (target `prod`).

Runs only when the variables the prod profile reads are set (DATABRICKS_HOST, DATABRICKS_HTTP_PATH,
DATABRICKS_CATALOG, DATABRICKS_SCHEMA holding the connector's tables, and DATABRICKS_TOKEN or
DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET); it builds into `<DATABRICKS_SCHEMA>_marts_live`
and leaves it there.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from test_dbt_databricks import DBT, dbt_env

pytestmark = pytest.mark.live
NEEDED = ("DATABRICKS_HOST", "DATABRICKS_HTTP_PATH", "DATABRICKS_CATALOG", "DATABRICKS_SCHEMA")
_HAS_CREDENTIALS = bool(os.environ.get("DATABRICKS_TOKEN")) or bool(
    os.environ.get("DATABRICKS_CLIENT_ID") and os.environ.get("DATABRICKS_CLIENT_SECRET")
)
if not (all(os.environ.get(v) for v in NEEDED) and _HAS_CREDENTIALS):
    pytest.skip(
        "live dbt test: set " + ", ".join(NEEDED) + " and a token or client id/secret",
        allow_module_level=True,
    )


def test_dbt_build_on_databricks(tmp_path: Path) -> None:
    env = {
        **dbt_env(tmp_path, MELTANO_ENVIRONMENT="prod"),
        **{k: v for k, v in os.environ.items() if k.startswith("DATABRICKS_")},
        "DBT_MARTS_SCHEMA": os.environ["DATABRICKS_SCHEMA"] + "_marts_live",
    }
    result = subprocess.run([str(DBT), "build"], env=env, text=True, capture_output=True, check=False)
    assert result.returncode == 0, result.stdout[-6000:]

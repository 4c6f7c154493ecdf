"""The dbt project parses for Databricks (target `prod`, dbt-databricks) without a connection.

dbt-databricks talks Thrift, which the Databricks emulator does not serve; `dbt parse` resolves
the profile, every model, source, seed and test against the databricks adapter without
connecting. The live check is test_dbt_databricks_live.py (opt-in).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DBT = REPO / ".venv-dbt" / "bin" / "dbt"
MARTS = (
    "spend",
    "spend_monthly_by_entity",
    "batch_reconciliation",
    "booked_sequences",
    "balance_reconciliation",
)
# The booked ledger's tables exist only where the tap runs with ade_enabled.
OPTIONAL_SOURCES = {"fiscal_years", "accounting_sequences", "account_postings", "sums_and_balances"}


def dbt_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "DBT_PROJECT_DIR": str(REPO / "transform"),
        "DBT_PROFILES_DIR": str(REPO / "transform"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **extra,
    }


@pytest.mark.slow
def test_dbt_parse_with_the_databricks_target(tmp_path: Path) -> None:
    if not DBT.exists():
        pytest.fail("dbt's virtualenv is missing: run `make install` (it creates .venv-dbt)")
    env = dbt_env(
        tmp_path,
        MELTANO_ENVIRONMENT="prod",
        # Never contacted: parse does not connect. (With a service principal's secret instead of a
        # token, dbt-databricks would fetch the workspace's OAuth endpoints when loading the profile.)
        DATABRICKS_HOST="https://adb-1234567890123456.7.azuredatabricks.net",
        DATABRICKS_HTTP_PATH="/sql/1.0/warehouses/abc123",
        DATABRICKS_CATALOG="finance",
        DATABRICKS_SCHEMA="datev",
        DATABRICKS_TOKEN="dapi-not-a-token",
    )
    result = subprocess.run(
        [str(DBT), "parse"], env=env, text=True, capture_output=True, check=False, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["metadata"]["adapter_type"] == "databricks"
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for name in MARTS:
        assert (models[name]["database"], models[name]["schema"]) == ("finance", "datev_marts")
        assert models[name]["config"]["materialized"] == "table"
    sources = {s["name"]: s for s in manifest["sources"].values()}
    assert (sources["booking_lines"]["database"], sources["booking_lines"]["schema"]) == ("finance", "datev")
    assert {name for name, s in sources.items() if s["meta"].get("optional")} == OPTIONAL_SOURCES
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    kinds = {(t.get("test_metadata") or {}).get("name", "singular") for t in tests}
    # A balance finding is shown, not a failed build.
    (balances,) = [t for t in tests if t["name"] == "assert_balances_reconcile"]
    assert balances["config"]["severity"].lower() == "warn"
    assert {"not_null", "unique", "relationships", "accepted_values", "singular"} <= kinds

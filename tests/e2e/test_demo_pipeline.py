"""`make demo`'s script end to end, twice, in a throwaway Meltano project.

DATEV emulator (subprocess) → `meltano invoke tap-datev:login` (PKCE, the script plays the
browser) → `tap-datev submit extf` per entity → `meltano run tap-datev target-databricks` →
local Delta tables. The second run must submit nothing, duplicate nothing, and hand Meltano's
state back to the tap.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import demo_data  # noqa: E402
from demo import read_delta  # noqa: E402

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
STATE_ID = "demo:tap-datev-to-target-databricks"


def _expected_eur_by_client() -> dict[str, Decimal]:
    """Account-side EUR sums computed from the demo bookings, independently of the tap's parser."""
    sums: dict[str, Decimal] = {}
    for client, bookings in demo_data._BOOKINGS.items():
        total = Decimal(0)
        for amount, sh, *_rest, currency, rate in bookings:
            value = Decimal(amount.replace(",", "."))
            if currency and currency != "EUR":
                value = (value / Decimal(rate.replace(",", "."))).quantize(Decimal("0.01"), ROUND_HALF_UP)
            total += value if sh == "S" else -value
        sums[f"{demo_data.CONSULTANT}-{client}"] = total
    return sums


def _run_demo(project: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_DATEV_", "TARGET_DATABRICKS_"))}
    result = subprocess.run(  # noqa: PLW1510 - the exit code is checked below
        [sys.executable, str(REPO / "scripts" / "demo.py"), "--project", str(project)],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout


def _table(project: Path, name: str) -> pa.Table:
    return read_delta(project / ".lake" / "ml_connector" / "datev" / name)


def test_demo_twice_lands_everything_once(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "meltano.yml", project / "meltano.yml")

    first = _run_demo(project)
    assert "Logged in to DATEV" in first
    assert first.count("Submitted EXTF_Buchungsstapel_") == 3
    assert first.count("Submitted Eingangsrechnung") == 3

    clients = _table(project, "clients").to_pylist()
    assert sorted(c["id"] for c in clients) == ["29098-55003", "29098-55004", "29098-55005"]
    assert "Lindner Maschinenbau GmbH" in {c["name"] for c in clients}

    lines = _table(project, "booking_lines")
    n_lines = sum(len(b) for b in demo_data._BOOKINGS.values())
    assert lines.num_rows == n_lines
    assert set(lines.column("job_result").to_pylist()) == {"succeeded"}
    sums: dict[str, Decimal] = {}
    for row in lines.select(["client_id", "account_amount_eur"]).to_pylist():
        sums[row["client_id"]] = sums.get(row["client_id"], Decimal(0)) + row["account_amount_eur"]
    assert sums == _expected_eur_by_client()
    labelled = {r["konto"]: r["account_label"] for r in lines.select(["konto", "account_label"]).to_pylist()}
    assert labelled[3400] == demo_data.GL_LABELS[3400]

    # What Catalog Explorer shows, read with delta-rs' own schema call: DATEV's field descriptions as
    # column comments, the stream and the tap (from `meltano run`) as the table comment.
    delta = DeltaTable(str(project / ".lake" / "ml_connector" / "datev" / "booking_lines"))
    comments = {
        f.name: (f.metadata or {}).get(b"comment", b"").decode() for f in pa.schema(delta.schema().to_arrow())
    }
    assert comments["client_id"] == "DATEV client id <consultant>-<client>, e.g. 29098-55003"
    described = json.loads((REPO / "tap-datev" / "tap_datev" / "schemas" / "booking_lines.json").read_text())
    expected = {name: p["description"] for name, p in described["properties"].items() if p.get("description")}
    assert {name: comments[name] for name in expected} == expected
    assert delta.metadata().description.startswith("Singer stream 'booking_lines' of tap-datev")
    assert {f.name for f in pa.schema(delta.schema().to_arrow()) if not f.nullable} == {
        "client_id",
        "batch_id",
        "line_number",
    }

    documents = _table(project, "documents")
    assert sorted(documents.column("client_id").to_pylist()) == ["29098-55003", "29098-55004", "29098-55005"]
    batches = _table(project, "booking_batches")
    assert batches.num_rows == 3
    assert _table(project, "gl_accounts").num_rows == 3 * len(demo_data.GL_LABELS)
    assert _table(project, "business_partners").num_rows == 3 * len(demo_data.SUPPLIERS)
    before = {
        p.name: _table(project, p.name).num_rows
        for p in (project / ".lake" / "ml_connector" / "datev").iterdir()
        if not p.name.startswith("_")
    }

    second = _run_demo(project)
    assert "no new login" in second
    assert second.count("was submitted before") == 6  # 3 batches + 3 documents
    after = {name: _table(project, name).num_rows for name in before}
    assert after == before, "the second run duplicated rows"

    state = subprocess.run(  # noqa: PLW1510 - the exit code is checked below
        [
            str(BIN / "meltano"),
            "--environment",
            "demo",
            "state",
            "get",
            "demo:tap-datev-to-target-databricks",
        ],
        cwd=project,
        text=True,
        capture_output=True,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    assert state.returncode == 0, state.stderr[-2000:]
    bookmarks = json.loads(state.stdout)["singer_state"]["bookmarks"]
    assert "booking_batches" in bookmarks

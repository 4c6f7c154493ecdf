"""Exactly-once on the workspace engine: the target (a real process, SIGKILLed at each failpoint)
loads into the emulator; `target-databricks replay` and a rerun of the same input converge."""

from __future__ import annotations

import json
import signal
import typing as t
from pathlib import Path

import pytest
import test_exactly_once as local_suite  # the local engine's input and expected outcome
from target_testlib import lines, run_cli, run_process
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from target_databricks import audit, failpoints
from target_databricks.engines.base import TableRef
from target_databricks.engines.workspace import WorkspaceEngine


def _assert_converged(eng: WorkspaceEngine, msgs: list[dict[str, t.Any]]) -> None:
    per_key, n_events, events_sum = local_suite.expected(msgs)
    table = eng.read_table(TableRef("main", "datev", "lines"))
    assert (
        dict(zip(table.column("id").to_pylist(), table.column("amount").to_pylist(), strict=True)) == per_key
    )
    assert table.num_rows == len(per_key)
    events = eng.read_table(TableRef("main", "datev", "events"))
    assert events.num_rows == n_events
    assert sum(events.column("v").to_pylist()) == events_sum


@pytest.mark.slow
@pytest.mark.parametrize("point", failpoints.POINTS)
def test_crash_replay_rerun_converges_in_the_workspace(
    emulator: RunningEmulator, tmp_path: Path, point: str
) -> None:
    cfg = settings(emulator, batch_size_rows=60)
    cfg_path, input_path = tmp_path / "config.json", tmp_path / "input.singer"
    cfg_path.write_text(json.dumps(cfg))
    msgs = local_suite.source_messages(n_keys=150, updates=80, events=60)
    input_path.write_text(lines(msgs))
    eng = WorkspaceEngine(cfg)

    crashed = run_process(cfg_path, input_path, env={failpoints.ENV: f"{point}:2"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    before = audit.current_loads(eng.ledger_read())

    replayed = run_cli("replay", "--config", str(cfg_path))
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    after_replay = audit.current_loads(eng.ledger_read())
    assert not [e for e in after_replay.values() if audit.needs_replay(e)]
    for load in (e for e in before.values() if e.status == "staged"):
        story = after_replay[load.load_id]
        assert story.attempt == 2
        # Not applied before the kill → committed now; applied but unrecorded → skipped.
        assert story.status == ("committed" if point == "after_ledger_staged" else "skipped")

    rerun = run_process(cfg_path, input_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1]) == {"bookmarks": {"lines": 150, "events": 60}}
    _assert_converged(eng, msgs)
    assert {e.status for e in audit.current_loads(eng.ledger_read()).values()} <= {"committed", "skipped"}
    # Nothing is left in the staging volume.
    staged = list(eng.client.files.list_directory_contents("/Volumes/main/datev/_ml_connector_staging/loads"))
    assert staged == []

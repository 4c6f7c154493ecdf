"""Exactly-once on the workspace engine: the target (a real process, SIGKILLed at each failpoint)
loads into the emulator; `target-databricks replay` and a rerun of the same input converge."""

from __future__ import annotations

import json
import signal
import typing as t
from pathlib import Path

import pytest
import test_exactly_once as local_suite  # the local engine's input and expected outcome
from target_testlib import lines, record_msg, run, run_cli, run_process, schema_msg, state_msg
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from target_databricks import audit, cli, failpoints
from target_databricks.engines.base import TableRef
from target_databricks.engines.workspace import StatementFailedError, WorkspaceEngine


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
@pytest.mark.parametrize("load_via", ["statements", "jobs"])
@pytest.mark.parametrize("point", failpoints.POINTS)
def test_crash_replay_rerun_converges_in_the_workspace(
    emulator: RunningEmulator, tmp_path: Path, point: str, load_via: str
) -> None:
    cfg = settings(emulator, batch_size_rows=60, load_via=load_via)
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
        # Not applied before the kill, or applied but unrecorded (after_apply): committed now by
        # attempt 2, with the load's true row count (here every staged row is new or newer).
        assert (story.attempt, story.status) == (2, "committed")
        assert story.rows == load.rows > 0

    rerun = run_process(cfg_path, input_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1]) == {"bookmarks": {"lines": 150, "events": 60}}
    _assert_converged(eng, msgs)
    assert {e.status for e in audit.current_loads(eng.ledger_read()).values()} == {"committed"}
    # Nothing is left in the staging volume.
    staged = list(eng.client.files.list_directory_contents("/Volumes/main/datev/_ml_connector_staging/loads"))
    assert staged == []


def test_failed_statement_is_recorded_with_its_message_then_replayed(emulator: RunningEmulator) -> None:
    cfg = settings(emulator)
    schema = schema_msg("lines", local_suite.LINES, ["id"])
    run(cfg, [schema, record_msg("lines", {"id": 1, "amount": "1.00"}, "2024-05-01T00:00:00Z")])
    eng = WorkspaceEngine(cfg)
    # Second run, SQL in order (the ledger and its view exist: checked without SQL): the table's
    # ledger rows, INSERT `staged`, then the MERGE: that one fails as a warehouse would fail it.
    emulator.control.fail_statement(3, "Disk quota exceeded on the warehouse")
    with pytest.raises(StatementFailedError, match=r"EMULATOR_INJECTED_FAILURE.*Disk quota exceeded") as info:
        run(
            cfg,
            [
                schema,
                record_msg("lines", {"id": 2, "amount": "2.00"}, "2024-05-02T00:00:00Z"),
                state_msg({"bookmarks": {"lines": 2}}),
            ],
        )
    assert info.value.error_code == "INTERNAL_ERROR"
    assert info.value.sql_state == "XX000"
    failed = [e for e in audit.current_loads(eng.ledger_read()).values() if e.status == "failed"]
    assert len(failed) == 1 and "Disk quota exceeded" in (failed[0].error or "")
    assert "MERGE INTO `main`.`datev`.`lines`" in (failed[0].error or "")  # which statement failed
    assert eng.read_table(TableRef("main", "datev", "lines")).num_rows == 1

    lines_out = cli.replay(eng)
    assert len(lines_out) == 1 and "committed 1 rows" in lines_out[0]
    table = eng.read_table(TableRef("main", "datev", "lines"))
    assert sorted(table.column("id").to_pylist()) == [1, 2]
    assert {e.status for e in audit.current_loads(eng.ledger_read()).values()} == {"committed"}

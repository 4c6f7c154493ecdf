"""Exactly-once: crash the target (SIGKILL) at every failpoint, then replay and rerun the same input;
the tables must equal the source and the ledger must tell what happened."""

from __future__ import annotations

import json
import signal
import typing as t
from decimal import Decimal
from pathlib import Path

import pytest
from target_testlib import (
    config,
    engine,
    lines,
    read,
    record_msg,
    run,
    run_cli,
    run_process,
    schema_msg,
    state_msg,
)

from target_databricks import audit, cli, failpoints
from target_databricks.engines.local import LocalEngine

MONEY = {"type": ["string", "null"], "format": "x-singer.decimal", "precision": 15, "scale": 2}
LINES = {"id": {"type": "integer"}, "amount": MONEY, "text": {"type": ["string", "null"]}}
EVENTS = {"n": {"type": "integer"}, "v": MONEY}


def source_messages(n_keys: int = 400, updates: int = 200, events: int = 150) -> list[dict[str, t.Any]]:
    msgs: list[dict[str, t.Any]] = [schema_msg("lines", LINES, ["id"]), schema_msg("events", EVENTS)]
    for i in range(n_keys):
        msgs.append(record_msg("lines", {"id": i, "amount": f"{i}.10", "text": "ä"}, "2024-05-01T00:00:00Z"))
        if i % 100 == 99:
            msgs.append(state_msg({"bookmarks": {"lines": i}}))
    for j in range(updates):  # later versions of some keys, interleaved with events
        i = (j * 37) % n_keys
        msgs.append(
            record_msg(
                "lines",
                {"id": i, "amount": f"{i}.{j % 90 + 10}", "text": "ö"},
                f"2024-05-02T00:{j // 60:02d}:{j % 60:02d}Z",
            )
        )
        if j < events:
            msgs.append(record_msg("events", {"n": j, "v": "1.01"}, "2024-05-02T00:00:00Z"))
    msgs.append(state_msg({"bookmarks": {"lines": n_keys, "events": events}}))
    return msgs


def expected(msgs: list[dict[str, t.Any]]) -> tuple[dict[int, Decimal], int, Decimal]:
    latest: dict[int, tuple[str, int, Decimal]] = {}
    n_events, events_sum = 0, Decimal(0)
    for pos, m in enumerate(msgs):
        if m["type"] != "RECORD":
            continue
        if m["stream"] == "events":
            n_events += 1
            events_sum += Decimal(m["record"]["v"])
            continue
        key, order = m["record"]["id"], (m["time_extracted"], pos)
        if key not in latest or order > latest[key][:2]:
            latest[key] = (*order, Decimal(m["record"]["amount"]))
    return {k: v[2] for k, v in latest.items()}, n_events, events_sum


def assert_converged(
    cfg: dict[str, t.Any], msgs: list[dict[str, t.Any]], *, check_events: bool = True
) -> None:
    per_key, n_events, events_sum = expected(msgs)
    table = read(cfg, "lines")
    assert table.num_rows == len(per_key)
    assert (
        dict(zip(table.column("id").to_pylist(), table.column("amount").to_pylist(), strict=True)) == per_key
    )
    if check_events:
        events = read(cfg, "events")
        assert events.num_rows == n_events
        assert sum(events.column("v").to_pylist()) == events_sum


@pytest.fixture
def setup(tmp_path: Path) -> tuple[dict[str, t.Any], Path, Path, list[dict[str, t.Any]]]:
    cfg = config(tmp_path, batch_size_rows=100)
    cfg_path, input_path = tmp_path / "config.json", tmp_path / "input.singer"
    cfg_path.write_text(json.dumps(cfg))
    msgs = source_messages()
    input_path.write_text(lines(msgs))
    return cfg, cfg_path, input_path, msgs


@pytest.mark.slow
@pytest.mark.parametrize("point", failpoints.POINTS)
def test_crash_at_failpoint_then_replay_and_rerun_converges(
    setup: tuple[dict[str, t.Any], Path, Path, list[dict[str, t.Any]]], point: str
) -> None:
    cfg, cfg_path, input_path, msgs = setup
    crashed = run_process(cfg_path, input_path, env={failpoints.ENV: f"{point}:3"})
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-2000:]
    # The STATE after the crashed batch never reached stdout: Meltano would resume before it.
    assert '"events": 150' not in crashed.stdout

    before = audit.current_loads(engine(cfg).ledger_read())
    replayed = run_cli("replay", "--config", str(cfg_path))
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    after_replay = audit.current_loads(engine(cfg).ledger_read())
    assert not [e for e in after_replay.values() if audit.needs_replay(e)]
    crashed_loads = [e for e in before.values() if e.status == "staged"]
    if point in ("after_ledger_staged", "after_apply"):
        # The story: staged (attempt 1), then committed by the replay as attempt 2, with the row
        # count of the commit that applied it: the replay's own, or (after_apply: applied, but the
        # ledger never heard) the crashed attempt's, read from the table's commit metrics.
        assert crashed_loads
        for load in crashed_loads:
            story = after_replay[load.load_id]
            assert (story.attempt, story.status) == (2, "committed")
            assert story.rows == load.rows > 0  # every staged row is new or newer here
    else:
        assert not crashed_loads

    rerun = run_process(cfg_path, input_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1]) == {"bookmarks": {"lines": 400, "events": 150}}
    assert_converged(cfg, msgs)
    final = audit.current_loads(engine(cfg).ledger_read())
    assert {e.status for e in final.values()} == {"committed"}  # a rerun's `skipped` hides nothing
    assert not list((Path(cfg["local_path"]) / "_staging").rglob("*.parquet"))  # nothing left staged


@pytest.mark.slow
def test_rerun_with_smaller_batches_still_converges(
    setup: tuple[dict[str, t.Any], Path, Path, list[dict[str, t.Any]]],
) -> None:
    cfg, cfg_path, input_path, msgs = setup
    keyed = [m for m in msgs if m.get("stream") != "events"]  # appends depend on identical cuts
    input_path.write_text(lines(keyed))
    crashed = run_process(cfg_path, input_path, env={failpoints.ENV: "after_apply:4"})
    assert crashed.returncode == -signal.SIGKILL
    smaller = {**cfg, "batch_size_rows": 37}
    cfg_path.write_text(json.dumps(smaller))
    rerun = run_process(cfg_path, input_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_converged(cfg, keyed, check_events=False)


def test_failed_apply_is_recorded_and_replayed(
    setup: tuple[dict[str, t.Any], Path, Path, list[dict[str, t.Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, _, _, msgs = setup
    real_apply = LocalEngine.apply
    calls = {"n": 0}

    def flaky_apply(self: LocalEngine, load: t.Any) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk went away")
        return real_apply(self, load)

    monkeypatch.setattr(LocalEngine, "apply", flaky_apply)
    with pytest.raises(OSError, match="disk went away"):
        run(cfg, msgs)
    monkeypatch.setattr(LocalEngine, "apply", real_apply)
    failed = [e for e in audit.current_loads(engine(cfg).ledger_read()).values() if e.status == "failed"]
    assert len(failed) == 1 and failed[0].error == "OSError: disk went away"
    assert Path(failed[0].staged_file or "").is_file()

    lines_out = cli.replay(engine(cfg))
    assert len(lines_out) == 1 and "committed" in lines_out[0]
    story = [e.status for e in engine(cfg).ledger_read() if e.load_id == failed[0].load_id]
    assert story == ["staged", "failed", "committed"]
    run(cfg, msgs)  # the rest of the input
    assert_converged(cfg, msgs)


def test_replay_single_load_id_and_unknown_id(
    setup: tuple[dict[str, t.Any], Path, Path, list[dict[str, t.Any]]],
) -> None:
    cfg, _, _, msgs = setup
    run(cfg, msgs)
    some = next(iter(audit.current_loads(engine(cfg).ledger_read())))
    out = cli.replay(engine(cfg), load_id=some)
    assert out and "cannot replay" in out[0]  # committed loads were unstaged: nothing to re-apply
    with pytest.raises(Exception, match="not in the ledger"):
        cli.replay(engine(cfg), load_id="nope")

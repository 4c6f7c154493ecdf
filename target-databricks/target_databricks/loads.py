"""One load into its table, under its dedupe identity (table id, load id, attempt), recorded in the
ledger as it goes: the one sequence the sinks and `replay` share."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import typing as t

from target_databricks import audit, failpoints, progress
from target_databricks.engines.base import Applied, Engine, Load

if t.TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)


def run_load(engine: Engine, load: Load, data: pa.Table | None) -> Applied | None:
    """One load into its table, under the dedupe identity (table id, load id, attempt):

    committed to this very table before → ledger `skipped`, nothing staged; else stage (when `data`
    is given) → ledger staged → apply → ledger committed (with the commit's row counts, also when
    the apply found the load applied by an earlier attempt that died before recording it) → unstage.
    On failure the ledger records `failed` with the error and the exception propagates. Used by the
    sinks and, with data=None (already staged, attempt set by the caller), by `replay`.
    Returns None when the load was skipped.
    """
    started = dt.datetime.now(dt.UTC)
    clock = time.monotonic()
    load = dataclasses.replace(load, table_id=engine.table_id(load.table.ref))
    prior = engine.prior(load)
    if prior.committed:
        if prior.staged:  # left by a run that died between its ledger row and its cleanup
            engine.unstage(prior.staged)
        _skip(engine, load, started, "was committed to this table before")
        return None
    if data is not None:
        load = dataclasses.replace(load, attempt=prior.attempt)
        if prior.applied:  # nothing to stage: the apply reads the counts of the commit found
            load = dataclasses.replace(load, staged=prior.staged)
    try:
        if data is not None and not prior.applied:
            load = dataclasses.replace(load, staged=engine.stage(load, data))
            failpoints.hit("after_stage")
            engine.ledger_append([audit.entry(load, "staged", started_at=started)])
            failpoints.hit("after_ledger_staged")
        applied = engine.apply(load)
        failpoints.hit("after_apply")
    except Exception as exc:
        if load.staged and _committed_meanwhile(engine, load):
            # A concurrent writer applied and recorded this load (and may have removed the staged
            # file of this same attempt): nothing is lost.
            _skip(engine, load, started, "was committed to this table by a concurrent writer")
            return None
        if load.staged:
            engine.ledger_append([audit.entry(load, "failed", started_at=started, error=exc)])
        raise
    except BaseException as exc:
        if load.staged:
            engine.ledger_append([audit.entry(load, "failed", started_at=started, error=exc)])
        raise
    if applied.attempt is not None:
        load = dataclasses.replace(load, attempt=applied.attempt)
    if applied.already and _committed_meanwhile(engine, load):
        engine.unstage(load.staged)
        _skip(engine, load, started, "was committed to this table by a concurrent writer")
        return None
    engine.ledger_append([audit.entry(load, "committed", started_at=started, rows=applied.rows)])
    failpoints.hit("after_ledger_committed")
    for staged in dict.fromkeys([load.staged, prior.staged]):  # and an earlier attempt's leftover
        if staged:
            engine.unstage(staged)
    failpoints.hit("after_unstage")
    seconds = time.monotonic() - clock
    logger.info("%s", load_summary(load, applied, seconds))
    progress.loaded(load.table.ref.full_name, applied, seconds)
    return applied


def _skip(engine: Engine, load: Load, started: dt.datetime, why: str) -> None:
    """Ledger `skipped` and the load's one INFO line: nothing was applied by this attempt."""
    engine.ledger_append([audit.entry(load, "skipped", started_at=started, rows=0)])
    logger.info(
        "Skipped stream %s into %s: load %s %s", load.stream, load.table.ref.full_name, load.load_id, why
    )


def load_summary(load: Load, applied: Applied, seconds: float) -> str:
    """The one INFO line per load: stream, table, rows inserted/updated/deleted, seconds."""
    if applied.inserted is None:
        counts = f"{applied.rows} rows (the split into inserted/updated/deleted is not known)"
    else:
        counts = f"{applied.inserted} inserted, {applied.updated} updated, {applied.deleted} deleted"
    found = ", found applied by an earlier attempt" if applied.already else ""
    return (
        f"Loaded stream {load.stream} into {load.table.ref.full_name}: {counts} in {seconds:.2f} s "
        f"(load {load.load_id}, attempt {load.attempt}{found})"
    )


def _committed_meanwhile(engine: Engine, load: Load) -> bool:
    try:
        return engine.prior(load).committed
    except Exception:  # the original outcome stands
        return False

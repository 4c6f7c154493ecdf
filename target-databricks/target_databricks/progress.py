"""Progress lines a person can read, and one summary line per table at the end of a run.

singer-sdk logs each sink's record count as a `METRIC` JSON line (every 60 s and when the sink is
cleaned up); that stays for machines. `ProgressLines` on the SDK's metrics logger turns the same
points into "booking_lines: 12,000 rows received so far (2,400 rows/s)". `loaded()` is called for
each committed load and `summary()` at the end of the run logs one line per table.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t
from dataclasses import dataclass

from singer_sdk import metrics

if t.TYPE_CHECKING:
    from target_databricks.engines.base import Applied


@dataclass
class TableTotals:
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unsplit: int = 0  # rows of loads whose split is not known (Jobs runs)
    loads: int = 0
    seconds: float = 0.0


class ProgressLines(logging.Handler):
    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logging.INFO)
        self.logger = logger
        self.received: dict[str, int] = {}
        self.last_line: dict[str, float] = {}
        self.started = time.monotonic()
        self.tables: dict[str, TableTotals] = {}
        self.totals_lock = threading.Lock()  # sinks drain in parallel threads

    def emit(self, record: logging.LogRecord) -> None:
        point = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if not isinstance(point, metrics.Point) or point.metric != metrics.Metric.RECORD_COUNT:
            return
        stream = str(point.tags.get(metrics.Tag.STREAM, "?"))
        now = time.monotonic()
        with self.totals_lock:
            total = self.received[stream] = self.received.get(stream, 0) + int(point.value)
            rate = point.value / max(now - self.last_line.get(stream, self.started), 1e-3)
            self.last_line[stream] = now
        self.logger.info("%s: %s rows received so far (%s rows/s)", stream, f"{total:,}", f"{rate:,.0f}")

    def loaded(self, table: str, applied: Applied, seconds: float) -> None:
        with self.totals_lock:
            totals = self.tables.setdefault(table, TableTotals())
            totals.rows += applied.rows
            if applied.inserted is None:
                totals.unsplit += applied.rows
            else:
                totals.inserted += applied.inserted
                totals.updated += applied.updated or 0
                totals.deleted += applied.deleted or 0
            totals.loads += 1
            totals.seconds += seconds

    def summary(self) -> None:
        with self.totals_lock:
            tables = sorted(self.tables.items())
        for table, totals in tables:
            counts = f"{totals.inserted:,} inserted, {totals.updated:,} updated, {totals.deleted:,} deleted"
            if totals.unsplit:
                counts += f", {totals.unsplit:,} more loaded by Jobs runs (split not known)"
            self.logger.info(
                "Summary %s: %s in %d load(s), %.1f s", table, counts, totals.loads, totals.seconds
            )


def _installed() -> ProgressLines | None:
    handlers = [h for h in metrics.get_metrics_logger().handlers if isinstance(h, ProgressLines)]
    return handlers[-1] if handlers else None


def install(logger: logging.Logger) -> None:
    """Start counting for this run (one handler per process, however many targets it makes)."""
    metrics_logger = metrics.get_metrics_logger()
    while (old := _installed()) is not None:
        metrics_logger.removeHandler(old)
    metrics_logger.addHandler(ProgressLines(logger))


def loaded(table: str, applied: Applied, seconds: float) -> None:
    """A load committed into `table` what `applied` says, in `seconds`."""
    if (lines := _installed()) is not None:
        lines.loaded(table, applied, seconds)


def summary() -> None:
    if (lines := _installed()) is not None:
        lines.summary()

"""Progress lines a person can read: "booking_lines: 12,000 rows so far (2,400 rows/s)".

singer-sdk logs each stream's record count as a `METRIC` JSON line (every 60 s and when the stream
ends); that stays for machines. This handler on the SDK's metrics logger turns the same points into
one INFO line each, with the stream's running total and its rate: over the stream's sync time
(the SDK's `sync_duration` point just before) when it ends, else since its previous line.
"""

from __future__ import annotations

import logging
import time

from singer_sdk import metrics


class ProgressLines(logging.Handler):
    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logging.INFO)
        self.logger = logger
        self.totals: dict[str, int] = {}
        self.started = time.monotonic()
        self.last_line: dict[str, float] = {}
        self.synced_seconds: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        point = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if not isinstance(point, metrics.Point):
            return
        stream = str(point.tags.get(metrics.Tag.STREAM, "?"))
        if point.metric == metrics.Metric.SYNC_DURATION:
            self.synced_seconds[stream] = float(point.value)
            return
        if point.metric != metrics.Metric.RECORD_COUNT:
            return
        total = self.totals[stream] = self.totals.get(stream, 0) + int(point.value)
        now = time.monotonic()
        seconds = self.synced_seconds.pop(stream, None) or now - self.last_line.get(stream, self.started)
        self.last_line[stream] = now
        rate = point.value / max(seconds, 1e-3)
        self.logger.info("%s: %s rows so far (%s rows/s)", stream, f"{total:,}", f"{rate:,.0f}")


def install(logger: logging.Logger) -> None:
    """Start counting for this run (one handler per process, however many taps it makes)."""
    metrics_logger = metrics.get_metrics_logger()
    for handler in [h for h in metrics_logger.handlers if isinstance(h, ProgressLines)]:
        metrics_logger.removeHandler(handler)
    metrics_logger.addHandler(ProgressLines(logger))

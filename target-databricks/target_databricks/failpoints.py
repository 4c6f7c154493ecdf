"""Crash switches for the exactly-once tests: `ML_CONNECTOR_FAILPOINT=<name>[:<n>]` SIGKILLs the
process the n-th time (default: first) execution passes the named point. Unset: a dict lookup."""

from __future__ import annotations

import collections
import os
import signal
import threading

ENV = "ML_CONNECTOR_FAILPOINT"

# The points the sink passes, in order, for every batch.
POINTS = ("after_stage", "after_ledger_staged", "after_apply", "after_ledger_committed", "after_unstage")

_hits: collections.Counter[str] = collections.Counter()
_lock = threading.Lock()


def hit(point: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    with _lock:
        _hits[point] += 1
        count = _hits[point]
    if count == (int(nth) if nth else 1):
        # SIGKILL: no finally blocks, no flush; exactly what a power cut or OOM kill looks like.
        os.kill(os.getpid(), signal.SIGKILL)

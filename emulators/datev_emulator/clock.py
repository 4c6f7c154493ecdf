"""The emulator clock: real time plus an offset that tests move forward (never backward by accident)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
# The clock skew a client on real time tolerates in token times (tap-datev's ID-token leeway). DATEV's
# tokens come from a clock in sync with the client's; a moved emulator clock is not, so say so.
MAX_CLIENT_SKEW_SECONDS = 120
LOG = logging.getLogger("datev_emulator")


class Clock:
    """Every expiry in the emulator (codes, tokens, job progress) is measured on this clock."""

    def __init__(self, offset: float = 0.0, on_change: Callable[[float], None] | None = None) -> None:
        self._offset = offset
        self._on_change = on_change
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("advance_seconds must be >= 0")
        with self._lock:
            self._offset += seconds
            offset = self._offset
        self._changed(offset)
        return self.now()

    def set(self, epoch: float) -> float:
        with self._lock:
            self._offset = epoch - time.time()
            offset = self._offset
        self._changed(offset)
        return self.now()

    def _changed(self, offset: float) -> None:
        if self._on_change:
            self._on_change(offset)
        warning = self.skew_warning()
        if warning:
            LOG.warning("%s", warning)

    def skew_warning(self) -> str | None:
        """Why tokens issued now would be refused by a client on real time, or None when they would not."""
        offset = self._offset
        if abs(offset) <= MAX_CLIENT_SKEW_SECONDS:
            return None
        if offset > 0:
            effect = f"carry iat/nbf {offset:.0f} s in the future"
        else:
            effect = f"look {-offset:.0f} s old (expired once that exceeds their lifetime)"
        return (
            f"the emulator clock is {abs(offset):.0f} s {'ahead of' if offset > 0 else 'behind'} real time,"
            f" more than the {MAX_CLIENT_SKEW_SECONDS} s of clock skew a client allows: tokens issued now"
            f" {effect} for a client on real time; move the client's clock by the same amount"
        )

    def utc_iso(self) -> str:
        """`2020-04-13T17:55:42Z`, the shape DATEV uses for EXTF job timestamps."""
        return datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def berlin_iso(self) -> str:
        """`2023-03-14T09:24:12+01:00`, the shape of documents' upload_date and DXSO protocol times."""
        return datetime.fromtimestamp(self.now(), BERLIN).isoformat(timespec="seconds")

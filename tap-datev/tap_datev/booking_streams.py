"""Streams built from what the user submits: booking batches, booking lines, documents, labels.

(Being built; tap.py registers every class listed in BOOKING_STREAMS.)
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from singer_sdk import Stream

BOOKING_STREAMS: list[type[Stream]] = []

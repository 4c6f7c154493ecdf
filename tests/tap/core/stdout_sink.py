"""What reaches a file descriptor under a tap's stdout, for the writer tests."""

from __future__ import annotations

import io
import typing as t


class Sink(io.RawIOBase):
    """A file descriptor's view: what has been written through, not what sits in a buffer."""

    def __init__(self) -> None:
        self.landed = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: t.Any) -> int:  # type: ignore[override]
        self.landed += bytes(b)
        return len(b)

"""Fault switches: the next N matching requests get 429/503/500, or are processed and then dropped."""

from __future__ import annotations

import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("status", "drop")
FAULT_STATUSES = (429, 500, 503)
RETRY_STATUSES = (429, 503)
DEFAULT_RETRY_AFTER = 1


@dataclass
class Fault:
    kind: str  # "status": answer `status` instead; "drop": do the work, then close the connection
    count: int = 1
    status: int = 503
    retry_after: int | None = None
    method: str | None = None  # e.g. "POST"; None matches every method
    path_prefix: str = "/"  # matched against the request path, e.g. "/accounting-extf-files/"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method.upper()) and path.startswith(
            self.path_prefix
        )


def parse_fault(data: dict[str, Any]) -> Fault:
    kind = data.get("kind", "status")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    count = int(data.get("count", 1))
    if count < 1:
        raise ValueError("count must be >= 1")
    status = int(data.get("status", 503))
    if kind == "status" and status not in FAULT_STATUSES:
        raise ValueError(f"status must be one of {FAULT_STATUSES}")
    # An absent "retry_after" means the emulator's default of 1 s on 429/503; an explicit null means no
    # header at all, so a client's own backoff (without Retry-After) can be tested.
    retry_after = data.get("retry_after", DEFAULT_RETRY_AFTER if status in RETRY_STATUSES else None)
    return Fault(
        kind=kind,
        count=count,
        status=status,
        retry_after=None if retry_after is None else int(retry_after),
        method=data.get("method"),
        path_prefix=str(data.get("path_prefix", "/")),
    )


class FaultBoard:
    """Armed faults, consumed first-armed first. The control API's own paths never match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def arm(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        if path.startswith("/_emulator"):
            return None
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

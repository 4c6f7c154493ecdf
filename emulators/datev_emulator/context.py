"""What every handler needs: the store, the clock, the signing key, the fault board and the request
counter."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from datev_emulator.clock import Clock
from datev_emulator.faults import FaultBoard
from datev_emulator.keys import Signer
from datev_emulator.store import Store


class RequestCounter:
    """Requests received per endpoint name (e.g. `clients.list`, `token`), for benchmarks: what one
    sync costs in HTTP calls. Control API requests are not counted; unmatched paths count as
    `unmatched`, requests answered by an armed fault as `fault`. In memory, not persisted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


@dataclass
class Context:
    store: Store
    clock: Clock
    signer: Signer
    faults: FaultBoard
    requests: RequestCounter = field(default_factory=RequestCounter)

    def setting(self, name: str) -> object:
        with self.store.lock:
            return self.store.doc("settings").get(name)

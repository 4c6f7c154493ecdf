"""What every handler needs: the store, the clock, the signing key and the fault board."""

from __future__ import annotations

from dataclasses import dataclass

from datev_emulator.clock import Clock
from datev_emulator.faults import FaultBoard
from datev_emulator.keys import Signer
from datev_emulator.store import Store


@dataclass
class Context:
    store: Store
    clock: Clock
    signer: Signer
    faults: FaultBoard

    def setting(self, name: str) -> object:
        with self.store.lock:
            return self.store.doc("settings").get(name)

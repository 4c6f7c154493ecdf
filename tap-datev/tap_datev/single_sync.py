"""One sync per state_dir at a time: a second tap-datev sync on the same state_dir stops at once.

Schedulers overlap runs when one is slow; two syncs would poll DATEV and write the ledger twice.
Meltano already refuses a second `meltano run` with the same state id; this covers taps started
outside Meltano (or from two Meltano projects sharing a state_dir). The lock is an flock on
<state_dir>/sync.lock held until the process ends, so a crash never leaves it behind. Submits take
the ledger's own lock and may still run beside a sync.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tap_datev.ledger import LedgerError

_held: dict[Path, int] = {}


def hold_sync_lock(state_dir: Path) -> None:
    """Take <state_dir>/sync.lock for the rest of this process, or raise LedgerError at once."""
    path = state_dir / "sync.lock"
    if path in _held:  # a second sync in the same process (tests, embedding code)
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LedgerError(
            f"Another tap-datev sync is running on state_dir {state_dir} (it holds {path.name}); "
            "this one stops. Let it finish, or schedule runs so that they do not overlap."
        ) from None
    _held[path] = fd

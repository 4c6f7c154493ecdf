"""`tap-datev submit extf|dxso|document`: upload to DATEV, recording every step in the ledger first.

(Being built; cli.py adds this group to the tap-datev command.)
"""

from __future__ import annotations

import click


@click.group()
def submit() -> None:
    """Submit EXTF batches, DXSO jobs or documents to DATEV (recorded in the ledger)."""

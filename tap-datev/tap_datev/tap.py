"""TapDatev: the Singer tap (settings, stream list). Discovery is offline: no token store, no network."""

from __future__ import annotations

import typing as t

import click
from singer_sdk import Stream, Tap

from tap_datev import settings
from tap_datev.booking_streams import BOOKING_STREAMS
from tap_datev.streams import STREAMS

if t.TYPE_CHECKING:
    from tap_datev.client import DatevClient


def stream_types() -> list[type[Stream]]:
    """Every stream class the tap offers, in sync order (parents before children)."""
    return [*STREAMS, *BOOKING_STREAMS]


class TapDatev(Tap):
    """Singer tap for DATEV: clients, document types, submitted booking batches and their lines."""

    name = "tap-datev"
    config_jsonschema = settings.CONFIG_SCHEMA

    _datev_client: DatevClient | None = None

    @classmethod
    def get_singer_command(cls) -> click.Command:
        command = super().get_singer_command()
        command.help = (
            "Run the Singer tap for DATEV (reads clients, document types and submitted bookings).\n\n"
            "Other commands: `tap-datev login`, `tap-datev logout` and `tap-datev submit` "
            "(each with --help)."
        )
        return command

    def discover_streams(self) -> list[Stream]:
        return [stream_class(tap=self) for stream_class in stream_types()]


def cli() -> None:
    """The plain Singer command (what `tap-datev` runs when no subcommand is given)."""
    TapDatev.cli()

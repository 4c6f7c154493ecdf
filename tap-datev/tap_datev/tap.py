"""TapDatev: the Singer tap (settings, stream list). Discovery is offline: no token store, no network."""

from __future__ import annotations

import typing as t

import click
from singer_sdk import Stream, Tap
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from ml_credentials import CredentialStoreError
from tap_datev import log_filters, progress, settings
from tap_datev.ade_streams import ADE_STREAMS
from tap_datev.booking_streams import BOOKING_STREAMS
from tap_datev.client import DatevStream, shared_client
from tap_datev.errors import DatevConfigError
from tap_datev.message_writer import DatevMessageWriter
from tap_datev.single_sync import hold_sync_lock
from tap_datev.streams import STREAMS
from tap_datev.tokens import TokenStore

if t.TYPE_CHECKING:
    from tap_datev.client import DatevClient


def stream_types(config: t.Mapping[str, t.Any] | None = None) -> list[type[Stream]]:
    """Every stream class the tap offers, in sync order (parents before children). The Accounting
    Data Exchange streams only with `ade_enabled` (they need DATEV's approval and their own scope)."""
    ade = ADE_STREAMS if config is not None and settings.ade_enabled(config) else []
    return [*STREAMS, *BOOKING_STREAMS, *ade]


class TapDatev(Tap):
    """Singer tap for DATEV: clients, document types, submitted booking batches and their lines."""

    name = "tap-datev"
    config_jsonschema = settings.CONFIG_SCHEMA
    message_writer_class = DatevMessageWriter

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

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # Private in singer-sdk, but the one place config is validated for every command;
        # the SDK checks no JSON Schema `format` (start_date: "yesterday" would pass).
        found = settings.problems(self._config)
        if found and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=found)
        return [*found, *super()._validate_config(raise_errors=raise_errors)]

    @override
    def _set_compatible_replication_methods(self) -> None:
        # The first step of the SDK's (final) sync_all: the one place to act once at the start of a
        # run. tests/tap/core/test_tokens.py fails if an SDK upgrade stops calling it.
        hold_sync_lock(settings.state_dir(self.config))
        progress.install(self.logger)
        self._prove_session()
        super()._set_compatible_replication_methods()

    def _prove_session(self) -> None:
        """Before the first record: DATEV answers and the stored login works, or the run ends
        with one error naming the URL or the login to make. Logs the refresh token's expiry.

        A run of ledger and label streams alone needs neither DATEV nor a login (booking_batches
        polls only open jobs, and the first poll fails fast too): it only reads the store (no
        network), to log the expiry and end at once on an expired login.
        """
        if any(isinstance(s, (DatevStream, *ADE_STREAMS)) and s.selected for s in self.streams.values()):
            shared_client(self).prove_session()
            return
        try:
            stored = TokenStore.from_config(self.config).load()
        except (DatevConfigError, CredentialStoreError):
            return
        if stored is not None:
            shared_client(self).tokens.check_login()

    def discover_streams(self) -> list[Stream]:
        return [stream_class(tap=self) for stream_class in stream_types(self.config)]


log_filters.install(TapDatev.name)


def cli() -> None:
    """The plain Singer command (what `tap-datev` runs when no subcommand is given)."""
    TapDatev.cli()

"""Streams of the booked ledger, read through DATEV's Accounting Data Exchange API (opt-in:
`ade_enabled`). Every stream is partitioned by client x fiscal year:

- fiscal_years, accounting_sequences, general_ledger_accounts, sums_and_balances, terms_of_payment:
  full table, one small ndjson read per client and fiscal year and run.
- account_postings: one whole-year export job per client and fiscal year. DATEV gives a posting no id,
  so each read is a full snapshot: key = (client, fiscal year, accountingSequenceId, content hash,
  occurrence among identical postings); a posting the advisor changed gets a new key and the old one
  is retired by ACTIVATE_VERSION at the end of a complete snapshot.

Table versions (`_sdc_table_version`): a posting of a committed sequence (Festschreibung: DATEV allows
no change) carries COMMITTED_VERSION, above every run's version, so no later ACTIVATE_VERSION retires
it and a closed year need never be read again; every other posting carries the run's version. The
ACTIVATE_VERSION of a run is sent only after every fiscal year that is not closed was read in it.

A fiscal year is closed when its yearEnd is past, all its sequences are committed, and its sequence
list (re-read every run) equals the list at its last export. Years that are not closed are exported
together, at most once per `ade_postings_interval_hours`; a year never read is read at the next run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import typing as t

from singer_sdk import Stream

from tap_datev import settings
from tap_datev.ade_client import AdeJobError, AdeReader, content_hash
from tap_datev.ade_records import flat, posting_columns
from tap_datev.client import shared_client
from tap_datev.ledger import format_ts, parse_ts
from tap_datev.record_messages import SelectedRecordMessages
from tap_datev.streams import load_schema

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

# Above any run's version (epoch milliseconds): rows carrying it outlive every ACTIVATE_VERSION.
COMMITTED_VERSION = 2**63 - 1


def shared_reader(tap: Tap) -> AdeReader:
    """The tap's one AdeReader (fiscal years and sequence lists read once per run)."""
    reader: AdeReader | None = getattr(tap, "_datev_ade", None)
    if reader is None:
        reader = AdeReader(shared_client(tap), tap.config)
        tap._datev_ade = reader  # type: ignore[attr-defined]
    return reader


def sequences_digest(sequences: Iterable[t.Mapping[str, t.Any]]) -> str:
    """A fingerprint of a sequence list (order-independent)."""
    lines = sorted(json.dumps(s, sort_keys=True, default=str) for s in sequences)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def scope_granted(reader: AdeReader) -> bool:
    """False when the stored login's scopes are known and lack the exchange scope."""
    granted = reader.datev.granted_scopes
    return not granted or settings.ADE_SCOPE in granted


def datev_captions(tap: Tap) -> list[dict[str, t.Any]]:
    """gl_accounts records from DATEV's captions (latest fiscal year of each client); none when the
    login lacks the exchange scope."""
    reader = shared_reader(tap)
    if not scope_granted(reader):
        return []
    latest: dict[str, int] = {}
    for year in reader.fiscal_years:
        latest[year.client_id] = max(year.fiscal_year, latest.get(year.client_id, 0))
    return [
        {
            "client_id": client_id,
            "account_number": row["accountNumber"],
            "language": "de-DE",
            "label": row["caption"],
            "label_long": None,
            "label_source": "datev",
        }
        for client_id, fiscal_year in sorted(latest.items())
        for row in reader.general_ledger_accounts(client_id, fiscal_year)
        if row.get("caption") and row.get("accountNumber") is not None
    ]


class _AdeStream(SelectedRecordMessages, Stream):
    """One read per client x fiscal year; skipped with one line when the login lacks the scope."""

    primary_keys: t.ClassVar[list[str]] = ["client_id", "fiscal_year"]
    replication_key = None
    # Full table: one stream-level state, not a growing list of partitions.
    state_partitioning_keys: t.ClassVar[list[str]] = []
    _scope_note_logged = False

    @property
    def ade(self) -> AdeReader:
        return shared_reader(self._tap)

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        return self.ade.partitions() if self._scope_granted() else []

    def _scope_granted(self) -> bool:
        if scope_granted(self.ade):
            return True
        if not self._scope_note_logged:
            self.logger.info(
                "Skipping stream %s: the DATEV login did not grant %s; log in again "
                "(`tap-datev login`) now that ade_enabled is set",
                self.name,
                settings.ADE_SCOPE,
            )
            self._scope_note_logged = True
        return False

    def _path(self, context: Context) -> str:
        return f"/clients/{context['client_id']}/fiscal-years/{context['fiscal_year']}"

    def _where(self, context: Context) -> str:
        return f"client {context['client_id']} fiscal year {context['fiscal_year']}"

    def _rows(self, context: Context) -> Iterable[t.Mapping[str, t.Any]]:
        raise NotImplementedError

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not context:
            return
        keys = {"client_id": context["client_id"], "fiscal_year": context["fiscal_year"]}
        for row in self._rows(context):
            yield {**keys, **flat(row, f"{self.name} of {self._where(context)}")}


class FiscalYearsStream(_AdeStream):
    """The FiscalYear object: account length, chart of accounts, begin and end, taxation method, ..."""

    name = "fiscal_years"
    schema = load_schema("fiscal_years")

    def _rows(self, context: Context) -> Iterable[t.Mapping[str, t.Any]]:
        year = self.ade.fiscal_year(context["client_id"], context["fiscal_year"])
        return [year] if year else []


class AccountingSequencesStream(_AdeStream):
    """Accounting sequences (Buchungsstapel) as DATEV holds them, with isCommitted (Festschreibung)."""

    name = "accounting_sequences"
    primary_keys: t.ClassVar[list[str]] = ["client_id", "fiscal_year", "accounting_sequence_id"]
    schema = load_schema("accounting_sequences")

    def _rows(self, context: Context) -> Iterable[t.Mapping[str, t.Any]]:
        return self.ade.sequences(context["client_id"], context["fiscal_year"])


class GeneralLedgerAccountsStream(_AdeStream):
    """Account captions (Kontobeschriftungen) of the fiscal year's chart, booked or not."""

    name = "general_ledger_accounts"
    primary_keys: t.ClassVar[list[str]] = ["client_id", "fiscal_year", "account_number"]
    schema = load_schema("general_ledger_accounts")

    def _rows(self, context: Context) -> Iterable[t.Mapping[str, t.Any]]:
        return self.ade.general_ledger_accounts(context["client_id"], context["fiscal_year"])


class SumsAndBalancesStream(_AdeStream):
    """Opening balances, monthly balances and annual values per account."""

    name = "sums_and_balances"
    primary_keys: t.ClassVar[list[str]] = ["client_id", "fiscal_year", "account_number"]
    schema = load_schema("sums_and_balances")

    def _rows(self, context: Context) -> Iterable[t.Mapping[str, t.Any]]:
        return self.ade.get_ndjson(f"{self._path(context)}/sums-and-balances")


class TermsOfPaymentStream(_AdeStream):
    """Terms of payment (Zahlungsbedingungen) of the fiscal year."""

    name = "terms_of_payment"
    primary_keys: t.ClassVar[list[str]] = ["client_id", "fiscal_year", "id"]
    schema = load_schema("terms_of_payment")

    def _rows(self, context: Context) -> Iterable[t.Mapping[str, t.Any]]:
        return self.ade.get_ndjson(f"{self._path(context)}/terms-of-payment")


class AccountPostingsStream(_AdeStream):
    """The booked postings of each client x fiscal year (see the module docstring)."""

    name = "account_postings"
    primary_keys: t.ClassVar[list[str]] = [
        "client_id",
        "fiscal_year",
        "accounting_sequence_id",
        "posting_hash",
        "occurrence",
    ]
    state_partitioning_keys: t.ClassVar[list[str]] = ["client_id", "fiscal_year"]
    schema = load_schema("account_postings")

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.run_version = int(time.time() * 1000)
        self._due: bool | None = None
        self._complete = True

    @property
    def emit_activate_version_messages(self) -> bool:
        # The SDK's own ACTIVATE_VERSION comes first and carries one version for every row; this
        # stream sends its own at the end of a complete snapshot (see the module docstring).
        return False

    # -- what to read ------------------------------------------------------------------------------
    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def closed(self, context: Context) -> bool:
        """yearEnd past, every sequence committed, and the sequence list as at the last export."""
        state = self.get_context_state(context)
        if not state.get("read_at"):
            return False
        client_id, fiscal_year = context["client_id"], context["fiscal_year"]
        sequences = self.ade.sequences(client_id, fiscal_year)
        year_end = self.ade.fiscal_year(client_id, fiscal_year).get("yearEnd")
        return (
            bool(year_end)
            and dt.date.fromisoformat(str(year_end)[:10]) < self._now().date()
            and all(s.get("isCommitted") for s in sequences)
            and state.get("sequences_digest") == sequences_digest(sequences)
        )

    def due(self) -> bool:
        """True when the years that are not closed are to be exported in this run (all together)."""
        if self._due is None:
            interval = dt.timedelta(hours=settings.number(self.config, "ade_postings_interval_hours"))
            self._due = False
            for context in self.partitions or []:
                if self.closed(context):
                    continue
                read_at = self.get_context_state(context).get("read_at")
                if not read_at or self._now() - parse_ts(read_at) >= interval:
                    self._due = True
                    break
        return self._due

    # -- reading -----------------------------------------------------------------------------------
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not context:
            return
        try:
            yield from self._read(context)
        except AdeJobError as exc:
            self._complete = False
            self.logger.warning("%s", exc)
        partitions = self.partitions or []
        if partitions and context == partitions[-1] and self.due() and self._complete:
            # Every year that is not closed was read in full: retire what none of them holds now.
            self._write_activate_version_message(self.run_version)
            self.logger.info("account_postings: complete snapshot, ACTIVATE_VERSION %d", self.run_version)

    def _read(self, context: Context) -> Iterable[dict[str, t.Any]]:
        client_id, fiscal_year = str(context["client_id"]), int(context["fiscal_year"])
        where = self._where(context)
        state = self.get_context_state(context)
        if self.closed(context):
            self.logger.info(
                "account_postings of %s: closed, exported %s, not read again", where, state["read_at"]
            )
            return
        if not self.due():
            self.logger.info(
                "account_postings of %s: exported %s; the next export is due %s h after it "
                "(ade_postings_interval_hours)",
                where,
                state.get("read_at"),
                settings.number(self.config, "ade_postings_interval_hours"),
            )
            return
        sequences = self.ade.sequences(client_id, fiscal_year)
        committed = {s.get("accountingSequenceId"): bool(s.get("isCommitted")) for s in sequences}
        currency = self.ade.fiscal_year(client_id, fiscal_year).get("currencyCode")
        started = self._now()
        posted_at = self.ade.datev.clock()
        job_id = self.ade.start_postings_job(client_id, fiscal_year)
        self.ade.wait_for_job(client_id, job_id)
        # Identical postings (the hash covers accountingSequenceId) are numbered. 8 bytes of the hash
        # are enough to count them: a collision only raises an occurrence number, the key stays unique.
        seen: dict[int, int] = {}
        count = 0
        for posting in self.ade.job_postings(client_id, job_id, posted_at):
            count += 1
            digest = content_hash(posting)
            sequence_id = posting.get("accountingSequenceId")
            slot = int(digest[:16], 16)
            occurrence = seen[slot] = seen.get(slot, 0) + 1
            here = f"account_postings of {where}, job {job_id} posting {count}"
            record = {
                "client_id": client_id,
                "fiscal_year": fiscal_year,
                "posting_hash": digest,
                "occurrence": occurrence,
                "job_id": job_id,
                "is_committed": committed.get(sequence_id),
                **posting_columns(posting, currency, here),
                **flat(posting, here),
            }
            # RECORD messages carry the stream's version at the moment the record is written, which
            # is right after this yield.
            self._stream_version = COMMITTED_VERSION if committed.get(sequence_id) else self.run_version
            yield record
        state.update(
            read_at=format_ts(started),
            job_id=job_id,
            postings=count,
            sequences=len(sequences),
            sequences_digest=sequences_digest(sequences),
        )
        self.logger.info("account_postings of %s: %d postings exported by job %s", where, count, job_id)


ADE_STREAMS: list[type[Stream]] = [
    FiscalYearsStream,
    AccountingSequencesStream,
    GeneralLedgerAccountsStream,
    SumsAndBalancesStream,
    TermsOfPaymentStream,
    AccountPostingsStream,
]

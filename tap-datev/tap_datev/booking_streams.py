"""Streams built from what the user submits: booking batches, booking lines, documents, labels.

DATEV offers no way to read these back, so they come from the submissions ledger (see
ledger.py) and the files kept there, plus the label files and settings the user gives:

- documents         every tracked document, incremental on upload_date, per client
- booking_batches   EXTF and DXSO jobs; open jobs are polled first; incremental on updated_at
- booking_lines     child of booking_batches: the lines of each batch emitted in this run
- gl_accounts       labels from the `gl_accounts` setting and EXTF category 20 files, full table
- business_partners EXTF category 16 files, full table

Every stream is partitioned by client_id (state per client). Syncs that write the ledger hold
its lock, so a `submit` never runs alongside them.
"""

from __future__ import annotations

import functools
import typing as t
from itertools import chain
from pathlib import Path

from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_datev import settings
from tap_datev.arrow_batches import ArrowBatchesMixin
from tap_datev.client import shared_client
from tap_datev.extf_columns import BUCHUNGSSTAPEL
from tap_datev.jobs import refresh_open_jobs
from tap_datev.ledger import Ledger, Submission, format_ts
from tap_datev.record_messages import SelectedRecordMessages
from tap_datev.streams import load_schema

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_datev.client import DatevClient

BATCH_KINDS = ("extf", "dxso")


def _ledger_exists(config: Mapping[str, t.Any]) -> bool:
    return (settings.state_dir(config) / "ledger.sqlite").exists()


def _wanted(config: Mapping[str, t.Any], client_ids: Iterable[str]) -> list[dict[str, t.Any]]:
    only = settings.client_ids(config)
    return [{"client_id": c} for c in sorted(set(client_ids)) if only is None or c in only]


class _LedgerStream(SelectedRecordMessages, ArrowBatchesMixin, Stream):
    """A stream read from the ledger, one state partition per client found there."""

    kinds: t.ClassVar[tuple[str, ...]] = ()
    scopes: t.ClassVar[tuple[str, ...]] = ()

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        if not _ledger_exists(self.config):
            return []
        with Ledger.open(settings.state_dir(self.config)) as ledger:
            return _wanted(self.config, ledger.client_ids(self.kinds))

    def _since(self, context: Context | None) -> str | None:
        start = self.get_starting_timestamp(context)
        return format_ts(start) if start is not None else None


class DocumentsStream(_LedgerStream):
    """Documents uploaded with `tap-datev submit document` (DATEV cannot list them)."""

    name = "documents"
    primary_keys: t.ClassVar[list[str]] = ["client_id", "guid"]
    replication_key = "upload_date"
    is_sorted = True
    kinds = ("document",)
    schema = load_schema("documents")

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not context or not _ledger_exists(self.config):
            return
        with Ledger.open(settings.state_dir(self.config)) as ledger:
            rows = ledger.changed_since(
                context["client_id"], self.kinds, self._since(context), column="uploaded_at"
            )
        for row in rows:
            yield document_record(row)


def document_record(row: Submission) -> dict[str, t.Any]:
    answer = row.answer if isinstance(row.answer, dict) else {}
    files = answer.get("files") or [{}]
    first = files[0] if isinstance(files[0], dict) else {}
    return {
        "client_id": row.client_id,
        "guid": row.batch_id,
        "document_type": row.document_type,
        "note": row.note,
        "file_name": row.file_name,
        "size": row.size,
        "sha256": row.sha256,
        "status": row.status,
        "result": row.result,
        "error": row.error,
        "upload_date": row.uploaded_at,
        "datev_upload_date": first.get("upload_date"),
        "datev_file_id": first.get("id"),
        "created_at": row.created_at,
    }


class BookingBatchesStream(_LedgerStream):
    """EXTF and DXSO submissions with DATEV's job status. Open jobs are polled before reading.

    A batch is emitted when it is new or its status (or DATEV's answer) changed since the
    bookmark: the ledger moves `updated_at` only then, so an unchanged pending job stays quiet.
    """

    name = "booking_batches"
    primary_keys: t.ClassVar[list[str]] = ["batch_id"]
    replication_key = "updated_at"
    is_sorted = True
    kinds = BATCH_KINDS
    # Polling only touches jobs `submit` created; their scopes come with `submit_kinds`, so a
    # login asks for the DXSO scopes only when DXSO submissions are enabled.
    scopes: t.ClassVar[tuple[str, ...]] = ()
    schema = load_schema("booking_batches")

    def _datev(self) -> DatevClient:
        # Only created when a job is open: a run with nothing pending touches no token.
        return shared_client(self._tap)

    @override
    def _write_schema_message(self) -> None:
        # singer-sdk sends a child's SCHEMA only with its first parent record. Sent here with the
        # parent's (once per run), booking_lines is an (empty) table from the first run on, so
        # what reads the tables (the marts) finds it before anything was submitted.
        super()._write_schema_message()
        if not self._children_announced:
            self._children_announced = True
            for child in self.child_streams:
                if child.selected:
                    child._write_schema_message()

    _children_announced = False

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not context or not _ledger_exists(self.config):
            return
        client_id = str(context["client_id"])
        with Ledger.open(settings.state_dir(self.config)) as ledger:
            made = refresh_open_jobs(ledger, client_id, self.kinds, self._datev)
            if made:
                self.logger.info("Polled %d open DATEV job request(s) for client %s", made, client_id)
            rows = ledger.changed_since(client_id, self.kinds, self._since(context))
            for row in rows:
                yield batch_record(row)

    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        # Lines only for batches that reached DATEV as a job; the rest have no job_result to carry.
        if record.get("job_id"):
            yield {"client_id": record["client_id"], "batch_id": record["batch_id"]}


def _validation_code(details: t.Any) -> str | None:
    if not isinstance(details, dict) or not details.get("type"):
        return None
    return str(details["type"]).rstrip("/").rsplit("/", 1)[-1] or None


def batch_record(row: Submission) -> dict[str, t.Any]:
    return {
        "batch_id": row.batch_id,
        "client_id": row.client_id,
        "kind": row.kind,
        "file_name": row.file_name,
        "sha256": row.sha256,
        "size": row.size,
        "reference_id": row.reference_id,
        "status": row.status,
        "job_id": row.job_id,
        "result": row.result,
        "number_of_accounting_records": row.number_of_accounting_records,
        "validation_details": row.validation_details,
        "validation_code": _validation_code(row.validation_details),
        "dxso_status": row.dxso_status,
        "protocol_entries": row.protocol,
        "import_type": row.import_type,
        "accounting_month": row.accounting_month,
        "error": row.error,
        "created_at": row.created_at,
        "uploaded_at": row.uploaded_at,
        "last_polled_at": row.last_polled_at,
        "final_at": row.final_at,
        "updated_at": row.updated_at,
        "file_line_count": row.file_line_count,
        "file_debit_sum": row.file_debit_sum,
        "file_credit_sum": row.file_credit_sum,
        "posting_digest": row.posting_digest,
    }


class BookingLinesStream(SelectedRecordMessages, ArrowBatchesMixin, Stream):
    """The lines of each batch booking_batches emits, parsed from the kept file.

    The whole file is read before the first line goes out, so a batch is never emitted in part;
    an unreadable file ends the stream naming file, line and field. When a batch's status
    changes, booking_batches emits it again and its lines follow with the new job_result.
    """

    name = "booking_lines"
    primary_keys: t.ClassVar[list[str]] = ["client_id", "batch_id", "line_number"]
    replication_key = None
    parent_stream_type = BookingBatchesStream
    state_partitioning_keys: t.ClassVar[list[str]] = ["client_id"]
    scopes: t.ClassVar[tuple[str, ...]] = ()
    schema = load_schema("booking_lines")
    # The parser builds each record to the schema exactly (money as strings, accounts as ints, every
    # field present); the SDK's per-field conformance pass over ~145 fields would otherwise cost
    # about two thirds of the sync time (bench/bench_tap.py). Tests validate records against it.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        # No generator here: the lines come straight from the parser's iterator, no frame per line.
        if not context or "batch_id" not in context:
            return ()
        with Ledger.open(settings.state_dir(self.config)) as ledger:
            row = ledger.require(str(context["batch_id"]))
            labels = shared_labels(self._tap).by_client.get(row.client_id, {})
            return parse_batch_lines(ledger, row, labels, self.logger.warning)


def parse_batch_lines(
    ledger: Ledger,
    row: Submission,
    labels: Mapping[str, str],
    warn: t.Callable[..., None],
) -> Iterator[dict[str, t.Any]]:
    """The booking lines of one batch (EXTF file or the DXSO package's ledger XMLs).

    Every file is read before this returns, so an unreadable file raises before any line of the
    batch goes out. An EXTF file's lines are then converted one at a time (the conversion is lenient:
    a bad value is a null and a warning), so a batch's records are never all held at once.
    """
    if row.kind == "extf":
        from tap_datev import extf

        parsed = extf.read_extf(ledger.kept_file(row.sha256, row.file_name), row.file_name)
        if parsed.header.category != BUCHUNGSSTAPEL:
            return iter(())  # master data (labels, business partners): a batch without booking lines
        lines = extf.booking_lines(
            parsed,
            client_id=row.client_id,
            batch_id=row.batch_id,
            job_id=row.job_id,
            job_result=row.result,
            labels=labels,
        )
        return _then_warn(lines, parsed.warnings, warn)
    from tap_datev import dxso

    # A package usually has one ledger XML per invoice: number the lines as if the package's
    # ledger files were one file, so (batch_id, line_number) stays unique.
    records: list[dict[str, t.Any]] = []
    warnings: list[str] = []
    offset = 0
    for kept in ledger.files(row.batch_id):
        if kept.role == "ledger":
            data = ledger.kept_file(kept.sha256)
            records.extend(
                dxso.booking_lines(
                    dxso.read_ledger_xml(data, kept.file_name),
                    client_id=row.client_id,
                    batch_id=row.batch_id,
                    job_id=row.job_id,
                    job_result=row.result,
                    labels=labels,
                    warnings=warnings,
                    line_base=offset,
                )
            )
            offset += data.count(b"\n") + 1
    return _then_warn(iter(records), warnings, warn)


def _then_warn(
    lines: Iterator[dict[str, t.Any]], warnings: list[str], warn: t.Callable[..., None]
) -> Iterator[dict[str, t.Any]]:
    """`lines`, then each of `warnings` (which the conversion appends to as it goes) logged once."""
    return chain(lines, _warned(warnings, warn))  # chain: no Python frame per line


def _warned(warnings: list[str], warn: t.Callable[..., None]) -> Iterator[dict[str, t.Any]]:
    """Nothing, once each of `warnings` is logged (when the lines before it are all out)."""
    for message in warnings:
        warn("%s", message)
    yield from ()


# Labels: the gl_accounts setting, category 20 files, category 16 files -------------------------


class Labels:
    """The label settings and files of one run, each file read once: GL account labels, business
    partners, and from both the account number → label map of each client. Problems a file has
    (a skipped row, a header field) go to `warn` once."""

    def __init__(
        self,
        config: Mapping[str, t.Any],
        warn: t.Callable[..., None],
        captions: t.Callable[[], list[dict[str, t.Any]]] | None = None,
    ) -> None:
        self.config = config
        self.warn = warn
        self.captions = captions  # DATEV's own labels (ade_enabled): for accounts without one here

    def _read(self, path: str) -> t.Any:
        from tap_datev import extf

        p = Path(path).expanduser()
        return extf.read_extf(p.read_bytes(), p.name)

    @functools.cached_property
    def gl_accounts(self) -> list[dict[str, t.Any]]:
        """Files first, then the setting (a setting entry wins over a file's label for the same key),
        then DATEV's captions for accounts with no label from either; `label_source` says which."""
        from tap_datev import extf

        found: dict[tuple[str, str, str], dict[str, t.Any]] = {}
        for path in self.config.get("gl_account_files") or ():
            f = self._read(path)
            for rec in extf.gl_accounts(f, client_id=f.header.client_id):
                found[(rec["client_id"], str(rec["account_number"]), rec["language"])] = {
                    **rec,
                    "label_source": "file",
                }
            self._report(f)
        for entry in self.config.get("gl_accounts") or ():
            language = entry.get("language") or "de-DE"
            rec = {
                "client_id": str(entry["client_id"]),
                "account_number": _account_number(entry["account_number"]),
                "language": language,
                "label": entry["label"],
                "label_long": None,
                "label_source": "setting",
            }
            found[(rec["client_id"], str(rec["account_number"]), language)] = rec
        labelled = {(client, account) for client, account, _ in found}
        for rec in self.captions() if self.captions else ():
            if (rec["client_id"], str(rec["account_number"])) not in labelled:
                found[(rec["client_id"], str(rec["account_number"]), rec["language"])] = rec
        return list(found.values())

    @functools.cached_property
    def business_partners(self) -> list[dict[str, t.Any]]:
        from tap_datev import extf

        found: dict[tuple[str, str], dict[str, t.Any]] = {}
        for path in self.config.get("business_partner_files") or ():
            f = self._read(path)
            for rec in extf.business_partners(f, client_id=f.header.client_id):
                found[(rec["client_id"], str(rec["account_number"]))] = rec
            self._report(f)
        return list(found.values())

    @functools.cached_property
    def by_client(self) -> dict[str, dict[str, str]]:
        """Account number → label per client: GL labels (German first) and partner names."""
        labels: dict[str, dict[str, str]] = {}

        def add(rec: dict[str, t.Any], label: str) -> None:
            labels.setdefault(rec["client_id"], {}).setdefault(str(rec["account_number"]), str(label))

        gl = [r for r in self.gl_accounts if r.get("label")]
        for rec in sorted(gl, key=lambda r: r["language"] != "de-DE"):  # German wins, others fill gaps
            add(rec, rec["label"])
        for rec in self.business_partners:
            if rec.get("name"):
                add(rec, rec["name"])
        return labels

    def _report(self, f: t.Any) -> None:
        for message in f.warnings:
            self.warn("%s", message)


def _account_number(value: t.Any) -> t.Any:
    text = str(value).strip()
    return int(text) if text.isdigit() else text


def shared_labels(tap: Tap) -> Labels:
    """The tap's one Labels (read on first use, by whichever stream needs it first)."""
    labels: Labels | None = getattr(tap, "_datev_labels", None)
    if labels is None:
        captions = None
        if settings.ade_enabled(tap.config):
            from tap_datev.ade_streams import datev_captions

            captions = functools.partial(datev_captions, tap)
        labels = Labels(tap.config, tap.logger.warning, captions)
        tap._datev_labels = labels  # type: ignore[attr-defined]
    return labels


class _LabelStream(SelectedRecordMessages, ArrowBatchesMixin, Stream):
    """Full-table stream from config and files; partitioned by client like the others."""

    replication_key = None
    scopes: t.ClassVar[tuple[str, ...]] = ()

    def _all(self) -> list[dict[str, t.Any]]:
        raise NotImplementedError

    @property
    def partitions(self) -> list[dict[str, t.Any]] | None:
        return _wanted(self.config, (r["client_id"] for r in self._all()))

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not context:
            return
        yield from (r for r in self._all() if r["client_id"] == context["client_id"])


class GlAccountsStream(_LabelStream):
    """General ledger account labels (Kontenbeschriftungen)."""

    name = "gl_accounts"
    primary_keys: t.ClassVar[list[str]] = ["client_id", "account_number", "language"]
    schema = load_schema("gl_accounts")

    def _all(self) -> list[dict[str, t.Any]]:
        return shared_labels(self._tap).gl_accounts


class BusinessPartnersStream(_LabelStream):
    """Debtors and creditors (Debitoren/Kreditoren) from EXTF category 16 files."""

    name = "business_partners"
    primary_keys: t.ClassVar[list[str]] = ["client_id", "account_number"]
    schema = load_schema("business_partners")

    def _all(self) -> list[dict[str, t.Any]]:
        return shared_labels(self._tap).business_partners


BOOKING_STREAMS: list[type[Stream]] = [
    DocumentsStream,
    BookingBatchesStream,
    BookingLinesStream,
    GlAccountsStream,
    BusinessPartnersStream,
]

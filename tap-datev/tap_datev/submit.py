"""`tap-datev submit extf|dxso|document`: upload to DATEV, recording every step in the ledger first.

Order of every submission: check locally (nothing is recorded or sent on a refusal) → keep the
file → write the ledger row → send → record DATEV's answer. Requests that may have reached DATEV
without us hearing back ("unclear": dropped connection, timeout, 5xx after the body was sent) are
never blindly repeated when a repeat could create a second job: an EXTF upload is first looked up
in DATEV's job list by its Reference-Id; a document PUT is idempotent by its GUID (409 = there).

Looking jobs up and polling them (also for the booking_batches stream) is jobs.py's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import mimetypes
import re
import typing as t
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

import click
import requests

from tap_datev import extf, settings
from tap_datev.booking_line import money
from tap_datev.client import DatevClient, parse_retry_after
from tap_datev.command_config import config_option, load_config
from tap_datev.documents_rules import DocumentRuleError, check_document, check_file_name
from tap_datev.errors import DatevAPIError, DatevAuthError, DatevConfigError
from tap_datev.jobs import DXSO_OPEN, apply_extf_job, dxso_job_status, find_extf_job
from tap_datev.ledger import (
    FAILED,
    PENDING,
    SUCCEEDED,
    TICK,
    UNCLEAR,
    UPLOADING,
    FileFigures,
    Ledger,
    LedgerError,
    Submission,
    format_ts,
    sha256_hex,
    utc_now,
)
from tap_datev.settings import CLIENTS_READ_SCOPE, DOCUMENTS_SCOPE, DXSO_SCOPE, EXTF_SCOPE

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

logger = logging.getLogger("tap-datev.submit")

REFERENCE_ID = re.compile(r"[-0-9A-Za-z_äöüÄÖÜß_. +?;]{0,254}")
DXSO_IMPORT_TYPES = ("accountsPayableLedgerImport", "accountsReceivableLedgerImport", "cashLedgerImport")
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
MAX_429_RETRIES = 5
MAX_RESENDS = 3  # after an unclear outcome that DATEV's job list shows never arrived
DEFAULT_RETRY_AFTER = 5.0


class SubmitRefused(click.ClickException):
    """A local check failed: nothing was recorded and nothing was sent."""


class SubmitFailed(click.ClickException):
    """DATEV refused the submission or its outcome is unclear; the ledger row says which."""


@dataclass
class Outcome:
    """One request's end: a response, a DATEV error, or no answer at all (unclear)."""

    response: requests.Response | None = None
    error: DatevAPIError | None = None
    unclear: str | None = None
    retry_after: float | None = None


def _send_once(
    client: DatevClient,
    method: str,
    api: str,
    path: str,
    **kwargs: t.Any,
) -> Outcome:
    """One attempt without the client's own retries (a blind POST retry could create two jobs).

    A response hook keeps the last response so a 429's Retry-After can be honoured here.
    """
    seen: list[requests.Response] = []

    def keep(response: requests.Response, *_: t.Any, **__: t.Any) -> requests.Response:
        seen.append(response)
        return response

    headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
    request = requests.Request(
        method, client.base_url(api) + path, headers=headers, hooks={"response": [keep]}, **kwargs
    )
    try:
        return Outcome(response=client.send(request, retry=False))
    except DatevAPIError as exc:
        retry_after = None
        if seen:
            retry_after = parse_retry_after(seen[-1].headers.get("Retry-After"), client.clock())
        if exc.status >= 500:
            return Outcome(error=exc, unclear=str(exc), retry_after=retry_after)
        return Outcome(error=exc, retry_after=retry_after)
    except (requests.ConnectionError, requests.Timeout) as exc:
        return Outcome(unclear=f"no answer from DATEV ({type(exc).__name__})")


def _send(
    client: DatevClient,
    method: str,
    api: str,
    path: str,
    **kwargs: t.Any,
) -> Outcome:
    """`_send_once`, repeated after a 429 (the request was not processed) honouring Retry-After."""
    for attempt in range(MAX_429_RETRIES + 1):
        outcome = _send_once(client, method, api, path, **kwargs)
        if outcome.error is None or outcome.error.status != 429 or attempt == MAX_429_RETRIES:
            return outcome
        delay = outcome.retry_after if outcome.retry_after is not None else DEFAULT_RETRY_AFTER
        logger.warning("DATEV answered 429 for %s %s; retrying in %.1f s", method, path, delay)
        client.sleep(delay)
    raise AssertionError("unreachable")


# Clients ---------------------------------------------------------------------------------------


def find_client(client: DatevClient, consultant_number: int, client_number: int) -> dict[str, t.Any] | None:
    """The client with these numbers from `GET /clients`, or None when the login cannot see it.

    Uses the clients API's `filter` (`consultant_number eq N and client_number eq M`): one request
    instead of paging through every client (DATEV asks for few GETs per submitted job).
    """
    answer = client.request(
        "GET",
        "clients",
        "/clients",
        params={"filter": f"consultant_number eq {consultant_number} and client_number eq {client_number}"},
    ).json()
    for entry in answer if isinstance(answer, list) else []:
        if (entry.get("consultant_number"), entry.get("client_number")) == (consultant_number, client_number):
            return dict(entry)
    return None


def _client_numbers(client_id: str) -> tuple[int, int] | None:
    consultant, _, number = client_id.partition("-")
    if not (consultant.isdigit() and number.isdigit()):
        return None
    return int(consultant), int(number)


def _services(entry: Mapping[str, t.Any]) -> tuple[set[str], list[str]]:
    services = [s for s in entry.get("services") or [] if isinstance(s, dict)]
    scopes = {str(scope) for s in services for scope in s.get("scopes") or []}
    return scopes, [str(s.get("name")) for s in services]


def require_client(
    client: DatevClient,
    service_scope: str,
    *,
    client_id: str | None = None,
    numbers: tuple[int, int] | None = None,
) -> str:
    """The client's id, after checking (DATEV's rule, via GET /clients) that the login sees the
    client and that the client has the data service `service_scope` belongs to."""
    if numbers is None:
        numbers = _client_numbers(client_id or "")
        if numbers is None:
            raise SubmitRefused(
                f"{client_id!r} is not a DATEV client id (<consultant number>-<client number>, "
                "e.g. 29098-55003)"
            )
    entry = find_client(client, *numbers)
    if entry is None:
        if client_id is not None:
            raise SubmitRefused(
                f"Client {client_id} is not among the DATEV clients this login can see (GET /clients)"
            )
        raise SubmitRefused(
            f"The file's header names consultant number {numbers[0]} and client number "
            f"{numbers[1]}, but no such client is among the DATEV clients this login can see "
            "(GET /clients)"
        )
    found_id = str(entry.get("id"))
    scopes, names = _services(entry)
    if service_scope not in scopes:
        raise SubmitRefused(
            f"Client {found_id} does not have the DATEV data service this needs (scope "
            f"{service_scope}); its services are: {', '.join(names) or '(none)'}"
        )
    return found_id


# EXTF ------------------------------------------------------------------------------------------


def reference_id_for(batch_id: str) -> str:
    """Reference-Id sent with an EXTF upload: the ledger id, within DATEV's pattern."""
    reference = f"mlc_{batch_id}"
    assert REFERENCE_ID.fullmatch(reference)
    return reference


def _job_id_from_location(location: str | None) -> str | None:
    if not location:
        return None
    return location.rstrip("/").rsplit("/", 1)[-1] or None


def _retry_after_seconds(client: DatevClient, response: requests.Response) -> float:
    return parse_retry_after(response.headers.get("Retry-After"), client.clock()) or 0.0


def fiscal_years(client: DatevClient, client_id: str) -> list[extf.FiscalYear]:
    """The client's fiscal years as DATEV reports them (accounting basics, `GET /clients/{id}` of
    the documents API: the last three years, each with its account length)."""
    try:
        body = client.request("GET", "documents", f"/clients/{client_id}").json()
    except DatevAPIError as exc:
        if exc.status != 403:
            raise
        raise SubmitRefused(
            f"The fiscal years of client {client_id} cannot be read from DATEV ({exc}); they need the "
            f"scope {CLIENTS_READ_SCOPE}: run `tap-datev login` again"
        ) from exc
    infos = body.get("basic_accounting_information") if isinstance(body, dict) else None
    years = []
    for info in infos if isinstance(infos, list) else []:
        start = _iso_day(info.get("fiscal_year_start")) if isinstance(info, dict) else None
        if start is not None:
            length = info.get("account_length")
            end = _iso_day(info.get("fiscal_year_end"))
            years.append(extf.FiscalYear(start, end, length if isinstance(length, int) else None))
    return sorted(years, key=lambda y: y.start)


def _iso_day(value: t.Any) -> dt.date | None:
    """A date from DATEV's `2016-01-01` or `2016-01-01T00:00:00.000+0000`."""
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class PreparedExtf:
    """An EXTF file that passed every check, as it will be sent and kept."""

    file_name: str
    data: bytes  # with the BOM --add-bom adds and CR LF line ends
    client_id: str
    checked: extf.ExtfFile
    figures: FileFigures
    fiscal_year: extf.FiscalYear | None


def extf_figures(f: extf.ExtfFile) -> FileFigures:
    totals = extf.batch_totals(f)
    if totals is None:
        return FileFigures(posting_digest=extf.posting_digest(f))
    return FileFigures(
        posting_digest=extf.posting_digest(f),
        line_count=totals.line_count,
        debit_sum=money(totals.debit_sum),
        credit_sum=money(totals.credit_sum),
    )


def prepare_extf(
    client: DatevClient,
    ledger: Ledger | None,
    file_name: str,
    data: bytes,
    *,
    force: bool = False,
    add_bom: bool = False,
) -> PreparedExtf:
    """Every check before an EXTF upload, local and against the client's DATEV data; sends nothing.

    Local: DATEV-Format rules (extf.check_for_submit), line ends (bare LF → CR LF, one warning).
    At DATEV (GETs only): the header's client exists for this login and has the EXTF service;
    WJ-Beginn and Sachkontenlänge match one of its fiscal years. In the ledger (when given): the
    same postings were not submitted already. With `force` a fiscal-year mismatch only warns and
    the ledger is not asked.
    """
    file_name = unicodedata.normalize("NFC", file_name)
    if add_bom:
        data = extf.add_bom(data)
    try:
        checked = extf.check_for_submit(data, file_name)
    except extf.ExtfError as exc:
        raise SubmitRefused(str(exc)) from exc
    sent = extf.with_crlf(data, checked)
    if sent is not data:
        logger.warning(
            "%s: the file has LF line ends; DATEV requires CR LF, so the submitted copy has CR LF",
            file_name,
        )
    header = checked.header
    client_id = require_client(client, EXTF_SCOPE, numbers=(header.consultant_number, header.client_number))
    years = fiscal_years(client, client_id)
    try:
        extf.check_fiscal_year(checked, client_id, years)
    except extf.ExtfError as exc:
        if not force:
            raise SubmitRefused(f"{exc} (--force sends it anyway; DATEV's import job will fail)") from exc
        logger.warning("%s; sending it anyway (--force): DATEV's import job will fail", exc)
    figures = extf_figures(checked)
    if ledger is not None and not force:
        refuse_duplicate(
            ledger,
            "extf",
            sha256_hex(sent),
            f"{file_name}: the same postings",
            posting_digest=figures.posting_digest,
        )
    fiscal_year = next((y for y in years if y.start == header.fiscal_year_start), None)
    return PreparedExtf(file_name, sent, client_id, checked, figures, fiscal_year)


def submit_extf(
    client: DatevClient,
    ledger: Ledger,
    file_name: str,
    data: bytes,
    *,
    force: bool = False,
    add_bom: bool = False,
) -> Submission:
    """Check, record, upload one EXTF file; returns the ledger row (pending, or final)."""
    prepared = prepare_extf(client, ledger, file_name, data, force=force, add_bom=add_bom)
    file_name, data, client_id = prepared.file_name, prepared.data, prepared.client_id
    digest = ledger.keep_file(data)
    batch_id = str(uuid.uuid4())
    row = ledger.record(
        kind="extf",
        client_id=client_id,
        file_name=file_name,
        sha256=digest,
        size=len(data),
        reference_id=reference_id_for(batch_id),
        batch_id=batch_id,
        figures=prepared.figures,
    )
    headers = {
        "Filename": file_name,
        "Reference-Id": row.reference_id or "",
        "Content-Type": "application/octet-stream",
    }
    path = f"/clients/{client_id}/extf-files/import"
    for _ in range(MAX_RESENDS + 1):
        row = ledger.update(batch_id, status=UPLOADING)
        outcome = _send(client, "POST", "extf", path, headers=headers, data=data)
        if outcome.response is not None:
            response = outcome.response
            now = utc_now()
            next_poll = now + dt.timedelta(seconds=_retry_after_seconds(client, response))
            return ledger.update(
                batch_id,
                status=PENDING,
                result="pending",
                job_id=_job_id_from_location(response.headers.get("Location")),
                uploaded_at=TICK,
                next_poll_at=format_ts(next_poll),
                error=None,
            )
        if outcome.unclear is None:
            assert outcome.error is not None
            ledger.update(batch_id, status=FAILED, error=str(outcome.error), uploaded_at=TICK)
            raise SubmitFailed(f"{file_name}: {outcome.error}")
        # Unclear: the job may exist. Look before sending again, so there is never a second job.
        ledger.update(batch_id, status=UNCLEAR, error=outcome.unclear)
        logger.warning("%s: %s; looking the upload up in DATEV's job list", file_name, outcome.unclear)
        if outcome.retry_after:  # a 503 says when DATEV wants to hear from us again
            client.sleep(outcome.retry_after)
        try:
            job = find_extf_job(client, ledger.require(batch_id))
        except (DatevAPIError, requests.RequestException) as exc:
            raise SubmitFailed(
                f"{file_name}: the upload's outcome is unclear ({outcome.unclear}) and DATEV's job list "
                f"could not be read ({exc}); ledger row {batch_id} stays 'unclear', the next sync "
                "looks it up again"
            ) from exc
        if job is not None:
            return apply_extf_job(ledger, ledger.require(batch_id), job)
        logger.warning("%s: no job with Reference-Id %s; sending again", file_name, row.reference_id)
    raise SubmitFailed(
        f"{file_name}: no answer from DATEV after {MAX_RESENDS + 1} attempts; ledger row {batch_id} "
        "stays 'unclear'"
    )


# Documents -------------------------------------------------------------------------------------


def document_types(client: DatevClient, client_id: str) -> list[str]:
    answer = client.request("GET", "documents", f"/clients/{client_id}/document-types").json()
    return [str(d.get("name")) for d in answer if isinstance(d, dict)] if isinstance(answer, list) else []


def refuse_duplicate(
    ledger: Ledger,
    kind: str,
    digest: str,
    what: str,
    *,
    client_id: str | None = None,
    posting_digest: str | None = None,
) -> None:
    """Refuse content already at DATEV (or possibly there): sending it again would book it twice.

    The same bytes (`digest`, sha256) or, for EXTF, the same postings however encoded (`posting_digest`).
    """
    live = ledger.live_duplicates(kind, digest, client_id, posting_digest=posting_digest)
    if live:
        shown = ", ".join(f"{r.batch_id} ({r.file_name}, {r.status})" for r in live)
        shown_digest = f"posting digest {posting_digest[:12]}" if posting_digest else f"sha256 {digest[:12]}"
        raise SubmitRefused(
            f"{what} ({shown_digest}…): already submitted as {shown}. Use --force to send again."
        )


def submit_document(
    client: DatevClient,
    ledger: Ledger,
    client_id: str,
    file_name: str,
    data: bytes,
    *,
    document_type: str | None = None,
    note: str | None = None,
    force: bool = False,
) -> Submission:
    """Check DATEV's file rules, record a GUID, PUT the document; a 409 means it is already there.

    The same file for the same client is refused unless `force`: DATEV would keep both as two Belege.
    """
    try:
        checked = check_document(file_name, len(data), document_type=document_type, note=note)
    except DocumentRuleError as exc:
        raise SubmitRefused(f"{unicodedata.normalize('NFC', file_name)}: {exc}") from exc
    require_client(client, DOCUMENTS_SCOPE, client_id=client_id)
    if checked.document_type is not None:
        types = document_types(client, client_id)
        if checked.document_type not in types:
            raise SubmitRefused(
                f"Client {client_id} has no document type {checked.document_type!r}; "
                f"its document types are: {', '.join(types) or '(none)'}"
            )
    if not force:
        refuse_duplicate(
            ledger, "document", sha256_hex(data), f"{checked.file_name}: the same file", client_id=client_id
        )
    digest = ledger.keep_file(data)
    row = ledger.record(
        kind="document",
        client_id=client_id,
        file_name=checked.file_name,
        sha256=digest,
        size=len(data),
        document_type=checked.document_type,
        note=checked.note,
    )
    guid = row.batch_id
    metadata = {k: v for k, v in {"document_type": checked.document_type, "note": checked.note}.items() if v}
    files: dict[str, t.Any] = {"file": (checked.file_name, data, checked.media_type)}
    if metadata:
        files["metadata"] = (None, json.dumps(metadata, ensure_ascii=False).encode(), "application/json")
    path = f"/clients/{client_id}/documents/{guid}"
    outcome = Outcome()
    for _ in range(MAX_RESENDS + 1):
        ledger.update(guid, status=UPLOADING)
        outcome = _send(client, "PUT", "documents", path, files=files)
        if outcome.response is not None:
            answer = outcome.response.json() if outcome.response.content else {}
            return ledger.update(
                guid, status=SUCCEEDED, result="created", answer=answer, uploaded_at=TICK, error=None
            )
        if outcome.error is not None and outcome.error.status == 409:
            # The GUID is ours: an earlier attempt whose answer we lost did arrive.
            return ledger.update(
                guid, status=SUCCEEDED, result="already_present", uploaded_at=TICK, error=None
            )
        if outcome.unclear is None:
            assert outcome.error is not None
            ledger.update(guid, status=FAILED, result="rejected", error=str(outcome.error), uploaded_at=TICK)
            raise SubmitFailed(f"{checked.file_name}: {outcome.error}")
        ledger.update(guid, status=UNCLEAR, error=outcome.unclear)
        logger.warning("%s: %s; sending again (the GUID makes this safe)", checked.file_name, outcome.unclear)
    raise SubmitFailed(f"{checked.file_name}: {outcome.unclear}; ledger row {guid} stays 'unclear'")


# DXSO ------------------------------------------------------------------------------------------


def _dxso_role(name: str, data: bytes) -> str:
    if name.lower() == "document.xml":
        return "index"
    if name.lower().endswith(".xml") and b"LedgerImport" in data[:4096]:
        return "ledger"
    return "attachment"


def package_digest(files: Sequence[tuple[str, bytes]]) -> str:
    """One sha256 for a DXSO package: over its sorted (name, file sha256) pairs."""
    listing = "\n".join(sorted(f"{name}\0{sha256_hex(data)}" for name, data in files))
    return sha256_hex(listing.encode())


def submit_dxso(
    client: DatevClient,
    ledger: Ledger,
    client_id: str,
    *,
    import_type: str,
    month: str,
    files: Sequence[tuple[str, bytes]],
    force: bool = False,
) -> Submission:
    """Create a DXSO job, upload each file of the package, mark it ready; every step recorded."""
    from tap_datev import dxso

    if import_type not in DXSO_IMPORT_TYPES:
        raise SubmitRefused(f"--import-type must be one of {', '.join(DXSO_IMPORT_TYPES)}")
    if not MONTH.fullmatch(month):
        raise SubmitRefused(f"--month must be YYYY-MM, not {month!r}")
    files = [(unicodedata.normalize("NFC", name), data) for name, data in files]
    names = [name for name, _ in files]
    if "document.xml" not in {n.lower() for n in names}:
        raise SubmitRefused("A DXSO package needs its index file document.xml")
    if len(set(names)) != len(names):
        raise SubmitRefused("The package names one file twice")
    roles = []
    ledger_lines: list[dxso.DxsoLine] = []
    for name, data in files:
        try:
            check_file_name(name)  # DATEV's NFC + whitelist rule holds for DXSO file names too
        except DocumentRuleError as exc:
            raise SubmitRefused(str(exc)) from exc
        role = _dxso_role(name, data)
        if role == "ledger":
            try:
                ledger_lines += dxso.read_ledger_xml(data, name)
            except Exception as exc:
                raise SubmitRefused(f"{name}: {exc}") from exc
        roles.append(role)
    if "ledger" not in roles:
        raise SubmitRefused("The package has no ledger XML (root element LedgerImport)")
    require_client(client, DXSO_SCOPE, client_id=client_id)
    digest = package_digest(files)
    if not force:
        refuse_duplicate(ledger, "dxso", digest, "This DXSO package")

    kept = [
        (name, ledger.keep_file(data), len(data), role)
        for (name, data), role in zip(files, roles, strict=True)
    ]
    line_count, debit, credit = dxso.ledger_totals(ledger_lines)
    row = ledger.record(
        kind="dxso",
        client_id=client_id,
        file_name=", ".join(names),
        sha256=digest,
        size=sum(len(d) for _, d in files),
        import_type=import_type,
        accounting_month=month,
        files=kept,
        figures=FileFigures(
            line_count=line_count,
            debit_sum=None if debit is None else money(debit),
            credit_sum=None if credit is None else money(credit),
        ),
    )
    batch_id = row.batch_id
    ledger.update(batch_id, status=UPLOADING)

    created = _send(
        client,
        "POST",
        "dxso",
        f"/clients/{client_id}/dxso-jobs",
        json={"import_type": import_type, "accounting_month": month},
    )
    if created.response is None:
        _dxso_stop(ledger, batch_id, created, "creating the job")
    assert created.response is not None
    job = created.response.json()
    job_id = str(job["id"])
    ledger.update(batch_id, job_id=job_id, answer=job, status=UPLOADING)

    for position, (name, data) in enumerate(files):
        sent = _send(
            client,
            "POST",
            "dxso",
            f"/clients/{client_id}/dxso-jobs/{job_id}/files",
            files={"files": (name, data, _dxso_media_type(name))},
        )
        if sent.response is None:
            ledger.set_file_status(batch_id, position, UNCLEAR if sent.unclear else FAILED)
            _dxso_stop(ledger, batch_id, sent, f"uploading {name}")
        ledger.set_file_status(batch_id, position, "uploaded")

    for _ in range(MAX_RESENDS + 1):
        ready = _send(
            client,
            "PUT",
            "dxso",
            f"/clients/{client_id}/dxso-jobs/{job_id}",
            # DATEV's DXSO document types `ready` as the string "true" (example "true").
            data=json.dumps({"ready": "true"}),
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if ready.response is not None:
            return ledger.update(batch_id, status=PENDING, result="processing", uploaded_at=TICK, error=None)
        if ready.unclear is None:
            break
        # Unclear: DATEV may have taken it, and refuses a second "ready" for a job no longer open
        # (that refusal would wrongly mark a running job failed). Look at the job before resending.
        status = dxso_job_status(client, client_id, job_id)
        if status is not None and status != DXSO_OPEN:
            logger.warning("DXSO job %s: the ready mark arrived (status %d)", job_id, status)
            return ledger.update(
                batch_id,
                status=PENDING,
                result="processing",
                dxso_status=status,
                uploaded_at=TICK,
                error=None,
            )
    _dxso_stop(ledger, batch_id, ready, "marking the job ready")
    raise AssertionError("unreachable")


def _dxso_media_type(name: str) -> str:
    if name.lower().endswith(".xml"):
        return "application/xml"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _dxso_stop(ledger: Ledger, batch_id: str, outcome: Outcome, step: str) -> t.NoReturn:
    status = UNCLEAR if outcome.unclear else FAILED
    reason = outcome.unclear or str(outcome.error)
    ledger.update(batch_id, status=status, error=f"{step}: {reason}")
    raise SubmitFailed(f"DXSO job {batch_id}: {step} failed: {reason} (ledger status {status})")


# CLI -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Errors a user acts on (login, settings, DATEV's answer, the ledger lock, no network) end the
    command with their message instead of a traceback."""
    try:
        yield
    except (DatevAPIError, DatevAuthError, DatevConfigError, LedgerError) as exc:
        raise click.ClickException(str(exc)) from None
    except requests.RequestException as exc:
        raise click.ClickException(f"Cannot reach DATEV: {type(exc).__name__}") from None


def _client_and_state(config_args: Sequence[str]) -> tuple[DatevClient, Path]:
    config = load_config(config_args)
    return DatevClient(config), settings.state_dir(config)


def _echo(row: Submission) -> None:
    facts = [f"ledger id {row.batch_id}", f"client {row.client_id}", f"status {row.status}"]
    if row.job_id:
        facts.append(f"DATEV job {row.job_id}")
    if row.result:
        facts.append(f"result {row.result}")
    click.echo(f"{row.file_name}: " + ", ".join(facts))


@click.group()
def submit() -> None:
    """Submit EXTF batches, DXSO jobs or documents to DATEV (recorded in the ledger)."""


@submit.command("extf")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Send even if the same postings are already pending or succeeded, or the header's fiscal "
    "year does not match the client's at DATEV (DATEV's job then says why it fails).",
)
@click.option("--add-bom", is_flag=True, help="Prefix a UTF-8 BOM (DATEV reads BOM-less files as CP1252).")
@click.option(
    "--check",
    is_flag=True,
    help="Run every check (the file, the client's data at DATEV, the ledger) and send nothing.",
)
def submit_extf_command(
    config_args: tuple[str, ...], file: Path, force: bool, add_bom: bool, check: bool
) -> None:
    """Upload one EXTF file (e.g. a Buchungsstapel) to DATEV's EXTF import (--check: only check it)."""
    client, state = _client_and_state(config_args)
    if check:
        with _user_errors(), _ledger_if_any(state) as ledger:
            prepared = prepare_extf(
                client, ledger, file.name, file.read_bytes(), force=force, add_bom=add_bom
            )
        click.echo(_describe_check(prepared))
        return
    with _user_errors(), Ledger.open(state) as ledger:
        _echo(submit_extf(client, ledger, file.name, file.read_bytes(), force=force, add_bom=add_bom))


@contextlib.contextmanager
def _ledger_if_any(state: Path) -> Iterator[Ledger | None]:
    """The ledger for the duplicate check, without creating one where nothing was submitted yet."""
    if not (state / "ledger.sqlite").exists():
        yield None
        return
    with Ledger.open(state) as ledger:
        yield ledger


def _describe_check(prepared: PreparedExtf) -> str:
    figures, year = prepared.figures, prepared.fiscal_year
    facts = [f"client {prepared.client_id}"]
    if year is not None:
        facts.append(f"fiscal year {year.describe()}")
    if figures.line_count is not None:
        facts.append(
            f"{figures.line_count} booking lines, debit {figures.debit_sum}, credit {figures.credit_sum}"
        )
    facts.append(f"posting digest {figures.posting_digest}")
    return f"{prepared.file_name}: every check passed; nothing was sent ({'; '.join(facts)})"


@submit.command("document")
@config_option
@click.option("--client", "client_id", required=True, help="DATEV client id, e.g. 29098-55003.")
@click.option(
    "--type", "document_type", help="Document type (Belegtyp) of the client, e.g. Rechnungseingang."
)
@click.option("--note", help="Note for the tax consultant (at most 255 characters).")
@click.option("--force", is_flag=True, help="Upload even if the same file was uploaded for this client.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def submit_document_command(  # noqa: PLR0917 - click passes options as keywords
    config_args: tuple[str, ...],
    client_id: str,
    document_type: str | None,
    note: str | None,
    force: bool,
    file: Path,
) -> None:
    """Upload one document (Beleg) to Belege online."""
    client, state = _client_and_state(config_args)
    with _user_errors(), Ledger.open(state) as ledger:
        _echo(
            submit_document(
                client,
                ledger,
                client_id,
                file.name,
                file.read_bytes(),
                document_type=document_type,
                note=note,
                force=force,
            )
        )


@submit.command("dxso")
@config_option
@click.option("--client", "client_id", required=True, help="DATEV client id, e.g. 29098-55003.")
@click.option("--import-type", required=True, type=click.Choice(DXSO_IMPORT_TYPES))
@click.option("--month", required=True, help="Accounting month, YYYY-MM.")
@click.option("--force", is_flag=True, help="Send even if the same package is already pending or succeeded.")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def submit_dxso_command(  # noqa: PLR0917 (click passes options as arguments)
    config_args: tuple[str, ...],
    client_id: str,
    import_type: str,
    month: str,
    force: bool,
    files: tuple[Path, ...],
) -> None:
    """Send a DXSO package (document.xml, ledger XMLs, images) as one job."""
    client, state = _client_and_state(config_args)
    with _user_errors(), Ledger.open(state) as ledger:
        _echo(
            submit_dxso(
                client,
                ledger,
                client_id,
                import_type=import_type,
                month=month,
                files=[(f.name, f.read_bytes()) for f in files],
                force=force,
            )
        )

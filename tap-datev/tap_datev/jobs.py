"""DATEV jobs of submissions: look them up, poll them, record their outcome in the ledger.

Used by `submit` (an upload whose answer was lost is looked up before it is sent again) and by
the booking_batches stream (`refresh_open_jobs`). No click, no command config: the CLI depends on
this module, never the other way round.
"""

from __future__ import annotations

import logging
import typing as t

import requests

from tap_datev.client import PAGE_SIZE
from tap_datev.errors import DatevAPIError
from tap_datev.ledger import (
    CANCELLED,
    FAILED,
    PARTIALLY_SUCCEEDED,
    PENDING,
    RECORDED,
    SUCCEEDED,
    TICK,
    UNCLEAR,
    UPLOADING,
    Ledger,
    Submission,
    format_ts,
    parse_ts,
    utc_now,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from tap_datev.client import DatevClient

logger = logging.getLogger("tap-datev.jobs")

JOB_LIST_PAGES = 100

DXSO_OPEN = 0  # created, not (yet) marked ready
# DXSO job status (DATEV's integers) → (result word, ledger status; None = not final yet)
DXSO_STATUS: dict[int, tuple[str, str | None]] = {
    0: ("open", None),
    1: ("processing", None),
    2: ("succeeded", SUCCEEDED),
    3: ("not_processed", FAILED),
    4: ("partially_processed", PARTIALLY_SUCCEEDED),
    5: ("cancelled", CANCELLED),
    6: ("cancel_refused", None),
}
EXTF_RESULT_STATUS = {"pending": PENDING, "succeeded": SUCCEEDED, "failed": FAILED}


def apply_extf_job(ledger: Ledger, row: Submission, job: Mapping[str, t.Any]) -> Submission:
    """Record DATEV's Job object (result, validation details, counts) in the ledger."""
    result = str(job.get("result") or "pending")
    fields: dict[str, t.Any] = {
        "job_id": str(job.get("id") or row.job_id or ""),
        "result": result,
        "status": EXTF_RESULT_STATUS.get(result, PENDING),
        "validation_details": job.get("validation_details"),
        "number_of_accounting_records": job.get("number_of_accounting_records"),
        "answer": dict(job),
        "error": None,
    }
    if row.uploaded_at is None:
        fields["uploaded_at"] = TICK
    return ledger.update(row.batch_id, **fields)


def find_extf_job(client: DatevClient, row: Submission) -> dict[str, t.Any] | None:
    """Look our upload up in DATEV's job list by its Reference-Id (and file name)."""
    for page in range(JOB_LIST_PAGES):
        jobs = client.request(
            "GET",
            "extf",
            f"/clients/{row.client_id}/extf-files/jobs",
            params={"skip": page * PAGE_SIZE, "top": PAGE_SIZE},
        ).json()
        if not isinstance(jobs, list):
            return None
        for job in jobs:
            if job.get("reference_id") == row.reference_id and job.get("filename") in (None, row.file_name):
                return dict(job)
        if len(jobs) < PAGE_SIZE:
            return None
    return None


def dxso_job_status(client: DatevClient, client_id: str, job_id: str) -> int | None:
    """DATEV's status of a DXSO job, or None when it cannot be read just now."""
    try:
        answer = client.request("GET", "dxso", f"/clients/{client_id}/dxso-jobs/{job_id}").json()
    except (DatevAPIError, requests.RequestException, ValueError):
        return None
    status = answer.get("status") if isinstance(answer, dict) else None
    return status if isinstance(status, int) else None


def apply_dxso_status(
    ledger: Ledger, row: Submission, status: int, protocol: list[t.Any] | None
) -> Submission:
    result, final = DXSO_STATUS.get(status, (f"status_{status}", None))
    fields: dict[str, t.Any] = {"dxso_status": status, "result": result, "status": final or PENDING}
    if row.status == UNCLEAR:  # a poll settled what the submit could not
        fields["error"] = None
        if row.uploaded_at is None:
            fields["uploaded_at"] = TICK
    if protocol is not None:
        fields["protocol"] = protocol
    return ledger.update(row.batch_id, **fields)


def refresh_open_jobs(
    ledger: Ledger,
    client_id: str,
    kinds: Sequence[str],
    get_client: Callable[[], DatevClient],
) -> int:
    """Poll the jobs of one client whose outcome is open; returns the number of DATEV requests.

    Final jobs are never fetched again. EXTF jobs are not polled before the Retry-After DATEV gave
    with the upload. Rows left "recorded"/"uploading" can only mean a crashed submit (submit holds
    the lock while sending), so they are treated like unclear ones.
    """
    requests_made = 0
    now = utc_now()
    open_rows = ledger.open_jobs(client_id, kinds)
    if "extf" in kinds:  # crashed EXTF submits (their statuses are not open ones: no row twice)
        open_rows += ledger.with_status(client_id, ["extf"], (RECORDED, UPLOADING))
    for open_row in open_rows:
        row = open_row
        polled = format_ts(utc_now())
        if row.kind == "extf":
            if row.job_id and row.status == PENDING:
                if row.next_poll_at and parse_ts(row.next_poll_at) > now:
                    logger.info("EXTF job %s: DATEV asked to wait until %s", row.job_id, row.next_poll_at)
                    continue
                job = (
                    get_client()
                    .request("GET", "extf", f"/clients/{client_id}/extf-files/jobs/{row.job_id}")
                    .json()
                )
                requests_made += 1
                row = apply_extf_job(ledger, row, job)
            else:
                job = find_extf_job(get_client(), row)
                requests_made += 1
                if job is None:
                    logger.warning(
                        "EXTF upload %s (%s) is not in DATEV's job list; it never arrived. "
                        "Submit the file again with --force.",
                        row.batch_id,
                        row.file_name,
                    )
                    ledger.update(row.batch_id, status=FAILED, error="never arrived at DATEV")
                    continue
                row = apply_extf_job(ledger, row, job)
            ledger.update(row.batch_id, last_polled_at=polled)
        elif row.kind == "dxso" and row.job_id:
            client = get_client()
            base = f"/clients/{client_id}/dxso-jobs/{row.job_id}"
            status = int(client.request("GET", "dxso", base).json().get("status", 0))
            requests_made += 1
            if row.status == UNCLEAR and status == DXSO_OPEN:
                # A submit ended before DATEV confirmed the ready mark, and the job is still open.
                logger.warning(
                    "DXSO job %s (ledger row %s) is still open at DATEV: the submit did not finish "
                    "(%s). Cancel it and submit the package again with --force.",
                    row.job_id,
                    row.batch_id,
                    row.error,
                )
                ledger.update(row.batch_id, last_polled_at=polled)
                continue
            protocol = None
            if status != row.dxso_status or DXSO_STATUS.get(status, ("", None))[1] is not None:
                protocol = client.request("GET", "dxso", f"{base}/protocol-entries").json()
                requests_made += 1
            apply_dxso_status(ledger, row, status, protocol)
            ledger.update(row.batch_id, last_polled_at=polled)
    return requests_made

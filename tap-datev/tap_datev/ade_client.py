"""Accounting Data Exchange v1 (the booked ledger): ndjson reads, the account-postings job, and what
one run knows about each client's fiscal years.

DATEV's list operations answer `application/x-ndjson` (and 406 to `Accept: application/json`); the
job operations (POST, state) answer JSON. Numbers are parsed straight to Decimal, never through float.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import typing as t
from decimal import Decimal

from tap_datev import settings
from tap_datev.client import PAGE_SIZE
from tap_datev.errors import TapDatevError

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import requests

    from tap_datev.client import DatevClient

logger = logging.getLogger("tap-datev.ade")

NDJSON = "application/x-ndjson"
JSON = "application/json"
# DATEV deletes a job's data 12 hours after the POST; a read still going after 11 stops cleanly.
JOB_RETENTION_SECONDS = 12 * 3600
JOB_READ_LIMIT_SECONDS = 11 * 3600
CLIENT_PAGES = 100


class AdeJobError(TapDatevError):
    """An account-postings job that ended FAILED or DELETED, or did not finish in time."""


def parse_line(line: bytes | str) -> t.Any:
    """One ndjson line; every JSON number with a fraction or exponent becomes a Decimal."""
    return json.loads(line, parse_float=Decimal)


def ndjson_lines(response: requests.Response) -> Iterator[t.Any]:
    """The body's values line by line, read as they arrive (a page is never held whole)."""
    try:
        for line in response.iter_lines(chunk_size=64 * 1024):
            if line.strip():
                yield parse_line(line)
    finally:
        response.close()


def content_hash(posting: Mapping[str, t.Any]) -> str:
    """SHA-256 of a posting's content (keys sorted, numbers as their exact decimal text)."""
    canonical = json.dumps(posting, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True)
class FiscalYear:
    client_id: str
    fiscal_year: int  # DATEV's fiscalYearId: YYYYMMDD of the first day


class AdeReader:
    """The ADE calls of one run, on the tap's shared DatevClient. Fiscal years and sequence lists are
    read once per run and shared by the streams that need them."""

    def __init__(self, datev: DatevClient, config: Mapping[str, t.Any]) -> None:
        self.datev = datev
        self.config = config

    def get_ndjson(self, path: str, params: Mapping[str, t.Any] | None = None) -> list[t.Any]:
        response = self.datev.request("GET", "ade", path, params=params, headers={"Accept": NDJSON})
        return list(ndjson_lines(response))

    # -- which clients and years -------------------------------------------------------------------
    @functools.cached_property
    def clients(self) -> list[str]:
        """Clients whose DATEV data services include the exchange scope (and client_ids, if set)."""
        wanted = settings.client_ids(self.config)
        found: list[str] = []
        for page in range(CLIENT_PAGES):
            rows = self.datev.request(
                "GET", "clients", "/clients", params={"skip": page * PAGE_SIZE, "top": PAGE_SIZE}
            ).json()
            for row in rows if isinstance(rows, list) else []:
                client_id = str(row.get("id"))
                scopes = {s for service in row.get("services") or [] for s in service.get("scopes") or []}
                if wanted is not None and client_id not in wanted:
                    continue
                if settings.ADE_SCOPE not in scopes:
                    logger.info(
                        "Skipping client %s for the Accounting Data Exchange streams: its DATEV services "
                        "do not include %s (Datenservice Export Rechnungswesen)",
                        client_id,
                        settings.ADE_SCOPE,
                    )
                    continue
                found.append(client_id)
            if not isinstance(rows, list) or len(rows) < PAGE_SIZE:
                break
        return sorted(found)

    @functools.cached_property
    def fiscal_years(self) -> list[FiscalYear]:
        years: list[FiscalYear] = []
        for client_id in self.clients:
            for value in self.get_ndjson(f"/clients/{client_id}/fiscal-years"):
                years.extend(
                    FiscalYear(client_id, int(y)) for y in (value if isinstance(value, list) else [value])
                )
        return years

    def partitions(self) -> list[dict[str, t.Any]]:
        return [{"client_id": y.client_id, "fiscal_year": y.fiscal_year} for y in self.fiscal_years]

    @functools.cache  # noqa: B019 - one reader per run, a handful of years
    def fiscal_year(self, client_id: str, fiscal_year: int) -> dict[str, t.Any]:
        rows = self.get_ndjson(f"/clients/{client_id}/fiscal-years/{fiscal_year}")
        return dict(rows[0]) if rows else {}

    @functools.cache  # noqa: B019
    def sequences(self, client_id: str, fiscal_year: int) -> tuple[dict[str, t.Any], ...]:
        rows = self.get_ndjson(f"/clients/{client_id}/fiscal-years/{fiscal_year}/accounting-sequences")
        return tuple(dict(r) for r in rows)

    @functools.cache  # noqa: B019
    def general_ledger_accounts(self, client_id: str, fiscal_year: int) -> tuple[dict[str, t.Any], ...]:
        """Captions of the fiscal year's whole chart (booked or not), without personal accounts."""
        rows = self.get_ndjson(
            f"/clients/{client_id}/fiscal-years/{fiscal_year}/general-ledger-accounts",
            params={"onlyBooked": "false", "includesPersonalAccounts": "false"},
        )
        return tuple(dict(r) for r in rows)

    # -- the account-postings job ------------------------------------------------------------------
    def start_postings_job(self, client_id: str, fiscal_year: int) -> str:
        answer = self.datev.request(
            "POST",
            "ade",
            f"/clients/{client_id}/fiscal-years/{fiscal_year}/account-postings",
            params={"documentLinks": "false"},
            headers={"Accept": JSON},
        ).json()
        return str(answer["jobId"])

    def wait_for_job(self, client_id: str, job_id: str) -> None:
        """Poll the job's state until COMPLETED. DATEV gives no cadence and no Retry-After: the waits
        follow the tap's backoff (first near backoff_base_seconds, each at most backoff_max_seconds),
        together at most backoff_budget_seconds."""
        policy = self.datev.backoff
        waited = 0.0
        attempt = 0
        while True:
            state = self.datev.request(
                "GET", "ade", f"/clients/{client_id}/jobs/{job_id}/state", headers={"Accept": JSON}
            ).json()
            job_state = str(state.get("jobState"))
            if job_state == "COMPLETED":
                return
            if job_state != "PENDING":
                raise AdeJobError(
                    f"DATEV's account-postings job {job_id} of client {client_id} is {job_state}; "
                    "the next run starts a new one"
                )
            delay = policy.delay(attempt, None)
            if waited + delay > policy.budget:
                raise AdeJobError(
                    f"DATEV's account-postings job {job_id} of client {client_id} is still PENDING after "
                    f"{waited:.0f} s (backoff_budget_seconds {policy.budget:g}); the next run starts "
                    "a new one"
                )
            logger.info(
                "Account-postings job %s of client %s is PENDING; next look in %.2f s",
                job_id,
                client_id,
                delay,
            )
            self.datev.sleep(delay)
            waited += delay
            attempt += 1

    def job_postings(self, client_id: str, job_id: str, posted_at: float) -> Iterator[dict[str, t.Any]]:
        """Every posting of a COMPLETED job, page by page (50,000 each), line by line."""
        page, pages = 1, 1
        while page <= pages:
            if self.datev.clock() - posted_at > JOB_READ_LIMIT_SECONDS:
                raise AdeJobError(
                    f"Reading job {job_id} of client {client_id} took over 11 hours; DATEV deletes its data "
                    "12 hours after the job was made. The next run starts a new one"
                )
            response = self.datev.request(
                "GET",
                "ade",
                f"/clients/{client_id}/account-postings-jobs/{job_id}",
                params={"page": page},
                headers={"Accept": NDJSON},
                stream=True,
            )
            pages = int(response.headers.get("x-total-pages") or 1)
            for value in ndjson_lines(response):
                yield dict(value)
            page += 1

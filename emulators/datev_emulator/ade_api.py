"""Accounting Data Exchange v1 (Datenservice Export Rechnungswesen): fiscal years, accounting sequences,
general ledger accounts, sums and balances, terms of payment, and account postings as an asynchronous
job whose result is read in ndjson pages of 50,000.

Errors are RFC 9457 problem+json with a camelCase `requestId`. Amounts are JSON numbers written from
Decimal: each is checked to survive the float it becomes (1234.5, never 1234.4999...)."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from datev_emulator.context import Context
from datev_emulator.guard import authorize_call
from datev_emulator.ledger import (
    FiscalYear,
    Ledger,
    booked_accounts,
    fiscal_years,
    general_ledger_accounts,
    sums_and_balances,
)
from datev_emulator.oauth import OAuthServer
from datev_emulator.responses import JSON, accepts, json_response, rfc9457_problem

SCOPE = "datev:accounting:exchange"
NDJSON = "application/x-ndjson"
PAGE_SIZE = 50_000
MAX_PAGE = 25_000
JOB_RETENTION_SECONDS = 12 * 3600
CLIENT_ID = re.compile(r"[1-9]\d{3,6}-[1-9]\d{0,4}")
JOB_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
FISCAL_YEAR_RANGE = (19920101, 20991231)
PENDING, COMPLETED, FAILED, DELETED = "PENDING", "COMPLETED", "FAILED", "DELETED"
TERMS_OF_PAYMENT = [
    {
        "id": 10,
        "caption": "14 Tage 2 % Skonto, 30 Tage netto",
        "dueType": "due_in_days",
        "cashDiscount1Percentage": Decimal("2.00"),
        "cashDiscount2Percentage": Decimal("0.00"),
        "paymentDueInDays": {"cashDiscount1Days": 14, "cashDiscount2Days": 0, "dueDateNet": 30},
    },
    {
        "id": 11,
        "caption": "Zahlbar zum 15. des Folgemonats",
        "dueType": "due_as_period",
        "cashDiscount1Percentage": Decimal("0.00"),
        "cashDiscount2Percentage": Decimal("0.00"),
        "paymentDueAsPeriod": {
            "period1": {
                "invoiceDayOfMonth": 31,
                "dueDateNet": {"relatedMonth": "next_month", "dayOfMonth": 15},
            }
        },
    },
]
LEGAL_FORM = "corporation"  # the demo clients are GmbHs


def _number(value: object) -> float:
    """A Decimal as the JSON number it is: the float written must read back as the same decimal."""
    if not isinstance(value, Decimal):
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise ValueError(f"{value} has no exact JSON number form")
    return as_float


ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_number)


def json_line(value: Any) -> bytes:
    return ENCODER.encode(value).encode("utf-8") + b"\n"


def ndjson_response(items: Iterable[Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        b"".join(json_line(item) for item in items), status=200, headers=headers or {}, content_type=NDJSON
    )


def ade_problem(status: int, title: str, detail: str, request: Request) -> Response:
    return rfc9457_problem(status, title, detail, instance=request.path)


class AdeApi:
    def __init__(self, ctx: Context, oauth: OAuthServer) -> None:
        self.ctx = ctx
        self.oauth = oauth
        self.ledger = Ledger(ctx)

    # -- checks every operation makes ------------------------------------------------------------------
    def _client(self, request: Request, client_id: str, media_type: str) -> dict[str, Any] | Response:
        allowed = authorize_call(self.ctx, self.oauth, request, "rfc9457", SCOPE)
        if isinstance(allowed, Response):
            return allowed
        if not accepts(request.headers.get("Accept"), media_type):
            return ade_problem(406, "Not Acceptable", f"this operation answers {media_type}", request)
        traceparent = request.headers.get("traceparent")
        if traceparent is not None and not TRACEPARENT.fullmatch(traceparent):
            return ade_problem(400, "Bad Request", "header traceparent is not a W3C trace context", request)
        if not CLIENT_ID.fullmatch(client_id):
            return ade_problem(
                400, "Bad Request", f"clientId {client_id!r} is not <consultant>-<client>", request
            )
        allowed = authorize_call(
            self.ctx, self.oauth, request, "rfc9457", SCOPE, client_id=client_id, service_scope=SCOPE
        )
        if isinstance(allowed, Response):
            return allowed
        assert allowed.client is not None
        return allowed.client

    def _year(
        self, request: Request, client_id: str, fiscal_year_id: str, media_type: str
    ) -> tuple[dict[str, Any], FiscalYear] | Response:
        client = self._client(request, client_id, media_type)
        if isinstance(client, Response):
            return client
        if (
            not fiscal_year_id.isdigit()
            or not FISCAL_YEAR_RANGE[0] <= int(fiscal_year_id) <= FISCAL_YEAR_RANGE[1]
        ):
            return ade_problem(
                400, "Bad Request", f"fiscalYearId {fiscal_year_id!r} is not a date YYYYMMDD", request
            )
        year = next((y for y in fiscal_years(client) if y.id == int(fiscal_year_id)), None)
        if year is None:
            known = ", ".join(str(y.id) for y in fiscal_years(client))
            detail = f"client {client_id} has no fiscal year {fiscal_year_id} (fiscal years: {known})"
            return ade_problem(404, "Not Found", detail, request)
        return client, year

    # -- master data -------------------------------------------------------------------------------------
    def list_fiscal_years(self, request: Request, client_id: str) -> Response:
        client = self._client(request, client_id, NDJSON)
        if isinstance(client, Response):
            return client
        return ndjson_response(y.id for y in fiscal_years(client))

    def get_fiscal_year(self, request: Request, client_id: str, fiscal_year_id: str) -> Response:
        found = self._year(request, client_id, fiscal_year_id, NDJSON)
        if isinstance(found, Response):
            return found
        _, year = found
        basics = year.basics
        return ndjson_response(
            [
                {
                    "accountLength": basics["account_length"],
                    "accountSystem": basics["datev_chart_of_accounts"],
                    "advanceTurnoverTaxReturn": "month",
                    "costLength": 8,
                    "currencyCode": "EUR",
                    "isInvoiceDateCheckOn": False,
                    "isUsingDeliveryDate": False,
                    "legalForm": LEGAL_FORM,
                    "methodOfDeterminingNetIncome": "balance_sheet",
                    "nationalRight": "DE",
                    "taxationMethod": "taxation_based_on_value_of_services_rendered",
                    "yearBegin": year.begin.isoformat(),
                    "yearEnd": year.end.isoformat(),
                }
            ]
        )

    def accounting_sequences(self, request: Request, client_id: str, fiscal_year_id: str) -> Response:
        found = self._year(request, client_id, fiscal_year_id, NDJSON)
        if isinstance(found, Response):
            return found
        _, year = found
        return ndjson_response(self.ledger.sequences(client_id, year))

    def general_ledger_accounts(self, request: Request, client_id: str, fiscal_year_id: str) -> Response:
        found = self._year(request, client_id, fiscal_year_id, NDJSON)
        if isinstance(found, Response):
            return found
        _, year = found
        flags = {}
        for name in ("onlyBooked", "includesPersonalAccounts"):
            raw = request.args.get(name, "false")
            if raw not in ("true", "false"):
                return ade_problem(
                    400, "Bad Request", f"query parameter {name} must be true or false", request
                )
            flags[name] = raw == "true"
        accounts = general_ledger_accounts(
            booked_accounts(self.ledger.postings(client_id, year)),
            year,
            only_booked=flags["onlyBooked"],
            includes_personal=flags["includesPersonalAccounts"],
        )
        return ndjson_response(accounts)

    def sums_and_balances(self, request: Request, client_id: str, fiscal_year_id: str) -> Response:
        found = self._year(request, client_id, fiscal_year_id, NDJSON)
        if isinstance(found, Response):
            return found
        _, year = found
        return ndjson_response(sums_and_balances(self.ledger.postings(client_id, year), year))

    def terms_of_payment(self, request: Request, client_id: str, fiscal_year_id: str) -> Response:
        found = self._year(request, client_id, fiscal_year_id, NDJSON)
        if isinstance(found, Response):
            return found
        return ndjson_response(TERMS_OF_PAYMENT)

    # -- account postings jobs ---------------------------------------------------------------------------
    def _jobs(self) -> dict[str, Any]:
        jobs: dict[str, Any] = self.ctx.store.doc("ade").setdefault("jobs", {})
        return jobs

    def post_account_postings(self, request: Request, client_id: str, fiscal_year_id: str) -> Response:
        found = self._year(request, client_id, fiscal_year_id, JSON)
        if isinstance(found, Response):
            return found
        if request.args.get("documentLinks", "false") not in ("true", "false"):
            return ade_problem(
                400, "Bad Request", "query parameter documentLinks must be true or false", request
            )
        job_id = str(uuid.uuid4())
        now = self.ctx.clock.now()
        with self.ctx.store.lock:
            settings = self.ctx.store.doc("settings")
            failing = int(settings.get("ade_failing_jobs", 0))
            if failing:
                settings["ade_failing_jobs"] = failing - 1
                self.ctx.store.save("settings")
            self._jobs()[job_id] = {
                "id": job_id,
                "client_id": client_id,
                "fiscal_year": found[1].id,
                "created_at": now,
                "ready_at": now + float(settings.get("ade_delay_seconds", 5)),
                "fails": bool(failing),
                "state": PENDING,
                "total": None,
                "page_offsets": [],
            }
            self.ctx.store.save("ade")
        return json_response({"jobId": job_id}, 202, content_type=JSON)

    def _job(self, request: Request, client_id: str, job_id: str) -> dict[str, Any] | Response:
        if not JOB_ID.fullmatch(job_id):
            return ade_problem(400, "Bad Request", f"jobId {job_id!r} is not a UUID", request)
        with self.ctx.store.lock:
            job = self._jobs().get(job_id.lower())
            if job is None or job["client_id"] != client_id:
                return ade_problem(
                    404, "Not Found", f"job {job_id} not found for client {client_id}", request
                )
            self._advance(job)
            return dict(job)

    def _advance(self, job: dict[str, Any]) -> None:
        """Move a job along the emulator clock: PENDING until ready, then COMPLETED (the export is
        written then) or FAILED; after 12 hours its data is deleted."""
        now = self.ctx.clock.now()
        state = job["state"]
        if state != DELETED and now >= job["created_at"] + JOB_RETENTION_SECONDS:
            self._result_path(job["id"]).unlink(missing_ok=True)
            job.update(state=DELETED, page_offsets=[])
        elif state == PENDING and now >= job["ready_at"]:
            if job["fails"]:
                job["state"] = FAILED
            else:
                self._export(job)
                job["state"] = COMPLETED
        else:
            return
        self.ctx.store.save("ade")

    def _result_path(self, job_id: str) -> Path:
        return self.ctx.store.blob_path("ade", f"{job_id}.ndjson")

    def _export(self, job: dict[str, Any]) -> None:
        """Write the job's result file line by line, noting where each page of 50,000 begins."""
        with self.ctx.store.lock:
            client = self.ctx.store.doc("datev")["clients"][job["client_id"]]
        year = next(y for y in fiscal_years(client) if y.id == job["fiscal_year"])
        path = self._result_path(job["id"])
        path.parent.mkdir(parents=True, exist_ok=True)
        offsets: list[int] = []
        total = 0
        with path.open("wb") as out:
            for total, posting in enumerate(self.ledger.postings(job["client_id"], year), 1):
                if (total - 1) % PAGE_SIZE == 0:
                    offsets.append(out.tell())
                out.write(json_line(posting))
        job.update(total=total, page_offsets=offsets)

    def job_state(self, request: Request, client_id: str, job_id: str) -> Response:
        client = self._client(request, client_id, JSON)
        if isinstance(client, Response):
            return client
        job = self._job(request, client_id, job_id)
        if isinstance(job, Response):
            return job
        return json_response({"jobState": job["state"]}, content_type=JSON)

    def account_postings_page(self, request: Request, client_id: str, job_id: str) -> Response:
        client = self._client(request, client_id, NDJSON)
        if isinstance(client, Response):
            return client
        raw_page = request.args.get("page", "")
        if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
            return ade_problem(400, "Bad Request", f"query parameter page must be 1..{MAX_PAGE}", request)
        job = self._job(request, client_id, job_id)
        if isinstance(job, Response):
            return job
        if job["state"] == DELETED:
            return ade_problem(
                404, "Not Found", f"job {job_id}: its data was deleted 12 hours after it was created", request
            )
        if job["state"] != COMPLETED:
            return ade_problem(409, "Conflict", f"job {job_id} is {job['state']}, not COMPLETED", request)
        page = int(raw_page)
        total = int(job["total"])
        pages = max(1, -(-total // PAGE_SIZE))
        if page > pages:
            return ade_problem(404, "Not Found", f"job {job_id} has {pages} page(s), not {page}", request)
        headers = {"x-total-pages": str(pages), "x-current-page": str(page), "x-page-size": str(PAGE_SIZE)}
        if total:  # the document's minimum is 1: an empty export says only how many pages it has
            headers["x-total-count"] = str(total)
        body = self._page_lines(job, page) if total else iter(())
        return Response(body, status=200, headers=headers, content_type=NDJSON)

    def _page_lines(self, job: dict[str, Any], page: int) -> Iterator[bytes]:
        """The page's lines streamed from the result file, never the whole page in memory."""
        with self._result_path(job["id"]).open("rb") as source:
            source.seek(job["page_offsets"][page - 1])
            yield from itertools.islice(source, PAGE_SIZE)

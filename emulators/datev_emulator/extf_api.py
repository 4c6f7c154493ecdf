"""accounting-extf-files v3: import an EXTF file as an asynchronous job, list and read jobs."""

from __future__ import annotations

import re
import uuid
from typing import Any

from werkzeug.wrappers import Request, Response

from datev_emulator.context import Context
from datev_emulator.extf_check import check_extf
from datev_emulator.guard import authorize_call
from datev_emulator.oauth import OAuthServer
from datev_emulator.paging import Page, page_headers, parse_paging
from datev_emulator.responses import empty_response, json_response, problem

SCOPE = "datev:accounting:extf-files-import"
MAX_BYTES = 50 * 1024 * 1024
FILENAME = re.compile(r"EXTF_.{0,51}\.csv")
REFERENCE = re.compile(r"[-0-9A-Za-z_äöüÄÖÜß_. +?;]{0,254}")
CLIENT_ID = re.compile(r"([1-9]\d{3,6})-([1-9]\d{0,4})")
RETRY_AFTER = 5
PUBLIC_FIELDS = (
    "id",
    "filename",
    "reference_id",
    "client_application_display_name",
    "client_application_vendor",
    "client_application_version",
    "timestamp",
)


def _header_error(detail: str, name: str) -> Response:
    return problem(
        400, "Invalid header fields", detail, code=1008832, affected=[{"name": name, "reason": detail}]
    )


class ExtfApi:
    def __init__(self, ctx: Context, oauth: OAuthServer) -> None:
        self.ctx = ctx
        self.oauth = oauth

    def _client_path_error(self, client_id: str) -> Response | None:
        if CLIENT_ID.fullmatch(client_id):
            return None
        return problem(
            400,
            "Invalid request URI path",
            "Request-URI contains one or more invalid path segments",
            code=1008835,
            affected=[{"name": "client-id", "reason": "Path segment client-id is invalid"}],
        )

    def _allow(self, request: Request, client_id: str) -> Response | dict[str, Any]:
        allowed = authorize_call(self.ctx, self.oauth, request, "problem", SCOPE)
        if isinstance(allowed, Response):
            return allowed
        path_error = self._client_path_error(client_id)
        if path_error is not None:
            return path_error
        allowed = authorize_call(
            self.ctx, self.oauth, request, "problem", SCOPE, client_id=client_id, service_scope=SCOPE
        )
        if isinstance(allowed, Response):
            return allowed
        assert allowed.client is not None
        return {"client": allowed.client, "oauth_client_id": allowed.token.client_id}

    def import_file(self, request: Request, client_id: str) -> Response:
        allowed = self._allow(request, client_id)
        if isinstance(allowed, Response):
            return allowed
        filename = request.headers.get("Filename", "")
        if not filename:
            return _header_error("Filename is empty", "Filename")
        if not FILENAME.fullmatch(filename):
            return _header_error("Filename must conform to following pattern'EXTF_.{0,51}.csv", "Filename")
        reference = request.headers.get("Reference-Id")
        if reference is not None and not REFERENCE.fullmatch(reference):
            return _header_error(
                "Reference-Id must conform to following pattern'[-0-9A-Za-z_äöüÄÖÜß_. +\\?;]{0,254}",
                "Reference-Id",
            )
        app_version = request.headers.get("Client-Application-Version")
        if app_version is not None and not REFERENCE.fullmatch(app_version):
            return _header_error("Client-Application-Version is invalid", "Client-Application-Version")
        if request.content_length is not None and request.content_length > MAX_BYTES:
            return problem(413, "Invalid file", "File size exceeds 50 MB", code=1008833)
        if request.mimetype != "application/octet-stream":
            return problem(415, "Unsupported Media Type")
        data = request.stream.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return problem(413, "Invalid file", "File size exceeds 50 MB", code=1008833)
        if not data:
            return problem(400, "Invalid message-body", "Message body for request is missing", code=1008831)

        client = allowed["client"]
        outcome = check_extf(
            data,
            client["consultant_number"],
            client["client_number"],
            client.get("basic_accounting_information") or [],
        )
        job_id = str(uuid.uuid4())
        with self.ctx.store.lock:
            registration = self.ctx.store.doc("registry")["oauth_clients"].get(allowed["oauth_client_id"], {})
            delay = float(self.ctx.store.doc("settings").get("extf_delay_seconds", RETRY_AFTER))
            job: dict[str, Any] = {
                "id": job_id,
                "filename": filename,
                "reference_id": reference or None,
                "client_application_display_name": registration.get("display_name"),
                "client_application_vendor": registration.get("vendor"),
                "client_application_version": app_version or None,
                "timestamp": self.ctx.clock.utc_iso(),
                "client_id": client_id,
                "ready_at": self.ctx.clock.now() + delay,
                "outcome_succeeded": outcome.succeeded,
                "outcome_fields": outcome.fields,
                "outcome_details": outcome.details,
            }
            self.ctx.store.write_blob(data, "extf", client_id, f"{job_id}.csv")
            self.ctx.store.doc("extf").setdefault("jobs", {})[job_id] = job
            self.ctx.store.save("extf")
        return empty_response(
            202,
            headers={
                "Retry-After": str(RETRY_AFTER),
                "Location": f"/clients/{client_id}/extf-files/jobs/{job_id}",
            },
        )

    def _view(self, job: dict[str, Any]) -> dict[str, Any]:
        view = {k: job[k] for k in PUBLIC_FIELDS if job.get(k) is not None}
        if self.ctx.clock.now() < job["ready_at"]:
            view["result"] = "pending"
            return view
        view.update(job["outcome_fields"])
        if job["outcome_succeeded"]:
            view["result"] = "succeeded"
        else:
            view["result"] = "failed"
            view["validation_details"] = job["outcome_details"]
        return view

    def list_jobs(self, request: Request, client_id: str) -> Response:
        allowed = self._allow(request, client_id)
        if isinstance(allowed, Response):
            return allowed
        page = parse_paging(request.args)
        if not isinstance(page, Page):
            return problem(
                400, "Invalid query parameters", "Paging parameters are invalid", code=1008828, affected=page
            )
        with self.ctx.store.lock:
            jobs = [
                j for j in self.ctx.store.doc("extf").get("jobs", {}).values() if j["client_id"] == client_id
            ]
        jobs.sort(key=lambda j: (j["timestamp"], j["id"]))
        window = [self._view(j) for j in jobs[page.skip : page.skip + page.top]]
        return json_response(window, headers=page_headers(page, len(jobs)))

    def get_job(self, request: Request, client_id: str, job_id: str) -> Response:
        allowed = self._allow(request, client_id)
        if isinstance(allowed, Response):
            return allowed
        with self.ctx.store.lock:
            job = self.ctx.store.doc("extf").get("jobs", {}).get(job_id)
        if job is None or job["client_id"] != client_id:
            return problem(404, "Not Found", f"job {job_id} not found")
        return json_response(self._view(job))

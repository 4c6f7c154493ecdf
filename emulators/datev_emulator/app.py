"""The WSGI application: URL layout (one base URL, a path prefix per DATEV host), faults, dispatch."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from datev_emulator.ade_api import AdeApi
from datev_emulator.clients_api import ClientsApi
from datev_emulator.context import Context
from datev_emulator.control import Control, ControlApi
from datev_emulator.documents_api import DocumentsApi
from datev_emulator.dxso_api import DxsoApi
from datev_emulator.extf_api import ExtfApi
from datev_emulator.faults import Fault
from datev_emulator.oauth import OAuthServer
from datev_emulator.responses import (
    JSON,
    accepts,
    dco_error,
    not_acceptable_problem,
    oauth_error,
    problem,
    rfc9457_problem,
)

CLIENTS = "/accounting-clients/platform/v2"
DOCUMENTS = "/accounting-documents/platform/v2"
EXTF = "/accounting-extf-files/platform/v3"
DXSO = "/accounting-dxso-jobs/platform/v2"
ADE = "/accounting-data-exchange/platform/v1"
PROBLEM_PREFIXES = (CLIENTS, EXTF)
# The clients and EXTF documents declare 406 for an Accept their JSON answers do not satisfy; the
# documents and DXSO documents do not, so those two APIs ignore Accept.
NEGOTIATING_PREFIXES = (CLIENTS, EXTF)
DCO_PREFIXES = (DOCUMENTS, DXSO)
DRAIN_LIMIT = 1024 * 1024
STATUS_TITLES = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}

Handler = Callable[..., Response]
LOG = logging.getLogger("datev_emulator")


def _error_for(path: str, status: int, title: str, headers: dict[str, str] | None = None) -> Response:
    """An error in the shape the API behind `path` uses."""
    if path.startswith(ADE):
        return rfc9457_problem(status, title, instance=path, headers=headers)
    if path.startswith(PROBLEM_PREFIXES):
        return problem(status, title, headers=headers)
    if path.startswith(DCO_PREFIXES):
        if status == 503:
            return dco_error(503, "DCO01020", "restapi.ServiceNotAvailableFault", headers=headers)
        return dco_error(status, None, title, headers=headers)
    error = "temporarily_unavailable" if status in (429, 503) else "server_error"
    if status in (404, 405):
        error = "invalid_request"
    return oauth_error(error, title, status, headers=headers)


def _fault_response(fault: Fault, path: str) -> Response:
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    return _error_for(path, fault.status, STATUS_TITLES.get(fault.status, "Error"), headers)


class EmulatorApp:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.oauth = OAuthServer(ctx)
        self.control = Control(ctx)
        clients = ClientsApi(ctx, self.oauth)
        documents = DocumentsApi(ctx, self.oauth)
        extf = ExtfApi(ctx, self.oauth)
        dxso = DxsoApi(ctx, self.oauth)
        ade = AdeApi(ctx, self.oauth)
        control_api = ControlApi(self.control)
        self.handlers: dict[str, Handler] = {
            "discovery": self.oauth.discovery,
            "authorize": self.oauth.authorize,
            "token": self.oauth.token,
            "revoke": self.oauth.revoke,
            "userinfo": self.oauth.userinfo,
            "certs": self.oauth.certs,
            "endsession": self.oauth.end_session,
            "clients.list": clients.list_clients,
            "clients.get": clients.get_client,
            "documents.clients": documents.list_clients,
            "documents.client": documents.get_client,
            "documents.types": documents.document_types,
            "documents.duo": documents.duo_version,
            "documents.post": documents.post_document,
            "documents.put": documents.put_document,
            "documents.stapled": documents.put_stapled,
            "extf.import": extf.import_file,
            "extf.jobs": extf.list_jobs,
            "extf.job": extf.get_job,
            "dxso.clients": dxso.list_clients,
            "dxso.client": dxso.get_client,
            "dxso.create": dxso.create_job,
            "dxso.files": dxso.add_files,
            "dxso.get": dxso.get_job,
            "dxso.finalize": dxso.finalize,
            "dxso.cancel": dxso.cancel,
            "dxso.protocol": dxso.protocol_entries,
            "ade.fiscal_years": ade.list_fiscal_years,
            "ade.fiscal_year": ade.get_fiscal_year,
            "ade.sequences": ade.accounting_sequences,
            "ade.accounts": ade.general_ledger_accounts,
            "ade.sums": ade.sums_and_balances,
            "ade.terms": ade.terms_of_payment,
            "ade.post_postings": ade.post_account_postings,
            "ade.job_state": ade.job_state,
            "ade.postings_page": ade.account_postings_page,
            "control": control_api.handle,
        }
        self.url_map = Map(
            [
                Rule("/openid/.well-known/openid-configuration", endpoint="discovery", methods=["GET"]),
                Rule("/openid/authorize", endpoint="authorize", methods=["GET"]),
                Rule("/token", endpoint="token", methods=["POST"]),
                Rule("/revoke", endpoint="revoke", methods=["POST"]),
                Rule("/userinfo", endpoint="userinfo", methods=["GET", "POST"]),
                Rule("/certs", endpoint="certs", methods=["GET"]),
                Rule("/endsession", endpoint="endsession", methods=["GET"]),
                Rule(f"{CLIENTS}/clients", endpoint="clients.list", methods=["GET"]),
                Rule(f"{CLIENTS}/clients/<client_id>", endpoint="clients.get", methods=["GET"]),
                Rule(f"{DOCUMENTS}/clients", endpoint="documents.clients", methods=["GET"]),
                Rule(f"{DOCUMENTS}/clients/<client_id>", endpoint="documents.client", methods=["GET"]),
                Rule(
                    f"{DOCUMENTS}/clients/<client_id>/document-types",
                    endpoint="documents.types",
                    methods=["GET"],
                ),
                Rule(
                    f"{DOCUMENTS}/clients/<client_id>/duo-version", endpoint="documents.duo", methods=["GET"]
                ),
                Rule(
                    f"{DOCUMENTS}/clients/<client_id>/documents", endpoint="documents.post", methods=["POST"]
                ),
                Rule(
                    f"{DOCUMENTS}/clients/<client_id>/documents/stapled",
                    endpoint="documents.stapled",
                    methods=["PUT"],
                ),
                Rule(
                    f"{DOCUMENTS}/clients/<client_id>/documents/<document_id>",
                    endpoint="documents.put",
                    methods=["PUT"],
                ),
                Rule(
                    f"{EXTF}/clients/<client_id>/extf-files/import", endpoint="extf.import", methods=["POST"]
                ),
                Rule(f"{EXTF}/clients/<client_id>/extf-files/jobs", endpoint="extf.jobs", methods=["GET"]),
                Rule(
                    f"{EXTF}/clients/<client_id>/extf-files/jobs/<job_id>",
                    endpoint="extf.job",
                    methods=["GET"],
                ),
                Rule(f"{DXSO}/clients", endpoint="dxso.clients", methods=["GET"]),
                Rule(f"{DXSO}/clients/<client_id>", endpoint="dxso.client", methods=["GET"]),
                Rule(f"{DXSO}/clients/<client_id>/dxso-jobs", endpoint="dxso.create", methods=["POST"]),
                Rule(
                    f"{DXSO}/clients/<client_id>/dxso-jobs/<job_id>/files",
                    endpoint="dxso.files",
                    methods=["POST"],
                ),
                Rule(f"{DXSO}/clients/<client_id>/dxso-jobs/<job_id>", endpoint="dxso.get", methods=["GET"]),
                Rule(
                    f"{DXSO}/clients/<client_id>/dxso-jobs/<job_id>",
                    endpoint="dxso.finalize",
                    methods=["PUT"],
                ),
                Rule(
                    f"{DXSO}/clients/<client_id>/dxso-jobs/<job_id>",
                    endpoint="dxso.cancel",
                    methods=["DELETE"],
                ),
                Rule(
                    f"{DXSO}/clients/<client_id>/dxso-jobs/<job_id>/protocol-entries",
                    endpoint="dxso.protocol",
                    methods=["GET"],
                ),
                Rule(f"{ADE}/clients/<client_id>/fiscal-years", endpoint="ade.fiscal_years", methods=["GET"]),
                Rule(
                    f"{ADE}/clients/<client_id>/fiscal-years/<fiscal_year_id>",
                    endpoint="ade.fiscal_year",
                    methods=["GET"],
                ),
                *(
                    Rule(
                        f"{ADE}/clients/<client_id>/fiscal-years/<fiscal_year_id>/{name}",
                        endpoint=endpoint,
                        methods=["GET"],
                    )
                    for name, endpoint in (
                        ("accounting-sequences", "ade.sequences"),
                        ("general-ledger-accounts", "ade.accounts"),
                        ("sums-and-balances", "ade.sums"),
                        ("terms-of-payment", "ade.terms"),
                    )
                ),
                Rule(
                    f"{ADE}/clients/<client_id>/fiscal-years/<fiscal_year_id>/account-postings",
                    endpoint="ade.post_postings",
                    methods=["POST"],
                ),
                Rule(
                    f"{ADE}/clients/<client_id>/jobs/<job_id>/state",
                    endpoint="ade.job_state",
                    methods=["GET"],
                ),
                Rule(
                    f"{ADE}/clients/<client_id>/account-postings-jobs/<job_id>",
                    endpoint="ade.postings_page",
                    methods=["GET"],
                ),
                Rule("/_emulator/<name>", endpoint="control", methods=["GET", "POST", "DELETE"]),
            ],
            strict_slashes=False,
            merge_slashes=False,
        )

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except MethodNotAllowed as exc:
            self.ctx.requests.add("unmatched")
            response = _error_for(request.path, 405, "Method Not Allowed")
            response.headers["Allow"] = ", ".join(exc.valid_methods or [])
            return response
        except NotFound:
            self.ctx.requests.add("unmatched")
            return _error_for(request.path, 404, "Not Found")
        except HTTPException as exc:  # e.g. a redirect from the routing layer
            self.ctx.requests.add("unmatched")
            return exc.get_response(request.environ)
        if endpoint != "control":
            self.ctx.requests.add(str(endpoint))
        if request.path.startswith(NEGOTIATING_PREFIXES) and not accepts(request.headers.get("Accept"), JSON):
            return not_acceptable_problem()
        return self.handlers[str(endpoint)](request, **values)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        fault = self.ctx.faults.take(request.method, request.path)
        if fault is not None and fault.kind == "status":
            self.ctx.requests.add("fault")
            response = _fault_response(fault, request.path)
        else:
            try:
                response = self.dispatch(request)
            except Exception:  # a bug in the emulator: answer in the API's shape, not as HTML
                LOG.exception("handler for %s %s failed", request.method, request.path)
                response = _error_for(request.path, 500, "Internal Server Error")
        self._settle_body(request, response)
        if fault is not None and fault.kind == "drop":
            # The work is done and stored; now vanish without an answer, like a cut connection.
            sock = environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            start_response("500 Dropped", [("Content-Length", "0")])
            return []
        return response(environ, start_response)

    @staticmethod
    def _settle_body(request: Request, response: Response) -> None:
        """Read what the handler left of the request body, so a kept-alive connection stays in sync."""
        length = request.content_length or 0
        if length == 0:
            return
        if length > DRAIN_LIMIT:
            response.headers["Connection"] = "close"
            return
        request.get_data()

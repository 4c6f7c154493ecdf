"""The checks every DATEV API call passes: bearer token, X-DATEV-Client-Id, scope, client, data service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from datev_emulator.context import Context
from datev_emulator.oauth import OAuthServer, TokenInfo
from datev_emulator.responses import dco_error, json_response, new_request_id, problem, rfc9457_problem

# problem: snake_case ProblemDetails (clients, EXTF); dco: ErrorMessage (documents, DXSO);
# rfc9457: problem+json with camelCase requestId (Accounting Data Exchange).
Style = Literal["problem", "dco", "rfc9457"]
MISSING_CLIENT_ID = "header X-DATEV-Client-Id is missing"
FOREIGN_CLIENT_ID = "header X-DATEV-Client-Id does not match the client the token was issued to"
GATEWAY_CHALLENGE = 'Bearer realm="datev-emulator"'  # no error="invalid_token": the token is fine

SERVICE_NAMES = {
    "datev:accounting:extf-files-import": "Buchungsdatenservice",
    "accounting:documents": "Belegbilderservice",
    "accounting:dxso-jobs": "Rechnungsdatenservice 1.0",
    "datev:accounting:exchange": "Datenservice Export Rechnungswesen",
}


@dataclass(frozen=True)
class Allowed:
    token: TokenInfo
    client: dict[str, Any] | None


def unauthorized(style: Style, reason: str) -> Response:
    """401 for a bad bearer token: RFC 6750's `invalid_token` challenge."""
    challenge = f'Bearer realm="datev-emulator", error="invalid_token", error_description="{reason}"'
    return _answer_401(style, reason, challenge)


def _answer_401(style: Style, reason: str, challenge: str) -> Response:
    headers = {"WWW-Authenticate": challenge}
    if style == "problem":
        return problem(401, "Unauthorized", reason, headers=headers)
    if style == "rfc9457":
        return rfc9457_problem(401, "Unauthorized", reason, headers=headers)
    return dco_error(401, None, reason, headers=headers)


def client_id_missing(style: Style) -> Response:
    """A valid token without X-DATEV-Client-Id.

    The documents and DXSO APIs declare 400 #DCO01018 (MissingMandatoryHeaderFault) for a missing
    mandatory header; the emulator answers it on every operation of those two APIs. The clients, EXTF
    and Accounting Data Exchange documents are silent (DATEV's gateway checks the header before the API
    sees the call): the emulator assumes the gateway's 401 in the API's error shape, with a challenge
    that carries no `invalid_token`, since the token is fine."""
    if style == "dco":
        return dco_error(400, "DCO01018", "restapi.MissingMandatoryHeaderFault")
    return _answer_401(style, MISSING_CLIENT_ID, GATEWAY_CHALLENGE)


def client_id_foreign(style: Style) -> Response:
    """A valid token with the X-DATEV-Client-Id of another OAuth client: the gateway's 401, every API."""
    return _answer_401(style, FOREIGN_CLIENT_ID, GATEWAY_CHALLENGE)


def not_found(style: Style, what: str) -> Response:
    if style == "problem":
        return problem(404, "Not Found", what)
    if style == "rfc9457":
        return rfc9457_problem(404, "Not Found", what)
    return json_response({"request_id": new_request_id()}, 404)


def authorize_call(
    ctx: Context,
    oauth: OAuthServer,
    request: Request,
    style: Style,
    scope: str,
    *,
    client_id: str | None = None,
    service_scope: str | None = None,
) -> Allowed | Response:
    info = oauth.check_bearer(request)
    if isinstance(info, str):
        return unauthorized(style, info)
    header_client = request.headers.get("X-DATEV-Client-Id")
    if not header_client:
        return client_id_missing(style)
    if header_client != info.client_id:
        return client_id_foreign(style)
    if scope not in info.scopes:
        if style == "problem":
            return problem(403, "Missing required scope", f"Missing scope(s) are: {scope}", code=1008829)
        if style == "rfc9457":
            return rfc9457_problem(403, "Forbidden", f"Missing scope(s) are: {scope}")
        return dco_error(403, "DCO01005", "restapi.ScopeFault")
    if client_id is None:
        return Allowed(info, None)
    with ctx.store.lock:
        client = ctx.store.doc("datev").get("clients", {}).get(client_id)
    if client is None:
        return not_found(style, f"client {client_id} not found or not accessible")
    if service_scope is not None and not any(service_scope in s["scopes"] for s in client["services"]):
        service = SERVICE_NAMES.get(service_scope, service_scope)
        detail = f"client {client_id} has not booked the data service {service} (scope {service_scope})"
        if style == "problem":
            return problem(403, "Missing permission", detail, code=1008838)
        if style == "rfc9457":
            return rfc9457_problem(403, "Forbidden", detail)
        return json_response({"request_id": new_request_id(), "error_description": detail}, 403)
    return Allowed(info, client)

"""The checks every DATEV API call passes: bearer token, X-DATEV-Client-Id, scope, client, data service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from datev_emulator.context import Context
from datev_emulator.oauth import OAuthServer, TokenInfo
from datev_emulator.responses import dco_error, json_response, new_request_id, problem

Style = Literal["problem", "dco"]

SERVICE_NAMES = {
    "datev:accounting:extf-files-import": "Buchungsdatenservice",
    "accounting:documents": "Belegbilderservice",
    "accounting:dxso-jobs": "Rechnungsdatenservice 1.0",
}


@dataclass(frozen=True)
class Allowed:
    token: TokenInfo
    client: dict[str, Any] | None


def unauthorized(style: Style, reason: str) -> Response:
    headers = {
        "WWW-Authenticate": (
            f'Bearer realm="datev-emulator", error="invalid_token", error_description="{reason}"'
        )
    }
    if style == "problem":
        return problem(401, "Unauthorized", reason, headers=headers)
    return dco_error(401, None, reason, headers=headers)


def not_found(style: Style, what: str) -> Response:
    if style == "problem":
        return problem(404, "Not Found", what)
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
        return unauthorized(style, "header X-DATEV-Client-Id is missing")
    if header_client != info.client_id:
        return unauthorized(
            style, "header X-DATEV-Client-Id does not match the client the token was issued to"
        )
    if scope not in info.scopes:
        if style == "problem":
            return problem(403, "Missing required scope", f"Missing scope(s) are: {scope}", code=1008829)
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
        return json_response({"request_id": new_request_id(), "error_description": detail}, 403)
    return Allowed(info, client)

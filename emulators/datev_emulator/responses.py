"""Response builders, one per error shape DATEV uses (OAuth, ProblemDetails, DCO ErrorMessage)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header
from werkzeug.wrappers import Response

JSON_UTF8 = "application/json;charset=utf-8"
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


def new_request_id() -> str:
    return str(uuid.uuid4())


def json_response(
    body: Any, status: int = 200, content_type: str = JSON_UTF8, headers: dict[str, str] | None = None
) -> Response:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(payload, status=status, headers=headers or {}, content_type=content_type)


def empty_response(status: int, headers: dict[str, str] | None = None) -> Response:
    response = Response(b"", status=status, headers=headers or {})
    response.headers.pop("Content-Type", None)
    return response


def oauth_error(
    error: str, description: str, status: int = 400, headers: dict[str, str] | None = None
) -> Response:
    """RFC 6749 section 5.2 shape."""
    extra = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return json_response(
        {"error": error, "error_description": description}, status, content_type=JSON, headers=extra
    )


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: int | None = None,
    affected: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """ProblemDetails in snake_case as the clients and EXTF APIs answer."""
    body: dict[str, Any] = {}
    if code is not None:
        body["type"] = f"http://www.datev.de/hilfe/{code}"
    body["title"] = title
    if detail is not None:
        body["detail"] = detail
    if affected:
        body["affected_elements"] = affected
    body["request_id"] = new_request_id()
    body["status"] = status
    return json_response(body, status, headers=headers)


def dco_error(
    status: int,
    code: str | None,
    fault: str | None,
    headers: dict[str, str] | None = None,
    content_type: str = JSON,
) -> Response:
    """ErrorMessage of the documents and DXSO APIs: `{error, request_id, error_description, error_uri}`."""
    body: dict[str, str] = {}
    if code:
        body["error"] = f"#{code}"
    body["request_id"] = new_request_id()
    if fault:
        body["error_description"] = fault
    if code:
        body["error_uri"] = f"https://apps.datev.de/knowledge/help/search?q={code}"
    return json_response(body, status, content_type=content_type, headers=headers)


def rfc9457_problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """RFC 9457 problem+json of the Accounting Data Exchange API, with a camelCase `requestId`."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body["requestId"] = new_request_id()
    return json_response(body, status, content_type=PROBLEM_JSON, headers=headers)


def accepts(accept_header: str | None, media_type: str) -> bool:
    """Whether an Accept header admits `media_type` (parameters such as charset are not compared:
    DATEV's own example is `application/json;charset=utf-8`). No header admits everything."""
    if not accept_header or not accept_header.strip():
        return True
    kind, _, subtype = media_type.partition("/")
    for value, quality in parse_accept_header(accept_header, MIMEAccept):
        if quality <= 0:
            continue
        want_kind, _, want_sub = value.split(";", 1)[0].strip().lower().partition("/")
        if want_kind == "*" or (want_kind == kind and want_sub in ("*", subtype)):
            return True
    return False


def not_acceptable_problem() -> Response:
    """406 as the clients and EXTF documents declare it."""
    return problem(406, "Not Acceptable")

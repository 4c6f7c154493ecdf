"""Response builders, one per error shape DATEV uses (OAuth, ProblemDetails, DCO ErrorMessage)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from werkzeug.wrappers import Response

JSON_UTF8 = "application/json;charset=utf-8"
JSON = "application/json"


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

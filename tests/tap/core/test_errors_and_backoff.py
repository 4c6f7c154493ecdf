"""DATEV's three error shapes, the backoff policy and Retry-After: pure units, no server."""

from __future__ import annotations

import json

import pytest
import requests

from tap_datev.client import BackoffPolicy, parse_retry_after
from tap_datev.errors import DatevAPIError


def _response(status: int, body: object, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
    response._content = json.dumps(body).encode() if body is not None else b""
    response.headers.update(headers or {})
    response.url = "http://127.0.0.1:1/accounting-clients/platform/v2/clients?skip=0&top=100"
    return response


def test_problem_details_snake_case() -> None:
    error = DatevAPIError.from_response(
        _response(
            403,
            {
                "type": "http://www.datev.de/hilfe/1008829",
                "title": "Missing required scope",
                "detail": "Missing scope(s) are: datev:accounting:clients",
                "request_id": "req-123",
                "status": 403,
            },
        )
    )
    assert (error.status, error.code, error.title, error.request_id) == (
        403,
        "1008829",
        "Missing required scope",
        "req-123",
    )
    assert error.detail == "Missing scope(s) are: datev:accounting:clients"
    message = str(error)
    assert (
        "1008829" in message and "Missing required scope" in message and "datev:accounting:clients" in message
    )
    assert "/accounting-clients/platform/v2/clients" in message
    assert "skip=0" not in message  # only the path, never the query


def test_problem_details_affected_elements_are_shown() -> None:
    error = DatevAPIError.from_response(
        _response(
            400,
            {
                "type": "http://www.datev.de/hilfe/1008828",
                "title": "Invalid query parameters",
                "detail": "Paging is invalid",
                "affected_elements": [{"name": "top", "reason": "must be 1..100"}],
                "request_id": "r1",
            },
        )
    )
    assert error.code == "1008828"
    assert "top: must be 1..100" in str(error)


def test_rfc9457_camel_case() -> None:
    error = DatevAPIError.from_response(
        _response(
            404,
            {
                "type": "https://example.datev.de/problems/not-found",
                "title": "Not Found",
                "status": 404,
                "detail": "fiscal year 20990101 does not exist",
                "requestId": "camel-1",
            },
        )
    )
    assert error.request_id == "camel-1"
    assert error.detail == "fiscal year 20990101 does not exist"
    assert error.code == "not-found"


def test_dco_shape() -> None:
    error = DatevAPIError.from_response(
        _response(
            403,
            {
                "error": "#DCO01005",
                "error_description": "restapi.ScopeFault",
                "request_id": "dco-9",
                "error_uri": "https://apps.datev.de/knowledge/help/search?q=DCO01005",
            },
        )
    )
    assert (error.code, error.title, error.request_id) == ("#DCO01005", "restapi.ScopeFault", "dco-9")
    assert "DCO01005" in (error.detail or "")
    assert "#DCO01005" in str(error) and "restapi.ScopeFault" in str(error)


def test_unparseable_body_falls_back_to_reason_without_the_body() -> None:
    response = _response(400, None)
    response._content = b"<html>secret-looking gateway page</html>"
    error = DatevAPIError.from_response(response)
    assert error.title == "Bad Request"
    assert "gateway page" not in str(error)


def test_backoff_grows_and_is_capped() -> None:
    policy = BackoffPolicy(base=5, maximum=300, budget=900, rand=lambda: 1.0)
    assert [policy.delay(n, None) for n in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999])
def test_backoff_first_wait_starts_near_the_base(rand: float) -> None:
    """Equal jitter: wait n lies in [cap/2, cap]; the first one near backoff_base_seconds, never ~0."""
    policy = BackoffPolicy(base=5, maximum=300, budget=900, rand=lambda: rand)
    assert 2.5 <= policy.delay(0, None) <= 5.0
    assert 10.0 <= policy.delay(2, None) <= 20.0
    assert policy.delay(0, None) == 2.5 + 2.5 * rand


def test_backoff_waits_retry_after_plus_jitter() -> None:
    """Retry-After is a minimum; the jitter on top keeps parallel runs out of lockstep."""
    low = BackoffPolicy(base=5, maximum=300, budget=900, rand=lambda: 0.0)
    high = BackoffPolicy(base=5, maximum=300, budget=900, rand=lambda: 1.0)
    assert low.delay(0, 42.0) == 42.0
    assert high.delay(0, 42.0) == 44.5
    assert low.delay(0, 42.0) != high.delay(0, 42.0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (" 0 ", 0.0), ("Thu, 26 Nov 2026 02:00:10 GMT", 10.0), ("soon", None), (None, None)],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = 1795658400.0  # 2026-11-26 02:00:00 UTC
    assert parse_retry_after(header, now) == expected


def test_dco_shape_without_code() -> None:
    # The documents API answers a missing data service with only a description.
    error = DatevAPIError.from_response(
        _response(403, {"request_id": "x1", "error_description": "client has not booked the service"})
    )
    assert error.code is None
    assert error.title == "client has not booked the service"
    assert error.request_id == "x1"

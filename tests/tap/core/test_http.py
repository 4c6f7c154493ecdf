"""DatevClient against the emulator: headers, backoff on 429/503/connection errors, no retry on 500,
DATEV's error details on 4xx."""

from __future__ import annotations

import socket
import typing as t

import pytest
import requests

from tap_datev.auth import TokenManager
from tap_datev.client import DatevClient
from tap_datev.errors import DatevAPIError, DatevUnreachableError


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(logged_in_config: dict[str, t.Any], slept: list[float]) -> DatevClient:
    client = DatevClient(logged_in_config)
    client.sleep = slept.append  # waits are recorded, not slept
    return client


def test_every_call_sends_bearer_and_client_id(client: DatevClient) -> None:
    sent: list[requests.PreparedRequest] = []
    client.session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
    client.request("GET", "clients", "/clients", params={"top": 1})
    client.request("GET", "documents", "/clients/29098-55003/document-types")
    for request in sent:
        assert request.headers["Authorization"].startswith("Bearer ")
        assert request.headers["X-DATEV-Client-Id"] == "ml-connector-demo"


def test_429_honours_retry_after(client: DatevClient, emulator_control: t.Any, slept: list[float]) -> None:
    emulator_control.fault(status=429, retry_after=3, count=2, path_prefix="/accounting-clients/")
    client.backoff.budget = 10
    client.backoff.rand = lambda: 1.0  # the most jitter: half the attempt's cap on top
    rows = client.request("GET", "clients", "/clients", params={"top": 1}).json()
    assert len(rows) == 1
    assert slept == pytest.approx([3.005, 3.01])


def test_503_is_retried_with_growing_jittered_backoff(
    client: DatevClient, emulator_control: t.Any, slept: list[float]
) -> None:
    emulator_control.fault(status=503, retry_after=None, count=3, path_prefix="/accounting-clients/")
    client.backoff.rand = lambda: 1.0
    # The emulator sends Retry-After: 1 on 503 by default; drop it to see the exponential series.
    client.session.hooks["response"].append(_drop_retry_after)
    assert client.request("GET", "clients", "/clients", params={"top": 1}).status_code == 200
    assert slept == [0.01, 0.02, 0.04]


def _drop_retry_after(response: requests.Response, *args: t.Any, **kwargs: t.Any) -> requests.Response:
    response.headers.pop("Retry-After", None)
    return response


def test_retries_stop_at_the_budget(client: DatevClient, emulator_control: t.Any, slept: list[float]) -> None:
    emulator_control.fault(status=503, retry_after=2, count=50, path_prefix="/accounting-clients/")
    client.backoff.budget = 5
    client.backoff.rand = lambda: 0.0
    with pytest.raises(DatevAPIError) as error:
        client.request("GET", "clients", "/clients")
    assert error.value.status == 503
    assert slept == [2.0, 2.0]


def test_500_is_not_retried(client: DatevClient, emulator_control: t.Any, slept: list[float]) -> None:
    emulator_control.fault(status=500, count=1, path_prefix="/accounting-clients/")
    with pytest.raises(DatevAPIError) as error:
        client.request("GET", "clients", "/clients")
    assert error.value.status == 500
    assert slept == []
    # The fault was used up by the single attempt.
    assert client.request("GET", "clients", "/clients", params={"top": 1}).status_code == 200


def test_no_retry_when_asked(client: DatevClient, emulator_control: t.Any, slept: list[float]) -> None:
    emulator_control.fault(status=503, count=1, path_prefix="/accounting-clients/")
    with pytest.raises(DatevAPIError):
        client.request("GET", "clients", "/clients", retry=False)
    assert slept == []


def test_4xx_shows_datev_code_title_and_detail(client: DatevClient) -> None:
    with pytest.raises(DatevAPIError) as error:
        client.request("GET", "clients", "/clients", params={"top": "many"})
    assert error.value.status == 400
    assert error.value.code == "1008828"
    assert error.value.title == "Invalid query parameters"
    message = str(error.value)
    assert "1008828" in message and "Invalid query parameters" in message and "top" in message
    assert error.value.request_id


def _dead_base_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_connection_errors_of_a_datev_that_answered_are_retried_within_budget(
    logged_in_config: dict[str, t.Any],
) -> None:
    dead = {**logged_in_config, "base_url": _dead_base_url()}
    client = DatevClient(dead, tokens=TokenManager(logged_in_config))
    client.answered = True  # as after a first successful request of this run
    slept: list[float] = []
    client.sleep = slept.append
    client.backoff.rand = lambda: 1.0
    client.backoff.budget = 0.1
    with pytest.raises(requests.ConnectionError):
        client.request("GET", "clients", "/clients")
    assert slept == [0.01, 0.02, 0.04]  # the next (0.05) would exceed the 0.1 s budget


def test_first_contact_fails_fast_naming_the_url(logged_in_config: dict[str, t.Any]) -> None:
    """Connection refused on the first request of a run: no backoff, one error with the URL."""
    base = _dead_base_url()
    client = DatevClient({**logged_in_config, "base_url": base}, tokens=TokenManager(logged_in_config))
    slept: list[float] = []
    client.sleep = slept.append
    with pytest.raises(DatevUnreachableError) as error:
        client.request("GET", "clients", "/clients", params={"top": 1})
    assert slept == []
    assert f"{base}/accounting-clients/platform/v2/clients" in str(error.value)
    assert "top=1" not in str(error.value)
    assert "refused" in str(error.value)


def test_first_contact_with_an_unknown_host_fails_fast(logged_in_config: dict[str, t.Any]) -> None:
    client = DatevClient(
        {**logged_in_config, "base_url": "http://datev-emulator.invalid"},
        tokens=TokenManager(logged_in_config),
    )
    slept: list[float] = []
    client.sleep = slept.append
    with pytest.raises(DatevUnreachableError, match=r"http://datev-emulator\.invalid/accounting-clients"):
        client.request("GET", "clients", "/clients")
    assert slept == []

"""DatevClient against 429/503 answers that carry no Retry-After (DATEV documents none for its
accounting APIs): the tap falls back to its own growing backoff and recovers."""

from __future__ import annotations

import typing as t

import pytest
import requests

from tap_datev.client import DatevClient


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(logged_in_config: dict[str, t.Any], slept: list[float]) -> DatevClient:
    client = DatevClient(logged_in_config)
    client.sleep = slept.append  # waits are recorded, not slept
    client.backoff.rand = lambda: 1.0  # the top of each jitter range
    return client


@pytest.mark.parametrize("status", [429, 503])
def test_backs_off_without_retry_after(
    client: DatevClient, emulator_control: t.Any, slept: list[float], status: int
) -> None:
    emulator_control.fault(status=status, retry_after=None, count=3, path_prefix="/accounting-clients/")
    answers: list[requests.Response] = []
    client.session.hooks["response"].append(lambda r, *a, **k: answers.append(r))

    rows = client.request("GET", "clients", "/clients", params={"top": 1}).json()

    assert len(rows) == 1
    assert [r.status_code for r in answers] == [status, status, status, 200]
    assert all("Retry-After" not in r.headers for r in answers)
    # backoff_base_seconds 0.01, doubling per attempt (max 0.05 s in the test config).
    assert slept == [0.01, 0.02, 0.04]

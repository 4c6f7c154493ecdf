"""Headers as DATEV answers them: X-DATEV-Client-Id, Accept (406), Retry-After on faults, and the clock
switch's warning when token times leave the skew a client allows.

Answers the OpenAPI documents declare are validated against them (../shared/datev-openapi); the
assumptions where they are silent are listed in emulators/datev_emulator/README.md.
"""

from __future__ import annotations

import logging
import typing as t
from typing import Any

import pytest
import requests
from datev_emu_helpers import CLIENTS, CONFIDENTIAL, DOCUMENTS, DXSO, EXTF, Flow
from datev_emu_openapi import Validator

if t.TYPE_CHECKING:
    from pathlib import Path

    from datev_emulator.server import RunningEmulator


@pytest.fixture
def validator(shared_dir: Path, emulator: RunningEmulator) -> Validator:
    return Validator(shared_dir, emulator.url)


def _challenge(response: requests.Response) -> str:
    return response.headers.get("WWW-Authenticate", "")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{DOCUMENTS}/clients/29098-55003/document-types"),
        ("POST", f"{DXSO}/clients/29098-55003/dxso-jobs"),
    ],
)
def test_missing_client_id_is_dco01018_where_declared(
    flow: Flow, tokens: dict[str, Any], validator: Validator, method: str, path: str
) -> None:
    body = {"json": {}} if method == "POST" else {}
    response = flow.api(method, path, tokens["access_token"], client_id=None, **body)
    assert response.status_code == 400
    assert response.json()["error"] == "#DCO01018"
    assert response.json()["error_description"] == "restapi.MissingMandatoryHeaderFault"
    validator.check(response, request_errors=(validator.security_error(path[: path.index("/clients")]),))


@pytest.mark.parametrize("path", [f"{CLIENTS}/clients", f"{EXTF}/clients/29098-55003/extf-files/jobs"])
def test_missing_or_foreign_client_id_is_a_gateway_401_without_invalid_token(
    flow: Flow, tokens: dict[str, Any], validator: Validator, path: str
) -> None:
    missing = flow.api("GET", path, tokens["access_token"], client_id=None)
    assert missing.status_code == 401
    assert "X-DATEV-Client-Id is missing" in missing.json()["detail"]
    assert "invalid_token" not in _challenge(missing)
    validator.check(missing, request_errors=(validator.security_error(path[: path.index("/clients")]),))
    foreign = flow.api("GET", path, tokens["access_token"], client_id=CONFIDENTIAL)
    assert foreign.status_code == 401
    assert "does not match" in foreign.json()["detail"]
    assert "invalid_token" not in _challenge(foreign)
    validator.check(foreign)


def test_foreign_client_id_on_documents_is_401_not_invalid_token(flow: Flow, tokens: dict[str, Any]) -> None:
    foreign = flow.api(
        "GET",
        f"{DOCUMENTS}/clients/29098-55003/document-types",
        tokens["access_token"],
        client_id=CONFIDENTIAL,
    )
    assert foreign.status_code == 401
    assert "invalid_token" not in _challenge(foreign)


def test_invalid_token_is_still_invalid_token(flow: Flow) -> None:
    response = flow.api("GET", f"{CLIENTS}/clients", "not-a-token")
    assert response.status_code == 401
    assert 'error="invalid_token"' in _challenge(response)


@pytest.mark.parametrize("path", [f"{CLIENTS}/clients", f"{EXTF}/clients/29098-55003/extf-files/jobs"])
def test_unsupported_accept_is_406_where_declared(
    flow: Flow, tokens: dict[str, Any], validator: Validator, path: str
) -> None:
    refused = validator.check(flow.api("GET", path, tokens["access_token"], headers={"Accept": "text/html"}))
    assert refused.status_code == 406
    assert refused.json()["title"] == "Not Acceptable"
    accepted = ("application/json;charset=utf-8", "application/*", "*/*", "text/html, application/json;q=0.5")
    for accept in accepted:
        assert flow.api("GET", path, tokens["access_token"], headers={"Accept": accept}).status_code == 200


def test_documents_api_declares_no_406_and_ignores_accept(flow: Flow, tokens: dict[str, Any]) -> None:
    response = flow.api(
        "GET", f"{DOCUMENTS}/clients", tokens["access_token"], headers={"Accept": "text/html"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize("status", [429, 503])
def test_faults_with_and_without_retry_after(
    flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator, status: int
) -> None:
    def faulted(**fault: Any) -> requests.Response:
        emulator.control.arm_fault(status=status, path_prefix=CLIENTS, **fault)
        response = flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"])
        assert response.status_code == status
        return response

    assert faulted().headers["Retry-After"] == "1"  # the default
    assert faulted(retry_after=9).headers["Retry-After"] == "9"
    assert "Retry-After" not in faulted(retry_after=None).headers
    # The same through the HTTP control API: an explicit null means no header.
    requests.post(
        f"{flow.url}/_emulator/faults",
        json={"status": status, "retry_after": None, "path_prefix": CLIENTS},
        timeout=10,
    ).raise_for_status()
    bare = flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"])
    assert bare.status_code == status
    assert "Retry-After" not in bare.headers


def test_clock_beyond_client_skew_says_so(
    flow: Flow, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="datev_emulator")
    within = requests.post(f"{flow.url}/_emulator/clock", json={"advance_seconds": 120}, timeout=10).json()
    assert "warning" not in within
    assert not caplog.records
    beyond = requests.post(f"{flow.url}/_emulator/clock", json={"advance_seconds": 1}, timeout=10).json()
    assert "121 s ahead of real time" in beyond["warning"]
    assert "121 s ahead of real time" in caplog.records[-1].getMessage()
    caplog.clear()
    flow.login()  # tokens issued while the clock is off say so too
    assert any("issuing tokens for ml-connector-demo" in r.getMessage() for r in caplog.records)
    emulator.control.set_now(emulator.control.clock.now() - 121)
    assert emulator.control.clock.skew_warning() is None

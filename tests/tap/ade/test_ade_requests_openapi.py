"""The requests the tap sends to Accounting Data Exchange (a sync of every ADE stream, the
account-postings job included), and the emulator's answers, validated against DATEV's OpenAPI
document: paths, query parameters, and an Accept each operation can satisfy (ndjson or JSON)."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

from booking.conftest import run_tap

from tap_datev import client as client_module

from .conftest import ADE_STREAMS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "emulators" / "datev"))
from datev_emu_helpers import ADE  # the emulator tests' helpers
from datev_emu_openapi import DUE_IN_DAYS_ERRORS, TERMS_OF_PAYMENT_ERRORS, Validator

if t.TYPE_CHECKING:
    import pytest
    import requests

# Every Accounting Data Exchange operation the tap uses (the SKR14-only ones it does not).
ADE_OPERATIONS = {
    (ADE, "get", "/clients/{clientId}/fiscal-years"),
    (ADE, "get", "/clients/{clientId}/fiscal-years/{fiscalYearId}"),
    (ADE, "get", "/clients/{clientId}/fiscal-years/{fiscalYearId}/accounting-sequences"),
    (ADE, "get", "/clients/{clientId}/fiscal-years/{fiscalYearId}/general-ledger-accounts"),
    (ADE, "get", "/clients/{clientId}/fiscal-years/{fiscalYearId}/sums-and-balances"),
    (ADE, "get", "/clients/{clientId}/fiscal-years/{fiscalYearId}/terms-of-payment"),
    (ADE, "post", "/clients/{clientId}/fiscal-years/{fiscalYearId}/account-postings"),
    (ADE, "get", "/clients/{clientId}/jobs/{jobId}/state"),
    (ADE, "get", "/clients/{clientId}/account-postings-jobs/{jobId}"),
}


def test_the_tap_s_ade_requests_and_answers_validate(
    ade_config: dict[str, t.Any], shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers: list[requests.Response] = []
    original = client_module.DatevClient.send

    def send(self: t.Any, request: t.Any, **kwargs: t.Any) -> requests.Response:
        response = original(self, request, **kwargs)
        _ = response.content  # a streamed page is read here, so it can be validated after use
        answers.append(response)
        return response

    monkeypatch.setattr(client_module.DatevClient, "send", send)
    run = run_tap(ade_config, streams=ADE_STREAMS)
    assert run.records("account_postings")

    validator = Validator(shared_dir, ade_config["base_url"])
    for response in answers:
        if ADE not in response.request.path_url:
            continue
        terms = response.request.path_url.endswith("/terms-of-payment")
        errors = (*TERMS_OF_PAYMENT_ERRORS, *DUE_IN_DAYS_ERRORS, *TERMS_OF_PAYMENT_ERRORS) if terms else ()
        validator.check(response, response_errors=errors)
    assert validator.covered == ADE_OPERATIONS

"""The requests the tap itself sends (every submit kind, a sync of every stream, the job-list
lookup), and the emulator's answers to them, validated against DATEV's OpenAPI documents.

The emulator tests validate each operation driven by hand; this one proves the tap's own request
shapes (headers, bodies, multipart parts, query parameters) match what DATEV documents.
"""

from __future__ import annotations

import datetime as dt
import sys
import typing as t
from pathlib import Path

import pytest

from tap_datev import client as client_module
from tap_datev import jobs
from tap_datev.submit import find_extf_job, submit_document, submit_dxso, submit_extf

from .conftest import run_tap
from .factory import CLIENT_ID, DOCUMENT_XML, LEDGER_XML, buchungsstapel

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "emulators" / "datev"))
from datev_emu_helpers import CLIENTS, DOCUMENTS, DXSO, EXTF  # the emulator tests' helpers
from datev_emu_openapi import Validator, dxso_month_error

if t.TYPE_CHECKING:
    import requests

    from tap_datev.client import DatevClient
    from tap_datev.ledger import Ledger

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# Every DATEV operation the tap uses (login, token refresh and revoke are OIDC, not in these documents).
TAP_OPERATIONS = {
    (CLIENTS, "get", "/clients"),
    (DOCUMENTS, "get", "/clients/{client-id}"),
    (DOCUMENTS, "get", "/clients/{client-id}/document-types"),
    (DOCUMENTS, "put", "/clients/{client-id}/documents/{document-id}"),
    (EXTF, "post", "/clients/{client-id}/extf-files/import"),
    (EXTF, "get", "/clients/{client-id}/extf-files/jobs"),
    (EXTF, "get", "/clients/{client-id}/extf-files/jobs/{job-id}"),
    (DXSO, "post", "/clients/{client-id}/dxso-jobs"),
    (DXSO, "post", "/clients/{client-id}/dxso-jobs/{job-id}/files"),
    (DXSO, "put", "/clients/{client-id}/dxso-jobs/{job-id}"),
    (DXSO, "get", "/clients/{client-id}/dxso-jobs/{job-id}"),
    (DXSO, "get", "/clients/{client-id}/dxso-jobs/{job-id}/protocol-entries"),
}


def test_the_tap_s_requests_and_answers_validate(  # noqa: PLR0917 (fixtures)
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    datev_emulator: t.Any,
    shared_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: list[requests.Response] = []
    original = client_module.DatevClient.send

    def send(self: DatevClient, request: t.Any, *, retry: bool = True) -> requests.Response:
        response = original(self, request, retry=retry)
        answers.append(response)
        return response

    monkeypatch.setattr(client_module.DatevClient, "send", send)

    submit_document(datev, ledger, CLIENT_ID, "Rechnung_4711.pdf", PDF, document_type="Rechnungseingang")
    extf_row = submit_extf(datev, ledger, "EXTF_Maerz_2026.csv", buchungsstapel())
    assert find_extf_job(datev, extf_row) is not None  # the lookup after an unclear upload
    package = [("document.xml", DOCUMENT_XML), ("Rechnung_4711.xml", LEDGER_XML)]
    submit_dxso(
        datev, ledger, CLIENT_ID, import_type="accountsPayableLedgerImport", month="2026-03", files=package
    )
    ledger.close()

    datev_emulator.control.advance(60)
    later = jobs.utc_now() + dt.timedelta(seconds=30)  # past the upload's Retry-After
    monkeypatch.setattr(jobs, "utc_now", lambda: later)
    config = {**booking_config, "client_ids": [CLIENT_ID]}
    run = run_tap(
        config, streams=["clients", "document_types", "documents", "booking_batches", "booking_lines"]
    )
    assert {r["kind"] for r in run.records("booking_batches")} == {"extf", "dxso"}

    validator = Validator(shared_dir, datev_emulator.url)
    for response in answers:
        is_dxso_create = response.request.method == "POST" and (response.request.path_url or "").endswith(
            "/dxso-jobs"
        )
        validator.check(response, (dxso_month_error("2026-03"),) if is_dxso_create else ())
    assert validator.covered == TAP_OPERATIONS

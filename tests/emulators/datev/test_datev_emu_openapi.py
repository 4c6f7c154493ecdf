"""Every implemented DATEV operation of the emulator, validated against DATEV's own OpenAPI documents.

The documents are read from ../shared/datev-openapi (skipped when absent). Each request/response pair of a
full session (login with PKCE, then each operation) is validated with openapi-core against the document
of its API, the document's server URL mapped onto the emulator's path prefix.

Exempt from validation: faulted responses (429/503/500 and dropped connections, tested in
test_datev_emu_apis.py) and one contradiction inside DATEV's DXSO document: `accounting_month` is typed
`format: date` while its description and example say `YYYY-MM` ("2025-05"); the emulator follows the
description, so that one request-body error is expected and asserted exactly.
"""

from __future__ import annotations

import json
import typing as t
import uuid
from typing import Any

import pytest
from datev_emu_helpers import CLIENTS, DOCUMENTS, DXSO, EXTF, Flow
from datev_emu_openapi import Validator, dxso_month_error

if t.TYPE_CHECKING:
    from pathlib import Path

    import requests

    from datev_emulator.server import RunningEmulator

EXTF_BODY = (
    '"EXTF";700;21;"Buchungsstapel";13;20250203101500000;;"RE";"";"";29098;55003;20250101;4;20250101;20250131;'
    '"Januar";"WD";1;0;0;"EUR";;"";;;"03";;;"";""\r\nUmsatz;S/H\r\n100,00;"S"\r\n'
).encode("cp1252")
DOCUMENT_XML = b'<?xml version="1.0"?><archive xmlns="http://xml.datev.de/bedi/tps/document/v06.0"/>'
LEDGER_XML = b'<?xml version="1.0"?><LedgerImport xmlns="http://xml.datev.de/bedi/tps/ledger/v060"/>'


@pytest.fixture
def validator(shared_dir: Path, emulator: RunningEmulator) -> Validator:
    return Validator(shared_dir, emulator.url)


@pytest.mark.usefixtures("filler_clients")  # a clients page with a Link header
def test_every_operation_validates(flow: Flow, emulator: RunningEmulator, validator: Validator) -> None:
    token = flow.login()["access_token"]
    check = validator.check

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        return flow.api(method, path, token, **kwargs)

    # accounting-clients
    page = check(call("GET", f"{CLIENTS}/clients", params={"skip": 0, "top": 100}))
    assert page.headers["Total-Items"] == "253"
    check(
        call(
            "GET",
            f"{CLIENTS}/clients",
            params={"filter": "consultant_number eq 29098 and client_number eq 55003"},
        )
    )
    check(call("GET", f"{CLIENTS}/clients/29098-55003"))
    assert check(call("GET", f"{CLIENTS}/clients", params={"filter": "name eq 1"})).status_code == 400

    # accounting-documents
    check(call("GET", f"{DOCUMENTS}/clients"))
    check(call("GET", f"{DOCUMENTS}/clients/29098-55004"))
    check(call("GET", f"{DOCUMENTS}/clients/29098-55003/document-types"))
    check(call("GET", f"{DOCUMENTS}/clients/29098-55003/duo-version"))
    meta = json.dumps({"document_type": "Rechnungseingang", "note": "Lieferschein"})
    pdf = ("Rechnung.pdf", b"%PDF-1.4\n", "application/pdf")
    posted = check(
        call(
            "POST",
            f"{DOCUMENTS}/clients/29098-55003/documents",
            files={"file": pdf, "metadata": (None, meta)},
        )
    )
    assert posted.status_code == 201
    doc_path = f"{DOCUMENTS}/clients/29098-55003/documents/{uuid.uuid4()}"
    assert check(call("PUT", doc_path, files={"file": pdf})).status_code == 201
    assert check(call("PUT", doc_path, files={"file": pdf})).status_code == 409
    stapled = [
        ("files", ("a.pdf", b"%PDF-1.4 a", "application/pdf")),
        ("files", ("b.pdf", b"%PDF-1.4 b", "application/pdf")),
    ]
    assert (
        len(
            check(call("PUT", f"{DOCUMENTS}/clients/29098-55003/documents/stapled", files=stapled)).json()[
                "files"
            ]
        )
        == 2
    )

    # accounting-extf-files
    headers = {
        "Filename": "EXTF_Januar.csv",
        "Reference-Id": "Lauf 1",
        "Content-Type": "application/octet-stream",
    }
    imported = check(
        call("POST", f"{EXTF}/clients/29098-55003/extf-files/import", data=EXTF_BODY, headers=headers)
    )
    assert imported.status_code == 202
    failed = EXTF_BODY.replace(b"29098;55003", b"29098;55004")
    check(call("POST", f"{EXTF}/clients/29098-55003/extf-files/import", data=failed, headers=headers))
    assert check(call("GET", f"{EXTF}{imported.headers['Location']}")).json()["result"] == "pending"
    emulator.control.advance(5)
    jobs = check(
        call("GET", f"{EXTF}/clients/29098-55003/extf-files/jobs", params={"skip": 0, "top": 10})
    ).json()
    assert sorted(j["result"] for j in jobs) == ["failed", "succeeded"]
    check(call("GET", f"{EXTF}{imported.headers['Location']}"))

    # accounting-dxso-jobs
    check(call("GET", f"{DXSO}/clients"))
    check(call("GET", f"{DXSO}/clients/29098-55003"))
    body = {"import_type": "accountsReceivableLedgerImport", "accounting_month": "2025-05"}
    created = check(
        call("POST", f"{DXSO}/clients/29098-55003/dxso-jobs", json=body),
        request_errors=(dxso_month_error("2025-05"),),
    )
    job = f"{DXSO}/clients/29098-55003/dxso-jobs/{created.json()['id']}"
    for name, data in (("document.xml", DOCUMENT_XML), ("AR-1.xml", LEDGER_XML)):
        check(call("POST", f"{job}/files", files={"files": (name, data, "text/xml")}))
    merge = {"Content-Type": "application/merge-patch+json"}
    assert check(call("PUT", job, data=json.dumps({"ready": "true"}), headers=merge)).status_code == 204
    assert check(call("GET", job)).json()["status"] == 1
    emulator.control.advance(5)
    assert check(call("GET", job)).json()["status"] == 2
    assert check(call("GET", f"{job}/protocol-entries")).json()
    other = check(call("POST", f"{DXSO}/clients/29098-55003/dxso-jobs", json={}))
    assert (
        check(call("DELETE", f"{DXSO}/clients/29098-55003/dxso-jobs/{other.json()['id']}")).status_code == 204
    )

    # Every operation of the four documents was called and validated (ADE: test_datev_emu_ade.py).
    assert validator.covered == validator.all_operations((CLIENTS, DOCUMENTS, EXTF, DXSO))
    assert len(validator.covered) == 20


def test_scope_errors_validate(flow: Flow, validator: Validator) -> None:
    token = flow.login(scopes=("openid",))["access_token"]
    for path in (
        f"{CLIENTS}/clients",
        f"{DOCUMENTS}/clients/29098-55003/document-types",
        f"{EXTF}/clients/29098-55003/extf-files/jobs",
    ):
        assert validator.check(flow.api("GET", path, token)).status_code == 403

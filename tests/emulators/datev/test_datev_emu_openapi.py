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
import re
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest
import requests
from datev_emu_helpers import CLIENTS, DOCUMENTS, DXSO, EXTF, Flow
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from datev_emulator.server import RunningEmulator

SPECS = {
    CLIENTS: "accounting-clients-2.0.json",
    DOCUMENTS: "accounting_documents-2.1.12.json",
    EXTF: "accounting_extf-files-3.0.1.json",
    DXSO: "accounting_dxso-jobs-2.1.7.json",
}
EXTF_BODY = (
    '"EXTF";700;21;"Buchungsstapel";13;20250203101500000;;"RE";"";"";29098;55003;20250101;4;20250101;20250131;'
    '"Januar";"WD";1;0;0;"EUR";;"";;;"03";;;"";""\r\nUmsatz;S/H\r\n100,00;"S"\r\n'
).encode("cp1252")
DOCUMENT_XML = b'<?xml version="1.0"?><archive xmlns="http://xml.datev.de/bedi/tps/document/v06.0"/>'
LEDGER_XML = b'<?xml version="1.0"?><LedgerImport xmlns="http://xml.datev.de/bedi/tps/ledger/v060"/>'


def _is_guid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# DATEV's documents API uses the non-standard `format: guid`; openapi-core does not know merge-patch+json.
GUID_FORMAT = Config(
    extra_format_validators={"guid": _is_guid},
    extra_format_unmarshallers={"guid": str},
    extra_media_type_deserializers={"application/merge-patch+json": json.loads},
)


class Validator:
    def __init__(self, shared: Path, emulator: RunningEmulator) -> None:
        self.apis: dict[str, OpenAPI] = {}
        self.documents: dict[str, dict[str, Any]] = {}
        for prefix, name in SPECS.items():
            document = json.loads((shared / "datev-openapi" / name).read_text("utf-8"))
            document["servers"] = [{"url": f"{emulator.url}{prefix}"}]
            self.apis[prefix] = OpenAPI.from_dict(document, config=GUID_FORMAT)
            self.documents[prefix] = document
        self.covered: set[tuple[str, str, str]] = set()

    def check(self, response: requests.Response, request_errors: tuple[str, ...] = ()) -> requests.Response:
        prefix = next(p for p in SPECS if response.request.path_url.startswith(p))
        api = self.apis[prefix]
        request = RequestsOpenAPIRequest(response.request)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openapi-core cannot check the oauth2 scheme ("unsupported")
            request_result = api.unmarshal_request(request)
            response_result = api.unmarshal_response(request, RequestsOpenAPIResponse(response))
        found = [str(cause) for error in request_result.errors for cause in _causes(error)]
        assert found == list(request_errors), (response.request.method, response.request.path_url, found)
        assert response_result.errors == [], (
            response.request.method,
            response.request.path_url,
            [str(c) for e in response_result.errors for c in _causes(e)],
        )
        self.covered.add((prefix, str(response.request.method).lower(), self._template(prefix, response)))
        return response

    def _template(self, prefix: str, response: requests.Response) -> str:
        path = response.request.path_url.split("?")[0][len(prefix) :]
        for template in self.documents[prefix]["paths"]:
            pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path) and not (
                template.endswith("{document-id}") and path.endswith("/stapled")
            ):
                return str(template)
        raise AssertionError(f"no operation for {path}")

    def all_operations(self) -> set[tuple[str, str, str]]:
        return {
            (prefix, method, template)
            for prefix, document in self.documents.items()
            for template, item in document["paths"].items()
            for method in item
            if method in ("get", "post", "put", "delete")
        }


def _causes(error: Exception) -> list[object]:
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        return [e.message for e in schema_errors]
    return [cause if cause is not None else error]


@pytest.fixture
def validator(shared_dir: Path, emulator: RunningEmulator) -> Validator:
    return Validator(shared_dir, emulator)


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
        request_errors=("'2025-05' is not a 'date'",),
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

    # Every operation of the four documents was called and validated.
    assert validator.covered == validator.all_operations()
    assert len(validator.covered) == 20


def test_scope_errors_validate(flow: Flow, validator: Validator) -> None:
    token = flow.login(scopes=("openid",))["access_token"]
    for path in (
        f"{CLIENTS}/clients",
        f"{DOCUMENTS}/clients/29098-55003/document-types",
        f"{EXTF}/clients/29098-55003/extf-files/jobs",
    ):
        assert validator.check(flow.api("GET", path, token)).status_code == 403

"""DATEV emulator APIs: paging, filters, scopes, services, EXTF jobs, document uploads, DXSO jobs, faults."""

from __future__ import annotations

import json
import socket
import unicodedata
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from datev_emu_helpers import CLIENTS, DOCUMENTS, DXSO, EXTF, Flow

from datev_emulator.server import RunningEmulator

EXTF_HEADER = (
    '"EXTF";700;21;"Buchungsstapel";13;20250203101500000;;"RE";"";"";{consultant};{client};20250101;4;'
    '20250101;20250131;"Januar 2025";"WD";1;0;0;"EUR";;"";;;"03";;;"";""'
)
COLUMNS = "Umsatz (ohne Soll/Haben-Kz);Soll/Haben-Kennzeichen;WKZ Umsatz;Kurs;Basis-Umsatz"


def extf_file(
    consultant: int = 29098, client: int = 55003, lines: int = 2, header: str | None = None
) -> bytes:
    head = header if header is not None else EXTF_HEADER.format(consultant=consultant, client=client)
    rows = [f'{100 + i},00;"S";"EUR";;' for i in range(lines)]
    return "\r\n".join([head, COLUMNS, *rows, ""]).encode("cp1252")


def upload_extf(
    flow: Flow, token: str, data: bytes, client_id: str = "29098-55003", **headers: str
) -> requests.Response:
    return flow.api(
        "POST",
        f"{EXTF}/clients/{client_id}/extf-files/import",
        token,
        data=data,
        headers={
            "Filename": "EXTF_Buchungsstapel_2025_01.csv",
            "Content-Type": "application/octet-stream",
            **headers,
        },
    )


def job_after(
    flow: Flow, emulator: RunningEmulator, token: str, response: requests.Response
) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    emulator.control.advance(5)
    job: dict[str, Any] = flow.api("GET", EXTF + response.headers["Location"], token).json()
    return job


# -- accounting-clients ----------------------------------------------------------------------------------
@pytest.mark.usefixtures("filler_clients")
def test_clients_paging_headers(flow: Flow, tokens: dict[str, Any]) -> None:
    first = flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"])
    assert first.status_code == 200
    assert len(first.json()) == 100
    assert first.headers["Total-Items"] == "253"
    assert first.headers["Link"] == '<?skip=100&top=100>;rel="next"'
    assert first.json()[0]["id"] == "29098-55003"
    last = flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"], params={"skip": 200, "top": 100})
    assert len(last.json()) == 53
    assert last.headers["Link"] == '<?skip=100&top=100>;rel="prev"'
    middle = flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"], params={"skip": 10, "top": 500})
    assert len(middle.json()) == 100  # top > 100 → 100
    assert middle.headers["Link"] == '<?skip=0&top=100>;rel="prev", <?skip=110&top=100>;rel="next"'
    seen: list[str] = []
    link: str | None = "<?skip=0&top=100>"
    while link:
        query = link.split(">")[0].lstrip("<?")
        page = flow.api("GET", f"{CLIENTS}/clients?{query}", tokens["access_token"])
        seen += [c["id"] for c in page.json()]
        nexts = [part for part in page.headers.get("Link", "").split(", ") if part.endswith('rel="next"')]
        link = nexts[0] if nexts else None
    assert len(seen) == len(set(seen)) == 253


@pytest.mark.parametrize("params", [{"top": 0}, {"top": "abc"}, {"skip": -1}, {"skip": "1.5"}])
def test_clients_invalid_paging(flow: Flow, tokens: dict[str, Any], params: dict[str, Any]) -> None:
    response = flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"], params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "http://www.datev.de/hilfe/1008828"
    assert body["status"] == 400
    assert body["request_id"]


@pytest.mark.usefixtures("filler_clients")  # clients the filter has to leave out
def test_clients_filter(flow: Flow, tokens: dict[str, Any]) -> None:
    group = flow.api(
        "GET", f"{CLIENTS}/clients", tokens["access_token"], params={"filter": "consultant_number eq 29098"}
    )
    assert [c["name"] for c in group.json()] == [
        "Lindner Maschinenbau GmbH",
        "Lindner Antriebstechnik GmbH",
        "Lindner Service GmbH",
    ]
    assert group.headers["Total-Items"] == "3"
    one = flow.api(
        "GET",
        f"{CLIENTS}/clients",
        tokens["access_token"],
        params={"filter": "consultant_number eq 29098 and client_number eq 55005"},
    ).json()
    assert [c["id"] for c in one] == ["29098-55005"]
    assert {s["name"] for s in one[0]["services"]} == {"Belegbilderservice", "Buchungsdatenservice"}


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        ("consultant_number gt 1", 'only supports the operator "eq"'),
        ("name eq 1", "name - is not supported"),
        ("client_number eq 0", "from 1 to 9999999999"),
        ("client_number eq 1 or client_number eq 2", 'Supported logical operator "and"'),
        ("client_number", "Filter syntax is invalid"),
    ],
)
def test_clients_invalid_filter(flow: Flow, tokens: dict[str, Any], expression: str, detail: str) -> None:
    response = flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"], params={"filter": expression})
    assert response.status_code == 400
    assert response.json()["type"] == "http://www.datev.de/hilfe/1008828"
    assert detail in response.json()["detail"]


def test_add_clients_through_control(flow: Flow, tokens: dict[str, Any]) -> None:
    response = requests.post(
        f"{flow.url}/_emulator/clients", json={"count": 7, "consultant_number": 4711}, timeout=10
    )
    assert response.status_code == 201
    assert len(response.json()["added"]) == 7
    listing = flow.api(
        "GET", f"{CLIENTS}/clients", tokens["access_token"], params={"filter": "consultant_number eq 4711"}
    )
    assert listing.headers["Total-Items"] == "7"


def test_get_client_and_unknown_client(flow: Flow, tokens: dict[str, Any]) -> None:
    client = flow.api("GET", f"{CLIENTS}/clients/29098-55004", tokens["access_token"]).json()
    assert client["name"] == "Lindner Antriebstechnik GmbH"
    assert flow.api("GET", f"{CLIENTS}/clients/29098-99999", tokens["access_token"]).status_code == 404


def test_missing_scope_gives_datev_error_bodies(flow: Flow) -> None:
    token = flow.login(scopes=("openid", "accounting:clients:read"))["access_token"]
    clients = flow.api("GET", f"{CLIENTS}/clients", token)
    assert clients.status_code == 403
    body = clients.json()
    assert body["type"] == "http://www.datev.de/hilfe/1008829"
    assert body["title"] == "Missing required scope"
    assert body["detail"] == "Missing scope(s) are: datev:accounting:clients"
    types = flow.api("GET", f"{DOCUMENTS}/clients/29098-55003/document-types", token)
    assert types.status_code == 403
    assert types.json()["error"] == "#DCO01005"
    assert types.json()["error_description"] == "restapi.ScopeFault"
    extf = upload_extf(flow, token, extf_file())
    assert extf.status_code == 403
    assert extf.json()["detail"] == "Missing scope(s) are: datev:accounting:extf-files-import"
    # The scope it has works.
    assert flow.api("GET", f"{DOCUMENTS}/clients/29098-55003", token).status_code == 200


def test_client_without_the_data_service_is_refused(flow: Flow, tokens: dict[str, Any]) -> None:
    response = flow.api("POST", f"{DXSO}/clients/29098-55005/dxso-jobs", tokens["access_token"], json={})
    assert response.status_code == 403
    assert "Rechnungsdatenservice 1.0" in response.json()["error_description"]
    assert (
        flow.api("POST", f"{DXSO}/clients/29098-55003/dxso-jobs", tokens["access_token"], json={}).status_code
        == 201
    )


# -- accounting-documents --------------------------------------------------------------------------------
def test_client_basics_fiscal_years(flow: Flow, tokens: dict[str, Any]) -> None:
    july = flow.api("GET", f"{DOCUMENTS}/clients/29098-55004", tokens["access_token"]).json()
    starts = [(y["fiscal_year_start"], y["fiscal_year_end"]) for y in july["basic_accounting_information"]]
    assert ("2025-07-01", "2026-06-30") in starts
    calendar = flow.api("GET", f"{DOCUMENTS}/clients/29098-55003", tokens["access_token"]).json()
    assert [y["fiscal_year_start"] for y in calendar["basic_accounting_information"]] == [
        "2024-01-01",
        "2025-01-01",
        "2026-01-01",
    ]
    types = flow.api("GET", f"{DOCUMENTS}/clients/29098-55005/document-types", tokens["access_token"]).json()
    names = [t["name"] for t in types]
    assert names[:4] == ["Rechnungseingang", "Rechnungsausgang", "Kasse", "Sonstige"]
    assert all(unicodedata.is_normalized("NFC", n) for n in names)
    assert any("ü" in n or "ä" in n for n in names)


def test_document_upload_put_conflict_and_storage(
    flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator, tmp_path: Path
) -> None:
    pdf = b"%PDF-1.4\n% Rechnung\n"
    doc_id = str(uuid.uuid4())
    path = f"{DOCUMENTS}/clients/29098-55003/documents/{doc_id}"
    meta = json.dumps({"document_type": "Rechnungseingang", "note": "Lieferung März"})
    first = flow.api(
        "PUT",
        path,
        tokens["access_token"],
        files={"file": ("Rechnung Müller 4711.pdf", pdf, "application/pdf"), "metadata": (None, meta)},
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["id"] == doc_id
    assert body["document_type"] == "Rechnungseingang"
    assert body["note"] == "Lieferung März"
    assert body["files"][0]["name"] == "Rechnung Müller 4711.pdf"
    assert body["files"][0]["size"] == len(pdf)
    assert body["files"][0]["upload_date"][-6] in "+-"
    stored = list((tmp_path / "datev" / "files" / "documents" / "29098-55003").rglob("*"))
    assert pdf in [p.read_bytes() for p in stored if p.is_file()]
    again = flow.api("PUT", path, tokens["access_token"], files={"file": ("b.pdf", pdf, "application/pdf")})
    assert again.status_code == 409
    assert again.json()["error"] == "#DCO01012"


@pytest.mark.parametrize(
    ("filename", "content", "metadata", "code"),
    [
        (unicodedata.normalize("NFD", "Rechnung Müller.pdf"), b"%PDF-1.4", None, "#DCO01001"),
        ("belege.zip", b"PK\x03\x04", None, "#DCO01015"),
        ("scan.pdf", b"\x89PNG\r\n\x1a\n", None, "#DCO01219"),
        ("scan.pdf", b"%PDF-1.4", {"document_type": "Gibt es nicht"}, "#DCO01010"),
        ("scan.pdf", b"%PDF-1.4", {"note": "x" * 256}, "#DCO01223"),
        ("scan.pdf", b"%PDF-1.4", {"category": "A"}, "#DCO01217"),
    ],
)
def test_document_upload_rejections(
    flow: Flow,
    tokens: dict[str, Any],
    *,
    filename: str,
    content: bytes,
    metadata: dict[str, str] | None,
    code: str,
) -> None:
    files: dict[str, Any] = {"file": (filename, content)}
    if metadata is not None:
        files["metadata"] = (None, json.dumps(metadata))
    response = flow.api(
        "POST", f"{DOCUMENTS}/clients/29098-55003/documents", tokens["access_token"], files=files
    )
    assert response.status_code == 400
    assert response.json()["error"] == code
    assert response.json()["error_uri"].endswith(code[1:])


def test_document_over_20_mb_is_rejected(flow: Flow, tokens: dict[str, Any]) -> None:
    big = b"%PDF-1.4\n" + b"0" * (20 * 1024 * 1024)
    response = flow.api(
        "POST",
        f"{DOCUMENTS}/clients/29098-55003/documents",
        tokens["access_token"],
        files={"file": ("big.pdf", big)},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "#DCO01016"


def test_put_document_needs_a_guid(flow: Flow, tokens: dict[str, Any]) -> None:
    response = flow.api(
        "PUT",
        f"{DOCUMENTS}/clients/29098-55003/documents/not-a-guid",
        tokens["access_token"],
        files={"file": ("a.pdf", b"%PDF-1.4")},
    )
    assert response.json()["error"] == "#DCO01234"


# -- accounting-extf-files -------------------------------------------------------------------------------
def test_extf_job_lifecycle(flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator) -> None:
    token = tokens["access_token"]
    response = upload_extf(
        flow, token, extf_file(lines=3), **{"Reference-Id": "Buchungsstapel_Verkäufe_2025_01"}
    )
    assert response.status_code == 202
    assert response.headers["Retry-After"] == "5"
    location = response.headers["Location"]
    assert location.startswith("/clients/29098-55003/extf-files/jobs/")
    pending = flow.api("GET", EXTF + location, token).json()
    assert pending["result"] == "pending"
    assert pending["filename"] == "EXTF_Buchungsstapel_2025_01.csv"
    assert pending["reference_id"] == "Buchungsstapel_Verkäufe_2025_01"
    emulator.control.advance(4)
    assert flow.api("GET", EXTF + location, token).json()["result"] == "pending"
    emulator.control.advance(1)
    done = flow.api("GET", EXTF + location, token).json()
    assert done["result"] == "succeeded"
    assert done["number_of_accounting_records"] == 3
    assert done["data_category_id"] == 21
    assert (done["date_from"], done["date_to"], done["fiscal_year_begin"]) == (
        "2025-01-01",
        "2025-01-31",
        "2025-01-01",
    )
    assert done["label"] == "Januar 2025"
    assert "validation_details" not in done
    assert done["timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        (extf_file(consultant=29099), 1008834, "consultant-number in the EXTF-header does not match"),
        (extf_file(client=55004), 1008834, "client-number in the EXTF-header does not match"),
        (extf_file().replace(b'"EXTF"', b'"DTVF"', 1), 1008834, "must be EXTF (1)"),
        (
            extf_file().replace(b'"Buchungsstapel";13', b'"Buchungsstapel";9', 1),
            1008834,
            "Invalid combination",
        ),
        (extf_file().replace(b";20250101;20250131;", b";20250201;20250131;", 1), 1008834, "DateFrom"),
        (extf_file(lines=0), 1008833, "No payload"),
        (b"\xef\xbb\xbf" + extf_file()[:20] + b"\xff\xfe", 1008833, "Windows-1252"),
        (extf_file(header='"EXTF";700;21'), 1008834, "Missing columns"),
    ],
)
def test_extf_header_problems_fail_the_job(
    flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator, *, data: bytes, code: int, text: str
) -> None:
    job = job_after(flow, emulator, tokens["access_token"], upload_extf(flow, tokens["access_token"], data))
    assert job["result"] == "failed"
    details = job["validation_details"]
    assert details["type"] == f"http://www.datev.de/hilfe/{code}"
    assert text in json.dumps(details, ensure_ascii=False)


def test_extf_utf16_with_bom_is_read(flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator) -> None:
    text = extf_file().decode("cp1252").replace("Januar 2025", "Jänner 2025")
    job = job_after(
        flow,
        emulator,
        tokens["access_token"],
        upload_extf(flow, tokens["access_token"], b"\xff\xfe" + text.encode("utf-16-le")),
    )
    assert job["result"] == "succeeded"
    assert job["label"] == "Jänner 2025"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"Filename": "Buchungen.csv"}, 1008832),
        ({"Filename": "EXTF_x.txt"}, 1008832),
        ({"Reference-Id": "bad/ref"}, 1008832),
    ],
)
def test_extf_request_header_errors(
    flow: Flow, tokens: dict[str, Any], headers: dict[str, str], code: int
) -> None:
    response = upload_extf(flow, tokens["access_token"], extf_file(), **headers)
    assert response.status_code == 400
    assert response.json()["type"] == f"http://www.datev.de/hilfe/{code}"


def test_extf_empty_body_and_bad_client_path(flow: Flow, tokens: dict[str, Any]) -> None:
    empty = upload_extf(flow, tokens["access_token"], b"")
    assert empty.status_code == 400
    assert empty.json()["type"] == "http://www.datev.de/hilfe/1008831"
    bad = upload_extf(flow, tokens["access_token"], extf_file(), client_id="29098_55003")
    assert bad.status_code == 400
    assert bad.json()["type"] == "http://www.datev.de/hilfe/1008835"


def test_extf_jobs_list_is_paged(flow: Flow, tokens: dict[str, Any]) -> None:
    token = tokens["access_token"]
    for _ in range(3):
        assert upload_extf(flow, token, extf_file()).status_code == 202
    page = flow.api("GET", f"{EXTF}/clients/29098-55003/extf-files/jobs", token, params={"skip": 1, "top": 1})
    assert page.headers["Total-Items"] == "3"
    assert page.headers["Link"] == '<?skip=0&top=1>;rel="prev", <?skip=2&top=1>;rel="next"'
    assert len(page.json()) == 1
    other = flow.api("GET", f"{EXTF}/clients/29098-55004/extf-files/jobs", token)
    assert other.json() == []
    assert other.headers["Total-Items"] == "0"


def test_extf_shared_samples(
    flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator, shared_dir: Path
) -> None:
    samples = shared_dir / "extf-samples"
    good = (samples / "pff_EXTF_Buchungsstapel_v700_13.csv").read_bytes()
    job = job_after(flow, emulator, tokens["access_token"], upload_extf(flow, tokens["access_token"], good))
    assert job["result"] == "succeeded"
    assert job["number_of_accounting_records"] == 54
    labels = (samples / "pff_EXTF_Sachkontobeschriftungen_v700_20_3.csv").read_bytes()
    job = job_after(flow, emulator, tokens["access_token"], upload_extf(flow, tokens["access_token"], labels))
    assert job["result"] == "succeeded"
    assert job["data_category_id"] == 20
    old = (samples / "ledermann_EXTF_Buchungsstapel_v700_21_9.csv").read_bytes()
    job = job_after(flow, emulator, tokens["access_token"], upload_extf(flow, tokens["access_token"], old))
    assert job["result"] == "failed"  # format version 9 < 12 (and consultant 1001 ≠ 29098)


# -- accounting-dxso-jobs --------------------------------------------------------------------------------
DOCUMENT_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><archive xmlns="http://xml.datev.de/bedi/tps/document/v06.0" '
    b'version="6.0"><header><date>2025-05-31</date></header><content><document>'
    b'<extension datafile="AP-1.xml"/></document></content></archive>'
)
LEDGER_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><LedgerImport xmlns="http://xml.datev.de/bedi/tps/ledger/v060" '
    b'version="6.0"><consolidate consolidatedAmount="119.00"><accountsPayableLedger><date>2025-05-03</date>'
    b"<amount>119.00</amount></accountsPayableLedger></consolidate></LedgerImport>"
)


def dxso_job(flow: Flow, token: str, files: list[tuple[str, bytes]]) -> str:
    created = flow.api(
        "POST",
        f"{DXSO}/clients/29098-55003/dxso-jobs",
        token,
        json={"import_type": "accountsPayableLedgerImport", "accounting_month": "2025-05"},
    )
    assert created.status_code == 201, created.text
    job_id: str = created.json()["id"]
    for name, data in files:
        part = flow.api(
            "POST",
            f"{DXSO}/clients/29098-55003/dxso-jobs/{job_id}/files",
            token,
            files={"files": (name, data, "text/xml")},
        )
        assert part.status_code == 201, part.text
    return job_id


def finalize(flow: Flow, token: str, job_id: str) -> requests.Response:
    return flow.api(
        "PUT",
        f"{DXSO}/clients/29098-55003/dxso-jobs/{job_id}",
        token,
        data=json.dumps({"ready": True}),
        headers={"Content-Type": "application/merge-patch+json"},
    )


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ([("document.xml", DOCUMENT_XML), ("AP-1.xml", LEDGER_XML)], 2),
        ([("document.xml", DOCUMENT_XML), ("AP-1.xml", LEDGER_XML[:-10])], 3),
        ([("document.xml", DOCUMENT_XML)], 4),
    ],
)
def test_dxso_job_lifecycle(
    flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator, files: list[tuple[str, bytes]], status: int
) -> None:
    token = tokens["access_token"]
    job_id = dxso_job(flow, token, files)
    job_path = f"{DXSO}/clients/29098-55003/dxso-jobs/{job_id}"
    assert flow.api("GET", job_path, token).json() == {"id": job_id, "status": 0}
    assert finalize(flow, token, job_id).status_code == 204
    assert flow.api("GET", job_path, token).json()["status"] == 1
    assert finalize(flow, token, job_id).json()["error"] == "#DCO01007"
    emulator.control.advance(5)
    assert flow.api("GET", job_path, token).json()["status"] == status
    protocol = flow.api("GET", f"{job_path}/protocol-entries", token).json()
    assert [e["filename"] for e in protocol[: len(files)]] == [name for name, _ in files]
    assert {e["type"] for e in protocol} >= ({"information"} if status == 2 else {"error"})


def test_dxso_cancel(flow: Flow, tokens: dict[str, Any]) -> None:
    token = tokens["access_token"]
    job_id = dxso_job(flow, token, [("document.xml", DOCUMENT_XML)])
    job_path = f"{DXSO}/clients/29098-55003/dxso-jobs/{job_id}"
    assert flow.api("DELETE", job_path, token).status_code == 204
    assert flow.api("GET", job_path, token).json()["status"] == 5
    assert flow.api("GET", f"{job_path}/protocol-entries", token).status_code == 404


def test_dxso_create_validation(flow: Flow, tokens: dict[str, Any]) -> None:
    path = f"{DXSO}/clients/29098-55003/dxso-jobs"
    half = flow.api("POST", path, tokens["access_token"], json={"import_type": "cashLedgerImport"})
    assert half.json()["error"] == "#DCO01017"
    wrong = flow.api(
        "POST", path, tokens["access_token"], json={"import_type": "x", "accounting_month": "2025-05"}
    )
    assert wrong.json()["error"] == "#DCO01008"
    no_year = flow.api(
        "POST",
        path,
        tokens["access_token"],
        json={"import_type": "cashLedgerImport", "accounting_month": "2019-01"},
    )
    assert no_year.json()["error"] == "#DCO01002"
    cash = flow.api(
        "POST",
        path,
        tokens["access_token"],
        json={"import_type": "cashLedgerImport", "accounting_month": "2025-05"},
    )
    assert cash.json()["cash_ledger_names"] == ["Kasse"]


# -- faults ----------------------------------------------------------------------------------------------
def test_429_then_503_with_retry_after(flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator) -> None:
    emulator.control.arm_fault(status=429, retry_after=7, path_prefix=CLIENTS)
    response = flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"])
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["status"] == 429
    assert flow.api("GET", f"{CLIENTS}/clients", tokens["access_token"]).status_code == 200
    requests.post(
        f"{flow.url}/_emulator/faults",
        json={"kind": "status", "status": 503, "count": 2, "retry_after": 2, "path_prefix": DOCUMENTS},
        timeout=10,
    ).raise_for_status()
    for _ in range(2):
        unavailable = flow.api("GET", f"{DOCUMENTS}/clients", tokens["access_token"])
        assert unavailable.status_code == 503
        assert unavailable.headers["Retry-After"] == "2"
        assert unavailable.json()["error"] == "#DCO01020"
    assert flow.api("GET", f"{DOCUMENTS}/clients", tokens["access_token"]).status_code == 200


def test_500_fault_on_token_endpoint(flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator) -> None:
    emulator.control.arm_fault(status=500, method="POST", path_prefix="/token")
    failed = flow.refresh(tokens["refresh_token"])
    assert failed.status_code == 500
    assert failed.json()["error"] == "server_error"
    # The refresh token was not consumed by the faulted call.
    assert flow.refresh(tokens["refresh_token"]).status_code == 200


def test_drop_after_work_is_done(flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator) -> None:
    emulator.control.arm_fault(kind="drop", method="POST", path_prefix=f"{EXTF}/")
    with pytest.raises(requests.ConnectionError):
        upload_extf(flow, tokens["access_token"], extf_file())
    jobs = flow.api("GET", f"{EXTF}/clients/29098-55003/extf-files/jobs", tokens["access_token"])
    assert jobs.headers["Total-Items"] == "1"  # the import happened although no answer came back


def test_dropped_refresh_still_rotates(flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator) -> None:
    emulator.control.arm_fault(kind="drop", path_prefix="/token")
    with pytest.raises(requests.ConnectionError):
        flow.refresh(tokens["refresh_token"])
    # The server did rotate: the old refresh token is spent, and reusing it ends the session.
    assert flow.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_extf_more_than_99999_postings_fails(
    flow: Flow, tokens: dict[str, Any], emulator: RunningEmulator
) -> None:
    job = job_after(
        flow,
        emulator,
        tokens["access_token"],
        upload_extf(flow, tokens["access_token"], extf_file(lines=100_000)),
    )
    assert job["result"] == "failed"
    assert job["validation_details"]["detail"] == "More than 99999 postings"


def test_extf_over_50_mb_is_refused_before_reading(flow: Flow, tokens: dict[str, Any]) -> None:
    host, port = flow.url.removeprefix("http://").split(":")
    request = (
        f"POST {EXTF}/clients/29098-55003/extf-files/import HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {tokens['access_token']}\r\nX-DATEV-Client-Id: ml-connector-demo\r\n"
        "Filename: EXTF_big.csv\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {50 * 1024 * 1024 + 1}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["type"] == "http://www.datev.de/hilfe/1008833"

"""submit dxso and submit document against the emulator, and the streams built from them."""

from __future__ import annotations

import typing as t
import unicodedata
import uuid

import pytest
from click.testing import CliRunner

from tap_datev.booking_streams import parse_batch_lines
from tap_datev.documents_rules import MAX_DOCUMENT_BYTES
from tap_datev.dxso import read_ledger_xml
from tap_datev.ledger import PENDING, SUCCEEDED, UNCLEAR, Ledger
from tap_datev.submit import SubmitRefused, submit, submit_document, submit_dxso

from .conftest import run_tap
from .factory import CLIENT_ID, DOCUMENT_XML, LEDGER_XML

if t.TYPE_CHECKING:
    from pathlib import Path

    from tap_datev.client import DatevClient

    from .conftest import RequestLog

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PACKAGE = [("document.xml", DOCUMENT_XML), ("Rechnung_4711.xml", LEDGER_XML)]


def test_dxso_lifecycle_with_protocol(
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    datev_emulator: t.Any,
    request_log: RequestLog,
) -> None:
    row = submit_dxso(
        datev, ledger, CLIENT_ID, import_type="accountsPayableLedgerImport", month="2026-03", files=PACKAGE
    )
    assert row.status == PENDING and row.job_id and row.uploaded_at
    assert [(f.file_name, f.role, f.status) for f in ledger.files(row.batch_id)] == [
        ("document.xml", "index", "uploaded"),
        ("Rechnung_4711.xml", "ledger", "uploaded"),
    ]
    assert request_log.count("POST", "/dxso-jobs") == 3  # create + one request per file
    assert request_log.count("PUT", f"/dxso-jobs/{row.job_id}") == 1
    ledger.close()

    datev_emulator.control.advance(60)
    first = run_tap(booking_config, streams=["booking_batches", "booking_lines"])
    (batch,) = first.records("booking_batches")
    assert batch["kind"] == "dxso" and batch["dxso_status"] == 2 and batch["status"] == SUCCEEDED
    assert batch["import_type"] == "accountsPayableLedgerImport" and batch["accounting_month"] == "2026-03"
    texts = [e["text"] for e in batch["protocol_entries"]]
    assert "Rechnungsinformation wurde übergeben" in texts
    lines = sorted(first.records("booking_lines"), key=lambda r: r["line_number"])
    assert [(r["konto"], r["gegenkonto"], r["account_amount"], r["job_result"]) for r in lines] == [
        (4930, 70001, "-119.00", "succeeded"),
        (4930, 70001, "-119.00", "succeeded"),
    ]
    assert {r["account_label"] for r in lines} == {"Bürobedarf"}
    assert len({r["line_number"] for r in lines}) == 2
    assert first.assert_records_match_schemas() == 3

    second = run_tap(booking_config, first.state, streams=["booking_batches", "booking_lines"])
    assert second.records("booking_batches") == [] and second.records("booking_lines") == []
    assert request_log.count("GET", f"/dxso-jobs/{row.job_id}") == 2  # status + protocol, once


def test_dxso_refusals(datev: DatevClient, ledger: Ledger, request_log: RequestLog) -> None:
    with pytest.raises(SubmitRefused, match=r"document\.xml"):
        submit_dxso(
            datev, ledger, CLIENT_ID, import_type="cashLedgerImport", month="2026-03", files=PACKAGE[1:]
        )
    with pytest.raises(SubmitRefused, match="YYYY-MM"):
        submit_dxso(datev, ledger, CLIENT_ID, import_type="cashLedgerImport", month="03/2026", files=PACKAGE)
    broken = [PACKAGE[0], ("Rechnung_1.xml", LEDGER_XML.replace(b"</LedgerImport>", b""))]
    with pytest.raises(SubmitRefused, match=r"Rechnung_1\.xml line"):
        submit_dxso(datev, ledger, CLIENT_ID, import_type="cashLedgerImport", month="2026-03", files=broken)
    assert ledger.all() == []
    assert request_log.calls == []


def test_document_upload_nfc_and_409(
    booking_config: dict[str, t.Any], datev: DatevClient, ledger: Ledger, request_log: RequestLog
) -> None:
    decomposed = unicodedata.normalize("NFD", "Beleg Müller.pdf")
    row = submit_document(datev, ledger, CLIENT_ID, decomposed, PDF, document_type="Bürobedarf", note="März")
    assert row.status == SUCCEEDED and row.result == "created"
    assert row.file_name == "Beleg Müller.pdf" and unicodedata.is_normalized("NFC", row.file_name)
    assert uuid.UUID(row.batch_id)
    assert row.answer["files"][0]["name"] == "Beleg Müller.pdf"
    assert request_log.count("PUT", f"/documents/{row.batch_id}") == 1

    ledger.close()

    run = run_tap(booking_config, streams=["documents"])
    (doc,) = run.records("documents")
    assert doc["guid"] == row.batch_id and doc["file_name"] == "Beleg Müller.pdf"
    assert doc["document_type"] == "Bürobedarf" and doc["size"] == len(PDF)
    assert doc["upload_date"] == row.uploaded_at and doc["status"] == "succeeded"
    assert run.assert_records_match_schemas() == 1
    assert doc["datev_upload_date"] == row.answer["files"][0]["upload_date"]
    assert run_tap(booking_config, run.state, streams=["documents"]).records("documents") == []


def test_document_409_means_already_there(
    datev: DatevClient, ledger: Ledger, datev_emulator: t.Any, request_log: RequestLog
) -> None:
    # The first PUT is stored, then the connection drops: the resend meets 409 = success.
    datev_emulator.control.arm_fault(kind="drop", method="PUT", path_prefix="/accounting-documents/")
    row = submit_document(datev, ledger, CLIENT_ID, "Quittung.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    assert row.status == SUCCEEDED and row.result == "already_present"
    assert request_log.count("PUT", f"/documents/{row.batch_id}") == 2


def test_document_same_file_twice_refused_unless_forced(
    datev: DatevClient, ledger: Ledger, request_log: RequestLog
) -> None:
    first = submit_document(datev, ledger, CLIENT_ID, "Rechnung 4711.pdf", PDF)
    with pytest.raises(SubmitRefused, match="already submitted") as refused:
        submit_document(datev, ledger, CLIENT_ID, "Rechnung 4711 Kopie.pdf", PDF)
    assert first.batch_id in str(refused.value)
    assert request_log.count("PUT", "/documents/") == 1
    # Another client may receive the same file; --force sends it again on purpose.
    assert submit_document(datev, ledger, "29098-55004", "Rechnung 4711.pdf", PDF).status == SUCCEEDED
    forced = submit_document(datev, ledger, CLIENT_ID, "Rechnung 4711.pdf", PDF, force=True)
    assert forced.status == SUCCEEDED and forced.batch_id != first.batch_id
    assert request_log.count("PUT", "/documents/") == 3


@pytest.mark.parametrize(
    ("name", "size", "kwargs", "expected"),
    [
        ("Beleg#1.pdf", 10, {}, "U\\+0023"),
        ("Beleg.docx", 10, {}, "allowed types"),
        ("Beleg.pdf", MAX_DOCUMENT_BYTES + 1, {}, "20 MB"),
        ("Beleg.pdf", 10, {"document_type": "Gibt es nicht"}, "Rechnungseingang"),
    ],
)
def test_document_refusals(  # noqa: PLR0917 (fixtures)
    datev: DatevClient,
    ledger: Ledger,
    request_log: RequestLog,
    name: str,
    size: int,
    kwargs: dict[str, str],
    expected: str,
) -> None:
    with pytest.raises(SubmitRefused, match=expected):
        submit_document(datev, ledger, CLIENT_ID, name, b"x" * size, **kwargs)
    assert ledger.all() == []
    assert request_log.count("PUT", "/documents/") == 0


def test_client_without_the_service_is_refused(
    datev: DatevClient, ledger: Ledger, request_log: RequestLog
) -> None:
    # The demo client 29098-55005 has no Rechnungsdatenservice 1.0 (DXSO).
    with pytest.raises(SubmitRefused, match="accounting:dxso-jobs") as exc:
        submit_dxso(
            datev, ledger, "29098-55005", import_type="cashLedgerImport", month="2026-03", files=PACKAGE
        )
    assert "Belegbilderservice" in str(exc.value)
    with pytest.raises(SubmitRefused, match="29098-77777"):
        submit_document(datev, ledger, "29098-77777", "Beleg.pdf", PDF)
    assert ledger.all() == []
    assert {method for method, _ in request_log.calls} == {"GET"}


def test_cli_document_and_dxso(booking_config: dict[str, t.Any], config_file: Path, tmp_path: Path) -> None:
    folder = tmp_path / "package"
    folder.mkdir()
    for name, data in PACKAGE:
        (folder / name).write_bytes(data)
    (folder / "Beleg März.pdf").write_bytes(PDF)
    runner = CliRunner()
    dxso = runner.invoke(
        submit,
        [
            "dxso",
            "--config",
            str(config_file),
            "--client",
            CLIENT_ID,
            "--import-type",
            "accountsPayableLedgerImport",
            "--month",
            "2026-03",
            str(folder / "document.xml"),
            str(folder / "Rechnung_4711.xml"),
        ],
    )
    assert dxso.exit_code == 0, dxso.output
    document = runner.invoke(
        submit,
        [
            "document",
            "--config",
            str(config_file),
            "--client",
            CLIENT_ID,
            "--type",
            "Rechnungseingang",
            str(folder / "Beleg März.pdf"),
        ],
    )
    assert document.exit_code == 0, document.output
    args = ["document", "--config", str(config_file), "--client", CLIENT_ID, "--note", "x" * 256]
    refused = runner.invoke(submit, [*args, str(folder / "Beleg März.pdf")])
    assert refused.exit_code == 1 and "at most 255" in refused.output
    with Ledger.open(booking_config["state_dir"]) as ledger:
        kinds = sorted((row.kind, row.status) for row in ledger.all())
    assert kinds == [("document", SUCCEEDED), ("dxso", PENDING)]


DXSO_JOBS = f"/accounting-dxso-jobs/platform/v2/clients/{CLIENT_ID}/dxso-jobs"


def test_dxso_ready_answer_lost_is_looked_up_not_failed(
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    datev_emulator: t.Any,
    request_log: RequestLog,
) -> None:
    # DATEV marks the job ready, then the connection drops: a second "ready" would be refused
    # (the job is no longer open), so the tap looks at the job instead of resending.
    datev_emulator.control.arm_fault(kind="drop", method="PUT", path_prefix=DXSO_JOBS)
    row = submit_dxso(
        datev, ledger, CLIENT_ID, import_type="accountsPayableLedgerImport", month="2026-03", files=PACKAGE
    )
    assert row.status == PENDING and row.dxso_status == 1 and row.error is None
    assert request_log.count("PUT", f"/dxso-jobs/{row.job_id}") == 1
    ledger.close()
    datev_emulator.control.advance(60)
    (batch,) = run_tap(booking_config, streams=["booking_batches"]).records("booking_batches")
    assert batch["status"] == SUCCEEDED


def test_unclear_dxso_jobs_are_polled(
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    datev_emulator: t.Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    done = submit_dxso(
        datev, ledger, CLIENT_ID, import_type="accountsPayableLedgerImport", month="2026-03", files=PACKAGE
    )
    ledger.update(done.batch_id, status=UNCLEAR, error="marking the job ready: no answer")
    # A job created at DATEV whose submit died before the ready mark: still open there.
    job = datev.request("POST", "dxso", f"/clients/{CLIENT_ID}/dxso-jobs", json={}).json()
    stuck = ledger.record(kind="dxso", client_id=CLIENT_ID, file_name="document.xml", sha256="0" * 64, size=1)
    ledger.update(stuck.batch_id, status=UNCLEAR, job_id=job["id"], error="uploading document.xml: no answer")
    ledger.close()

    datev_emulator.control.advance(60)
    with caplog.at_level("WARNING", logger="tap-datev.jobs"):
        run = run_tap(booking_config, streams=["booking_batches"])
    by_id = {r["batch_id"]: r for r in run.records("booking_batches")}
    assert by_id[done.batch_id]["status"] == SUCCEEDED and by_id[done.batch_id]["error"] is None
    assert f"DXSO job {job['id']}" in caplog.text and "still open" in caplog.text
    with Ledger.open(booking_config["state_dir"]) as again:
        assert again.require(stuck.batch_id).status == UNCLEAR


def test_dxso_lines_number_across_ledger_files_and_log_bad_values(ledger: Ledger) -> None:
    # Was: a DXSO value that could not be converted became null without a warning (EXTF warned).
    bad = LEDGER_XML.replace(b"<amount>-119.00</amount>", b"<amount>-1l9.00</amount>", 1)
    package = [
        ("document.xml", DOCUMENT_XML, "index"),
        ("a.xml", LEDGER_XML, "ledger"),
        ("b.xml", bad, "ledger"),
    ]
    kept = [(name, ledger.keep_file(data), len(data), role) for name, data, role in package]
    row = ledger.record(
        kind="dxso", client_id=CLIENT_ID, file_name="a.xml, b.xml", sha256="0" * 64, size=1, files=kept
    )
    warnings: list[str] = []
    lines = list(parse_batch_lines(ledger, row, {}, lambda fmt, *args: warnings.append(fmt % args)))

    in_file = [line.line_number for line in read_ledger_xml(LEDGER_XML)]
    offset = LEDGER_XML.count(b"\n") + 1  # b.xml numbers on after a.xml
    assert [r["line_number"] for r in lines] == in_file + [offset + n for n in in_file]
    assert lines[2]["umsatz"] is None and lines[3]["umsatz"] == "119.00"
    assert warnings and all(w.startswith(f"b.xml line {in_file[0]}, field 'amount'") for w in warnings)

"""submit extf: the checks DATEV makes, made before sending (against the emulator), `--check`, and
the file's figures in booking_batches."""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import sqlite3
import typing as t
from pathlib import Path

import pytest
from click.testing import CliRunner

from tap_datev import extf, jobs
from tap_datev.ledger import FAILED, PENDING, Ledger
from tap_datev.streams import load_schema
from tap_datev.submit import SubmitRefused, submit, submit_dxso, submit_extf

from .conftest import run_tap
from .factory import CLIENT_ID, DOCUMENT_XML, LEDGER_XML, buchungsstapel

if t.TYPE_CHECKING:
    from tap_datev.client import DatevClient

    from .conftest import RequestLog

IMPORT = "/extf-files/import"
# The emulator's demo client 29098-55003 has the calendar fiscal years 2024, 2025 and 2026.
CLIENT_YEARS = (
    "20240101-20241231, Sachkontenlänge 4; 20250101-20251231, Sachkontenlänge 4; "
    "20260101-20261231, Sachkontenlänge 4"
)


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = jobs.utc_now
    monkeypatch.setattr(jobs, "utc_now", lambda: real() + dt.timedelta(seconds=seconds))


def _received(tmp_path: Path, job_id: str, client_id: str = CLIENT_ID) -> bytes:
    """The bytes the emulator's EXTF import received for a job."""
    return (tmp_path / "datev-emulator" / "files" / "extf" / client_id / f"{job_id}.csv").read_bytes()


def _nothing_recorded_or_sent(booking_config: dict[str, t.Any], request_log: RequestLog) -> None:
    assert request_log.count("POST", IMPORT) == 0
    state = Path(booking_config["state_dir"])
    if (state / "ledger.sqlite").exists():
        with Ledger.open(state) as ledger:
            assert ledger.all() == []
    assert not any((state / "files").glob("*"))


# -- fiscal year and account length ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        # Locally consistent (the dates lie in a fiscal year starting 1 February), but DATEV has no
        # such fiscal year for the client.
        (buchungsstapel(fiscal_year_start="20260201"), "WJ-Beginn", "20260201 is not the start"),
        (buchungsstapel(account_length=5), "Sachkontenlänge", "5 does not match the account length 4"),
    ],
)
def test_header_not_matching_the_client_s_fiscal_years_is_refused(  # noqa: PLR0917 (fixtures)
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    request_log: RequestLog,
    data: bytes,
    field: str,
    reason: str,
) -> None:
    with pytest.raises(SubmitRefused) as info:
        submit_extf(datev, ledger, "EXTF_Maerz_2026.csv", data)
    message = str(info.value)
    assert message.startswith(f"EXTF_Maerz_2026.csv line 1, field '{field}': {reason}")
    assert "client 29098-55003" in message and "--force" in message
    if field == "WJ-Beginn":
        assert CLIENT_YEARS in message
    assert request_log.count("GET", "/accounting-documents/platform/v2/clients/29098-55003") == 1
    ledger.close()
    _nothing_recorded_or_sent(booking_config, request_log)


def test_forced_fiscal_year_mismatch_fails_at_datev_with_its_validation_details(
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    datev_emulator: t.Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row = submit_extf(
        datev, ledger, "EXTF_Feb_WJ.csv", buchungsstapel(fiscal_year_start="20260201"), force=True
    )
    assert row.status == PENDING
    ledger.close()
    datev_emulator.control.advance(60)
    _later(monkeypatch, 30)
    (batch,) = run_tap(booking_config, streams=["booking_batches"]).records("booking_batches")
    assert batch["status"] == FAILED and batch["validation_code"] == "1008834"
    (element,) = batch["validation_details"]["affected_elements"]
    assert element["name"] == "FY Begin"
    assert "2026-02-01" in element["reason"] and element["reason"].endswith("(13)")


def test_account_length_mismatch_forced_fails_at_datev(
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    datev_emulator: t.Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    submit_extf(datev, ledger, "EXTF_length.csv", buchungsstapel(account_length=6), force=True)
    ledger.close()
    datev_emulator.control.advance(60)
    _later(monkeypatch, 30)
    (batch,) = run_tap(booking_config, streams=["booking_batches"]).records("booking_batches")
    assert batch["status"] == FAILED
    (element,) = batch["validation_details"]["affected_elements"]
    assert element["name"] == "Length of Ledger Account" and element["reason"].endswith("(14)")


# -- the same postings, spelled differently --------------------------------------------------------


RESPELLED = {
    "UTF-8 with BOM, LF": buchungsstapel(
        encoding="utf-8", bom=codecs.BOM_UTF8, newline="\n", created="20260402080000000"
    ),
    "UTF-16LE with BOM": buchungsstapel(encoding="utf-16-le", bom=codecs.BOM_UTF16_LE),
    "another label": buchungsstapel(label="Maerz 2026 (neu)"),
}


@pytest.mark.parametrize("spelling", sorted(RESPELLED))
def test_the_same_postings_re_encoded_are_refused_unless_forced(
    datev: DatevClient,
    ledger: Ledger,
    request_log: RequestLog,
    spelling: str,
) -> None:
    first = submit_extf(datev, ledger, "EXTF_Maerz_2026.csv", buchungsstapel())
    with pytest.raises(SubmitRefused) as info:
        submit_extf(datev, ledger, "EXTF_Maerz_2026_v2.csv", RESPELLED[spelling])
    message = str(info.value)
    assert message.startswith("EXTF_Maerz_2026_v2.csv: the same postings (posting digest")
    assert f"{first.batch_id} (EXTF_Maerz_2026.csv, pending)" in message and "--force" in message
    assert len(ledger.all()) == 1 and request_log.count("POST", IMPORT) == 1

    forced = submit_extf(datev, ledger, "EXTF_Maerz_2026_v2.csv", RESPELLED[spelling], force=True)
    assert forced.status == PENDING and forced.posting_digest == first.posting_digest
    assert request_log.count("POST", IMPORT) == 2


def test_other_postings_are_not_duplicates(datev: DatevClient, ledger: Ledger) -> None:
    first = submit_extf(datev, ledger, "EXTF_a.csv", buchungsstapel())
    second = submit_extf(datev, ledger, "EXTF_b.csv", buchungsstapel(client=55005))
    assert second.status == PENDING and second.posting_digest != first.posting_digest


# -- line ends --------------------------------------------------------------------------------------


def test_lf_file_is_sent_and_kept_with_crlf_and_one_warning(
    datev: DatevClient,
    ledger: Ledger,
    tmp_path: Path,
    datev_emulator: t.Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lf = buchungsstapel(newline="\n")
    crlf = buchungsstapel()
    with caplog.at_level(logging.WARNING, logger="tap-datev.submit"):
        row = submit_extf(datev, ledger, "EXTF_lf.csv", lf)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "EXTF_lf.csv: the file has LF line ends; DATEV requires CR LF, so the submitted copy has CR LF"
    ]
    assert ledger.kept_file(row.sha256) == crlf and row.size == len(crlf)
    assert row.job_id is not None and _received(tmp_path, row.job_id) == crlf
    assert row.posting_digest == extf.posting_digest(extf.check_for_submit(crlf, "EXTF_crlf.csv"))

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tap-datev.submit"):
        crlf_row = submit_extf(datev, ledger, "EXTF_crlf.csv", buchungsstapel(client=55005))
    assert caplog.records == []  # CR LF already: no warning
    assert crlf_row.job_id is not None
    assert _received(tmp_path, crlf_row.job_id, "29098-55005") == buchungsstapel(client=55005)


# -- submit extf --check ----------------------------------------------------------------------------


def _check(config_file: Path, path: Path, *extra: str) -> t.Any:
    return CliRunner().invoke(submit, ["extf", "--check", "--config", str(config_file), *extra, str(path)])


def test_check_runs_every_check_and_sends_nothing(
    booking_config: dict[str, t.Any],
    config_file: Path,
    tmp_path: Path,
    datev_emulator: t.Any,
    request_log: RequestLog,
) -> None:
    path = tmp_path / "EXTF_Maerz_2026.csv"
    path.write_bytes(buchungsstapel(newline="\n"))
    result = _check(config_file, path)
    assert result.exit_code == 0, result.output
    assert "EXTF_Maerz_2026.csv: every check passed; nothing was sent" in result.output
    assert "client 29098-55003; fiscal year 20260101-20261231, Sachkontenlänge 4" in result.output
    assert "3 booking lines, debit 1353.56, credit 50.00" in result.output
    # The client (GET /clients) and its fiscal years (GET /clients/{id}) were read; nothing sent.
    assert [m for m, _ in request_log.calls] == ["GET", "GET"]
    assert not (Path(booking_config["state_dir"]) / "ledger.sqlite").exists()

    # A header DATEV would refuse for this client: exit 1 with the client's fiscal years.
    wrong = tmp_path / "EXTF_Feb.csv"
    wrong.write_bytes(buchungsstapel(fiscal_year_start="20260201"))
    result = _check(config_file, wrong)
    assert result.exit_code == 1
    assert "field 'WJ-Beginn'" in result.output and CLIENT_YEARS in result.output

    # After a submit, the same postings are reported as already submitted.
    sent = CliRunner().invoke(submit, ["extf", "--config", str(config_file), str(path)])
    assert sent.exit_code == 0, sent.output
    again = tmp_path / "EXTF_Maerz_2026_utf8.csv"
    again.write_bytes(buchungsstapel(encoding="utf-8", bom=codecs.BOM_UTF8))
    result = _check(config_file, again)
    assert result.exit_code == 1 and "the same postings" in result.output
    assert request_log.count("POST", IMPORT) == 1  # the submit; --check sent nothing
    with Ledger.open(booking_config["state_dir"]) as ledger:
        assert len(ledger.all()) == 1


# -- what the file said, in booking_batches ----------------------------------------------------------


def test_booking_batches_carry_the_file_s_figures(
    booking_config: dict[str, t.Any], datev: DatevClient, ledger: Ledger
) -> None:
    data = buchungsstapel()
    extf_row = submit_extf(datev, ledger, "EXTF_Maerz_2026.csv", data)
    dxso_row = submit_dxso(
        datev,
        ledger,
        CLIENT_ID,
        import_type="accountsPayableLedgerImport",
        month="2026-03",
        files=[("document.xml", DOCUMENT_XML), ("Rechnung_4711.xml", LEDGER_XML)],
    )
    ledger.close()
    run = run_tap(booking_config, streams=["booking_batches", "booking_lines"])
    by_id = {r["batch_id"]: r for r in run.records("booking_batches")}
    figures = ("file_line_count", "file_debit_sum", "file_credit_sum")
    # 119,00 S + 1234,56 S; 50,00 H
    assert [by_id[extf_row.batch_id][k] for k in figures] == [3, "1353.56", "50.00"]
    assert by_id[extf_row.batch_id]["posting_digest"] == extf.posting_digest(
        extf.check_for_submit(data, "EXTF_Maerz_2026.csv")
    )
    # Two payables ledger lines of -119.00: credit notes, so the expense account is credited.
    assert [by_id[dxso_row.batch_id][k] for k in figures] == [2, "0.00", "238.00"]
    assert by_id[dxso_row.batch_id]["posting_digest"] is None
    assert run.assert_records_match_schemas() == 2 + 3 + 2  # batches and their lines
    schemas = {m["stream"]: m["schema"] for m in run.messages if m["type"] == "SCHEMA"}
    props = schemas["booking_batches"]["properties"]
    assert props["file_line_count"]["type"] == ["integer", "null"]
    assert props["posting_digest"]["type"] == ["string", "null"]

    def hints(prop: dict[str, t.Any]) -> dict[str, t.Any]:
        return {k: v for k, v in prop.items() if k != "description"}

    # The sums carry the hints of booking_lines' money columns, three digits wider: DECIMAL(18,2)
    # holds the sum of 99,999 lines of DECIMAL(15,2).
    umsatz = hints(schemas["booking_lines"]["properties"]["umsatz"])
    assert umsatz["type"] == ["string", "null"]
    wider = {**umsatz, "x-sql-datatype-properties": {"precision": 18, "scale": 2}}
    assert hints(props["file_debit_sum"]) == hints(props["file_credit_sum"]) == wider
    files = {name: load_schema(name)["properties"] for name in ("booking_batches", "booking_lines")}
    in_file = {
        **hints(files["booking_lines"]["umsatz"]),
        "x-sql-datatype-properties": wider["x-sql-datatype-properties"],
    }
    assert hints(files["booking_batches"]["file_debit_sum"]) == in_file
    assert hints(files["booking_batches"]["file_credit_sum"]) == in_file


def test_a_ledger_from_before_keeps_working_with_null_figures(
    booking_config: dict[str, t.Any], datev: DatevClient, ledger: Ledger
) -> None:
    row = submit_extf(datev, ledger, "EXTF_old.csv", buchungsstapel())
    ledger.close()
    # The ledger as the previous release wrote it: without the figure columns.
    db = sqlite3.connect(Path(booking_config["state_dir"]) / "ledger.sqlite")
    db.execute("DROP INDEX submissions_by_posting_digest")
    for column in ("posting_digest", "file_line_count", "file_debit_sum", "file_credit_sum"):
        db.execute(f"ALTER TABLE submissions DROP COLUMN {column}")
    db.commit()
    db.close()

    (batch,) = run_tap(booking_config, streams=["booking_batches"]).records("booking_batches")
    assert batch["batch_id"] == row.batch_id
    assert [batch[k] for k in ("file_line_count", "file_debit_sum", "posting_digest")] == [None] * 3
    # The same bytes are still refused by their sha256.
    with (
        Ledger.open(booking_config["state_dir"]) as reopened,
        pytest.raises(SubmitRefused, match="already submitted"),
    ):
        submit_extf(datev, reopened, "EXTF_old_again.csv", buchungsstapel())


def test_a_label_file_is_a_batch_without_booking_lines(
    booking_config: dict[str, t.Any], datev: DatevClient, ledger: Ledger
) -> None:
    labels = buchungsstapel().split(b"\r\n")[0]  # the header, then made a Kontenbeschriftungen one
    header = labels.replace(b'21;"Buchungsstapel";13', b'20;"Kontenbeschriftungen";3')
    header = header.replace(b";20260301;20260331;", b";;;")
    rows = 'Konto;Kontenbeschriftung;Sprach-ID;Kontenbeschriftung lang\r\n4930;"Bürobedarf";"de-DE";""\r\n'
    data = header + b"\r\n" + rows.encode("cp1252")
    row = submit_extf(datev, ledger, "EXTF_Kontenbeschriftungen.csv", data)
    assert (row.file_line_count, row.file_debit_sum, row.file_credit_sum) == (None, None, None)
    assert row.posting_digest is not None
    ledger.close()
    run = run_tap(booking_config, streams=["booking_batches", "booking_lines"])
    (batch,) = run.records("booking_batches")
    assert batch["batch_id"] == row.batch_id and batch["file_line_count"] is None
    assert run.records("booking_lines") == []

"""gl_accounts / business_partners, typed Parquet BATCH output, and DATEV's sample Buchungsstapel."""

from __future__ import annotations

import datetime as dt
import decimal
import shutil
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tap_datev import jobs
from tap_datev.ledger import Ledger
from tap_datev.submit import submit, submit_extf

from .conftest import run_tap
from .factory import CLIENT_ID, buchungsstapel

if t.TYPE_CHECKING:
    from tap_datev.client import DatevClient

SAMPLES = ("pff_EXTF_Sachkontobeschriftungen_v700_20_3.csv", "pff_EXTF_DebKred_Stamm_v700_16_5.csv")


@pytest.fixture
def samples(shared_dir: Path) -> Path:
    folder = shared_dir / "extf-samples"
    if not all((folder / name).is_file() for name in SAMPLES):
        pytest.skip("../shared/extf-samples is not present")
    return folder


def test_labels_from_sample_files_and_settings(booking_config: dict[str, t.Any], samples: Path) -> None:
    config = {
        **booking_config,
        "gl_account_files": [str(samples / SAMPLES[0])],
        "business_partner_files": [str(samples / SAMPLES[1])],
    }
    run = run_tap(config, streams=["gl_accounts", "business_partners"])
    gl = {(r["client_id"], r["account_number"], r["language"]): r for r in run.records("gl_accounts")}
    assert {key[0] for key in gl} == {CLIENT_ID}
    # The file's 52 labels plus the setting's 4, of which 1200 and 8400 (de-DE) are also in the
    # file: the setting wins for those keys.
    assert len(gl) == 52 + 2
    assert gl[(CLIENT_ID, 691, "de-DE")]["label"] == "Teilzahlungskredit Citan Kastenwagen"
    assert gl[(CLIENT_ID, 1200, "de-DE")]["label"] == "Bank"
    assert gl[(CLIENT_ID, 4930, "en-GB")]["label"] == "Office supplies"
    partners = run.records("business_partners")
    assert len(partners) == 4
    assert {(p["account_number"], p["name"], p["partner_type"]) for p in partners} >= {
        (10000, "Möbel Testgruber", "debtor")
    }
    assert run.assert_records_match_schemas() == 54 + 4
    again = run_tap(config, run.state, streams=["gl_accounts", "business_partners"])
    assert len(again.records("gl_accounts")) == 54  # full table: re-emitted every run


def test_gl_accounts_from_settings_only(booking_config: dict[str, t.Any]) -> None:
    run = run_tap(booking_config, streams=["gl_accounts", "business_partners"])
    assert sorted((r["account_number"], r["language"], r["label"]) for r in run.records("gl_accounts")) == [
        (1200, "de-DE", "Bank"),
        (4930, "de-DE", "Bürobedarf"),
        (4930, "en-GB", "Office supplies"),
        (8400, "de-DE", "Erlöse 19 % USt"),
    ]
    assert run.records("business_partners") == []


def test_booking_lines_as_typed_parquet_batches(
    booking_config: dict[str, t.Any],
    datev: DatevClient,
    ledger: Ledger,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row = submit_extf(datev, ledger, "EXTF_batch.csv", buchungsstapel())
    ledger.close()
    root = tmp_path / "batches"
    root.mkdir()
    config = {
        **booking_config,
        "batch_config": {
            "encoding": {"format": "parquet", "compression": "gzip"},
            "storage": {"root": root.as_uri(), "prefix": "tap-datev-"},
        },
    }
    run = run_tap(config, streams=["booking_batches", "booking_lines"])
    assert run.records("booking_lines") == []
    (message,) = run.batches("booking_lines")
    (url,) = message["manifest"]
    table = pq.read_table(urlsplit(url).path)
    assert table.schema.field("amount").type == pa.decimal128(15, 2)
    assert table.schema.field("account_amount").type == pa.decimal128(15, 2)
    assert table.schema.field("booking_date").type == pa.date32()
    assert table.schema.field("line_number").type == pa.int64()
    rows = sorted(table.to_pylist(), key=lambda r: r["line_number"])
    assert [r["account_amount"] for r in rows] == [
        decimal.Decimal("119.00"),
        decimal.Decimal("-50.00"),
        decimal.Decimal("1234.56"),
    ]
    assert {r["batch_id"] for r in rows} == {row.batch_id}
    (batches_message,) = run.batches("booking_batches")
    batches = pq.read_table(urlsplit(batches_message["manifest"][0]).path)
    assert batches.schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert batches.schema.field("validation_details").type == pa.string()


def test_sample_buchungsstapel_with_add_bom_succeeds(  # noqa: PLR0917 (fixtures)
    booking_config: dict[str, t.Any],
    config_file: Path,
    shared_dir: Path,
    tmp_path: Path,
    datev_emulator: t.Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sample = shared_dir / "extf-samples" / "pff_EXTF_Buchungsstapel_v700_13.csv"
    if not sample.is_file():
        pytest.skip("../shared/extf-samples is not present")
    path = tmp_path / "EXTF_Buchungsstapel.csv"  # DATEV needs the EXTF_ prefix; a temp copy only
    shutil.copyfile(sample, path)
    result = CliRunner().invoke(submit, ["extf", "--add-bom", "--config", str(config_file), str(path)])
    assert result.exit_code == 0, result.output
    with Ledger.open(booking_config["state_dir"]) as ledger:
        (row,) = ledger.all()
        assert ledger.kept_file(row.sha256).startswith(b"\xef\xbb\xbf")

    datev_emulator.control.advance(60)
    real = jobs.utc_now
    monkeypatch.setattr(jobs, "utc_now", lambda: real() + dt.timedelta(seconds=30))
    folder = sample.parent
    config = {
        **booking_config,
        "gl_account_files": [str(folder / SAMPLES[0])],
        "business_partner_files": [str(folder / SAMPLES[1])],
    }
    run = run_tap(config, streams=["booking_batches", "booking_lines"])
    (batch,) = run.records("booking_batches")
    assert batch["status"] == "succeeded" and batch["number_of_accounting_records"] == 54
    lines = run.records("booking_lines")
    assert len(lines) == 54 and {r["job_result"] for r in lines} == {"succeeded"}
    assert run.assert_records_match_schemas() == 55
    by_line = {r["line_number"]: r for r in lines}
    assert by_line[3]["amount"] == "100.18" and by_line[3]["account_amount"] == "100.18"
    assert by_line[3]["contra_account_label"] == "Erlöse Dächer 19% USt"  # GL label file
    assert by_line[8]["account_amount"] == "-11687.62"
    assert by_line[8]["contra_account_label"] == "Susanne Testhuber"  # Debitoren/Kreditoren file


LABELS_FILE = (
    '"EXTF";700;20;"Kontenbeschriftungen";3;20260401120000000;;"RE";"";"";29098;55003;20260101;4;;;'
    '"";"";;;;"";;"";;;"03";;;"";""\r\nKonto;Kontenbeschriftung;SprachId;Kontenbeschriftung lang\r\n'
    '4930;"Bürobedarf";"de-DE";\r\n49X0;"Kaputt";"de-DE";\r\n'
).encode("cp1252")


def test_a_label_file_row_that_cannot_be_read_is_skipped_with_a_warning(
    booking_config: dict[str, t.Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Was: skipped silently (the warning went to a list nobody read).
    path = tmp_path / "EXTF_Kontenbeschriftungen.csv"
    path.write_bytes(LABELS_FILE)
    config = {**booking_config, "gl_accounts": [], "gl_account_files": [str(path)]}
    with caplog.at_level("WARNING"):
        run = run_tap(config, streams=["gl_accounts", "business_partners"])
    assert [(r["account_number"], r["label"]) for r in run.records("gl_accounts")] == [(4930, "Bürobedarf")]
    assert caplog.text.count("line 4, field 'Konto': '49X0' is not an account number; skipped") == 1

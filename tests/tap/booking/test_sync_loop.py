"""The tap's record loop writes what singer-sdk's own loop and writer write, byte for byte.

record_messages.py encodes RECORD lines straight into the writer's block (no RecordMessage) and runs
a leaner copy of the SDK's record loop where its per-record steps do nothing. Against the SDK (its
`Stream` methods and its msgspec writer), a whole sync of the booking streams gives the same lines
in the same order (RECORDs, interim and final STATEs, SCHEMAs), `time_extracted` aside, for each
selection, stream maps and flattening; and a sync that fails midway has written the same lines. The
Accounting Data Exchange streams too: account_postings sets the RECORD version per record.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import typing as t

import pytest
from singer_sdk import Stream
from singer_sdk.contrib.msgspec import MsgSpecWriter

from tap_datev import booking_streams
from tap_datev.ade_streams import ADE_STREAMS
from tap_datev.errors import DatevConfigError
from tap_datev.ledger import Ledger
from tap_datev.message_writer import DatevMessageWriter
from tap_datev.record_messages import SelectedRecordMessages
from tap_datev.submit import submit_extf
from tap_datev.tap import TapDatev

from .catalogs import selected_catalog
from .conftest import BOOKING_STREAM_NAMES
from .factory import BOOKINGS, buchungsstapel

if t.TYPE_CHECKING:
    from tap_datev.client import DatevClient

TIME_EXTRACTED = re.compile(rb',"time_extracted":"([^"]+)"')
SIGNPOST = re.compile(rb'"replication_key_signpost":"[^"]+"')  # the run's start: differs between runs
SDK_METHODS = (
    "_sync_records",
    "_write_record_message",
    "_generate_record_messages",
    "generate_child_contexts",
)

DESELECTED: dict[str, dict[str, set[str]]] = {
    "everything": {},
    "top-level fields": {"booking_lines": {"buchungstext", "account_label"}, "booking_batches": {"sha256"}},
}
OPTIONS: dict[str, dict[str, t.Any]] = {
    "no options": {},
    "stream maps": {
        "stream_maps": {
            "booking_lines": {"konto_text": "str(konto)", "belegfeld_1": None},
            "booking_batches": {"__alias__": "batches"},
        }
    },
    "flattening": {"flattening_enabled": True, "flattening_max_depth": 1},
}


def _sync(
    config: dict[str, t.Any], catalog: dict[str, t.Any], writer: t.Any, dry_run: int | None = None
) -> tuple[list[bytes], Exception | None]:
    """The lines a sync (a dry run of `dry_run` records per stream: `--test`) writes to a
    binary-backed stdout (as a pipe is), and its error if any."""
    tap = TapDatev(config=config, catalog=catalog, validate_config=False, message_writer=writer)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    error: Exception | None = None
    with contextlib.redirect_stdout(out):
        try:
            if dry_run is None:
                tap.sync_all()
            else:
                tap.run_sync_dry_run(dry_run_record_limit=dry_run)
        except Exception as exc:
            error = exc
    out.flush()
    return out.buffer.getvalue().splitlines(), error  # type: ignore[attr-defined]


def _sdk_sync(
    config: dict[str, t.Any],
    catalog: dict[str, t.Any],
    monkeypatch: pytest.MonkeyPatch,
    dry_run: int | None = None,
) -> tuple[list[bytes], Exception | None]:
    """The same sync with singer-sdk's own record loop, RECORD messages and msgspec writer."""
    with monkeypatch.context() as patch:
        for name in SDK_METHODS:
            patch.setattr(SelectedRecordMessages, name, getattr(Stream, name))
        return _sync(config, catalog, MsgSpecWriter(), dry_run)


def _without_times(lines: list[bytes], started: dt.datetime) -> list[bytes]:
    """The lines with each RECORD's time_extracted and each STATE's signpost taken out, after
    checking that time_extracted is a UTC time of this run (msgspec's form: 'Z')."""
    for line in lines:
        if line.startswith(b'{"type":"RECORD"'):
            (found,) = TIME_EXTRACTED.findall(line)
            assert found.endswith(b"Z")
            assert dt.datetime.fromisoformat(found.decode()) >= started
    return [SIGNPOST.sub(b"", TIME_EXTRACTED.sub(b"", line)) for line in lines]


@pytest.fixture
def submitted(booking_config: dict[str, t.Any], datev: DatevClient) -> dict[str, t.Any]:
    """Two Buchungsstapel submitted (the job still pending: no sync polls it), and a STATE every 2
    records, so that interim STATEs fall between the lines of a batch."""
    with Ledger.open(booking_config["state_dir"]) as ledger:
        submit_extf(datev, ledger, "EXTF_one.csv", buchungsstapel())
        submit_extf(datev, ledger, "EXTF_two.csv", buchungsstapel(BOOKINGS * 3, label="April 2026"))
    return booking_config


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("selection", DESELECTED)
def test_same_lines_as_the_sdk(
    submitted: dict[str, t.Any], selection: str, options: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Stream, "STATE_MSG_FREQUENCY", 2)
    config = {**submitted, **OPTIONS[options]}
    catalog = selected_catalog(config, BOOKING_STREAM_NAMES, DESELECTED[selection])
    started = dt.datetime.now(dt.UTC)
    ours, error = _sync(config, catalog, DatevMessageWriter())
    assert error is None
    sdk, error = _sdk_sync(config, catalog, monkeypatch)
    assert error is None
    assert _without_times(ours, started) == _without_times(sdk, started)

    kinds = [re.match(rb'\{"type":"(\w+)","stream":"(\w+)"', line) for line in ours]
    line_records = [m for m in kinds if m and m.groups() == (b"RECORD", b"booking_lines")]
    assert len(line_records) == len(BOOKINGS) * 4  # every line of both files
    states = [line for line in ours if line.startswith(b'{"type":"STATE"')]
    assert len(states) > 2 * 2  # interim STATEs within booking_lines, not only one per stream


def test_a_failing_sync_has_written_the_same_lines_before_its_error(
    submitted: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    parse = booking_streams.parse_batch_lines

    def fails_after_two(*args: t.Any) -> t.Iterator[dict[str, t.Any]]:
        lines = parse(*args)
        yield next(lines)
        yield next(lines)
        raise DatevConfigError("the kept file went missing")

    monkeypatch.setattr(booking_streams, "parse_batch_lines", fails_after_two)
    catalog = selected_catalog(submitted, BOOKING_STREAM_NAMES)
    started = dt.datetime.now(dt.UTC)
    ours, error = _sync(submitted, catalog, DatevMessageWriter())
    assert isinstance(error, DatevConfigError)
    sdk, error = _sdk_sync(submitted, catalog, monkeypatch)
    assert isinstance(error, DatevConfigError)
    assert _without_times(ours, started) == _without_times(sdk, started)
    assert sum(line.startswith(b'{"type":"RECORD","stream":"booking_lines"') for line in ours) == 2


def test_a_dry_run_stops_where_the_sdk_stops(
    submitted: dict[str, t.Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = selected_catalog(submitted, BOOKING_STREAM_NAMES)
    started = dt.datetime.now(dt.UTC)
    ours, error = _sync(submitted, catalog, DatevMessageWriter(), dry_run=2)
    assert error is None
    sdk, error = _sdk_sync(submitted, catalog, monkeypatch, dry_run=2)
    assert error is None
    assert _without_times(ours, started) == _without_times(sdk, started)
    assert (
        sum(line.startswith(b'{"type":"RECORD","stream":"booking_lines"') for line in ours) == 2 * 2
    )  # per batch


UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
READ_AT = re.compile(rb'"read_at":"[^"]+"')


def _per_run(lines: list[bytes]) -> list[bytes]:
    """The lines with what each run makes anew taken out: export job ids, export times and the run's
    own RECORD version (the one its ACTIVATE_VERSION names; the committed version stays)."""
    (activate,) = [line for line in lines if line.startswith(b'{"type":"ACTIVATE_VERSION"')]
    run_version = b'"version":' + re.findall(rb'"version":(\d+)', activate)[0]
    return [READ_AT.sub(b"", UUID.sub(b"", line)).replace(run_version, b'"version":RUN') for line in lines]


def test_the_ade_streams_write_what_the_sdk_writes(
    tap_config: dict[str, t.Any],
    consent: t.Callable[[str], None],
    datev_emulator: t.Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tap_datev.login import login

    config = {**tap_config, "ade_enabled": True, "client_ids": ["29098-55003"]}
    login(config, open_url=consent)
    datev_emulator.control.set_job_delays(ade_seconds=0.2)
    catalog = selected_catalog(config, {stream.name for stream in ADE_STREAMS})
    started = dt.datetime.now(dt.UTC)
    ours, error = _sync(config, catalog, DatevMessageWriter())
    assert error is None
    sdk, error = _sdk_sync(config, catalog, monkeypatch)
    assert error is None
    assert _per_run(_without_times(ours, started)) == _per_run(_without_times(sdk, started))
    postings = [line for line in ours if line.startswith(b'{"type":"RECORD","stream":"account_postings"')]
    versions = {re.search(rb',"version":(\d+)', line)[1] for line in postings}  # type: ignore[index]
    assert postings and len(versions) == 2  # committed and not yet committed postings

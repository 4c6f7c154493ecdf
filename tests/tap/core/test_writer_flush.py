"""The tap's writer leaves RECORDs in stdout's buffer but never a STATE: when a STATE is written,
it and every RECORD before it have reached the file descriptor (what Meltano's pipe reads)."""

from __future__ import annotations

import contextlib
import io
import json

from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage
from stdout_sink import Sink

from tap_datev.tap import DatevMessageWriter


def test_a_state_goes_out_with_every_record_before_it() -> None:
    sink = Sink()
    stdout = io.TextIOWrapper(io.BufferedWriter(sink, buffer_size=1 << 20), encoding="utf-8")
    writer = DatevMessageWriter()
    records = [RecordMessage(stream="s", record={"n": n}) for n in range(50)]
    with contextlib.redirect_stdout(stdout):
        writer.write_message(SchemaMessage(stream="s", schema={"properties": {}}, key_properties=[]))
        for message in records:
            writer.write_message(message)
        writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 49}}}))
        landed = [json.loads(line) for line in sink.landed.decode("utf-8").splitlines()]
    assert [m["type"] for m in landed] == ["SCHEMA", *["RECORD"] * 50, "STATE"]
    assert [m["record"]["n"] for m in landed if m["type"] == "RECORD"] == list(range(50))
    assert landed[-1]["value"] == {"bookmarks": {"s": {"n": 49}}}

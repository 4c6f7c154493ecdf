"""TargetDatabricks: any Singer stream into Unity Catalog Delta tables, or local Delta Lake tables."""

from __future__ import annotations

import logging
import threading
import time
import typing as t
import uuid
from collections import Counter, defaultdict
from functools import cached_property

import msgspec
from singer_sdk import Target
from singer_sdk.contrib.msgspec import MsgSpecReader
from singer_sdk.exceptions import ConfigValidationError, MissingKeyPropertiesError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.mapper import SameRecordTransform

from target_databricks import log_filters, memory, progress, settings
from target_databricks.batches import POSITION_STRIDE, KeyPropertyMissingError, key_missing_message
from target_databricks.engines import make_engine
from target_databricks.errors import SettingsError
from target_databricks.record_lines import decode_message
from target_databricks.schema import NameCollisionError
from target_databricks.sinks import POSITION_KEY, DatabricksSink

if t.TYPE_CHECKING:
    from singer_sdk.mapper import StreamMap
    from singer_sdk.sinks import Sink

    from target_databricks.engines.base import Engine


class _AnObject(msgspec.Struct):
    """Any JSON object; its members are skipped, not decoded."""


class _Head(msgspec.Struct):
    """What decides where a line goes: its type, stream, and whether its record is an object."""

    type: str
    stream: str | None = None
    record: _AnObject | None = None


_head_decoder = msgspec.json.Decoder(_Head)
# How singer-sdk's writers start a RECORD line: `{"type":"RECORD","stream":"<name>","record":{`.
_RECORD_START = '{"type":"RECORD","stream":"'
_AFTER_STREAM = '","record":{'

# Takes a RECORD line undecoded, with its input line number.
LineTaker = t.Callable[[str, int], None]


class PositionReader(MsgSpecReader):
    """Counts input lines: a message's line number is its input position (the upsert tie-break).

    msgspec keeps numbers exact (Decimal). A RECORD line of a stream in `line_takers` is handed to
    its taker undecoded: the sink types such lines in chunks with Arrow (see record_lines).
    """

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.line_takers: dict[str, LineTaker] = {}

    def deserialize_json(self, line: t.Any) -> dict:
        self.line_number += 1
        return decode_message(line, self.line_number)

    def process_lines(
        self, file_input: t.IO[str] | None, callbacks: dict[str, t.Callable[[dict], None]]
    ) -> t.Counter[str]:
        """singer-sdk's loop, with RECORD lines of the streams in `line_takers` left undecoded: the
        SDK's per-line steps (decode, checks, dispatch) cost more than typing the lines in Arrow."""
        stats: dict[str, int] = defaultdict(int)
        for line in file_input or self.default_input:
            self._current_message = line
            if self.line_takers and isinstance(line, str) and (take := self._taker(line)) is not None:
                self.line_number += 1
                take(line, self.line_number)
                stats["RECORD"] += 1
                continue
            line_dict = self.deserialize_json(line)
            self.assert_line_requires(line_dict, requires={"type"})
            record_type = line_dict["type"]
            if callback := callbacks.get(record_type):
                callback(line_dict)
            else:
                self._process_unknown_message(line_dict)
            stats[record_type] += 1
        return Counter(**stats)

    def _taker(self, line: str) -> LineTaker | None:
        """Where a RECORD line goes undecoded, if anywhere: found by its start when it begins as
        singer-sdk taps write one, else by decoding only its head. A line that is no valid JSON is
        refused when its chunk is typed (record_lines decodes it then), before its batch loads."""
        if line.startswith(_RECORD_START):
            end = line.find('"', len(_RECORD_START))
            stream = line[len(_RECORD_START) : end]
            if end > 0 and line.startswith(_AFTER_STREAM, end) and "\\" not in stream:
                return self.line_takers.get(stream)
        try:
            head = _head_decoder.decode(line)
        except msgspec.MsgspecError:
            return None  # the full decode says what is wrong with the line
        if head.type == "RECORD" and head.record is not None and head.stream is not None:
            return self.line_takers.get(head.stream)
        return None


class _NoSinkSetupErrorLine(logging.Filter):
    """singer-sdk logs "Error initializing target sink" before re-raising a sink's setup error
    (pre-flight, table DDL); the command line reports that error itself, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Error initializing target sink")


class TargetDatabricks(Target):
    """Any Singer stream into Unity Catalog Delta tables (Databricks) or local Delta Lake."""

    name = "target-databricks"
    config_jsonschema = settings.CONFIG_SCHEMA
    default_sink_class = DatabricksSink
    message_reader_class = PositionReader
    capabilities: t.ClassVar[list[t.Any]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
        PluginCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.BATCH,
        TargetCapabilities.VALIDATE_RECORDS,
        TargetCapabilities.SOFT_DELETE,
        TargetCapabilities.HARD_DELETE,
        TargetCapabilities.TARGET_SCHEMA,
    ]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        memory.use_returning_allocator()
        if not any(isinstance(f, _NoSinkSetupErrorLine) for f in self.logger.filters):
            self.logger.addFilter(_NoSinkSetupErrorLine())
        progress.install(self.logger)
        self.run_id = uuid.uuid4().hex
        self._overwritten: set[str] = set()
        self._overwrite_lock = threading.Lock()
        self._table_streams: dict[str, str] = {}
        # stream -> (its stream maps, its sink, the answer of _plain_sink for that pair)
        self._plain_sinks: dict[str, tuple[list[StreamMap], Sink | None, DatabricksSink | None]] = {}

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's JSON Schema check as one SettingsError (one line), plus catalog/schema names."""
        try:
            errors = super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError as exc:
            raise SettingsError(
                f"invalid target settings: {'; '.join(exc.errors) or exc}. Fix them in meltano.yml "
                "or the --config file."
            ) from exc
        if raise_errors:
            settings.target_catalog(self.config)
            settings.target_schema(self.config)
            settings.table_options(self.config)
        return errors

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.config)
        engine.preflight()
        engine.defer_ledger_rows = True  # flushed before each STATE (_write_state_message)
        return engine

    def _write_state_message(self, state: dict) -> None:
        # STATE covers only loads whose ledger rows have landed.
        if "engine" in self.__dict__:
            self.engine.flush_ledger()
        super()._write_state_message(state)

    def claim_overwrite(self, table: str) -> bool:
        """True once per table and run: that load replaces the table (load_method overwrite)."""
        with self._overwrite_lock:
            if table in self._overwritten:
                return False
            self._overwritten.add(table)
            return True

    def claim_table(self, table: str, stream: str) -> None:
        """Two streams whose names conform to one table name are an error naming both."""
        owner = self._table_streams.setdefault(table, stream)
        if owner != stream:
            raise NameCollisionError(
                f"streams {owner!r} and {stream!r} both conform to table {table!r}; "
                "rename one with a stream map (stream_maps alias)"
            )

    def _position(self) -> int:
        return int(getattr(self.message_reader, "line_number", 0)) * POSITION_STRIDE

    def _process_schema_message(self, message_dict: dict) -> None:
        super()._process_schema_message(message_dict)
        # Sinks change only here: which streams' RECORD lines a sink takes undecoded.
        if isinstance(self.message_reader, PositionReader):
            self.message_reader.line_takers = {
                stream: self._line_taker(sink)
                for stream in self.mapper.stream_maps
                if (sink := self._plain_sink(stream)) is not None and sink.record_lines is not None
            }

    def _line_taker(self, sink: DatabricksSink) -> LineTaker:
        max_age_seconds = self._MAX_RECORD_AGE_IN_MINUTES * 60

        def take(line: str, line_number: int) -> None:
            if sink.add_record_line(line, line_number):
                self._drain_if_full(sink)
            # _handle_max_record_age, without its two calls per line
            if time.time() - self._last_full_drain_at > max_age_seconds:
                self._handle_max_record_age()

        return take

    def _process_record_message(self, message_dict: dict) -> None:
        message_dict[POSITION_KEY] = self._position()
        record_is_object = isinstance(message_dict.get("record"), dict)
        sink = self._plain_sink(message_dict.get("stream")) if record_is_object else None
        if sink is None:
            try:
                super()._process_record_message(message_dict)
            except MissingKeyPropertiesError as exc:
                if isinstance(exc, KeyPropertyMissingError):
                    raise  # ours, from a batch drained on the way: it names its own line
                stream = str(message_dict.get("stream"))
                keys = self.mapper.stream_maps[stream][0].transformed_key_properties or []
                record = message_dict.get("record") or {}
                self._refuse_keyless(stream, next((k for k in keys if k not in record), ", ".join(keys)))
            return
        # The SDK's per-record steps that do something for a plain stream (no stream map, no
        # flattening, no per-record validation), in its order; the rest of its loop (identity
        # transform, sink lookup, preprocess hook, debug log) cost about 30% of the RECORD path.
        record = dict(message_dict["record"])
        context = sink._get_context(record)
        sink._add_sdc_metadata_to_record(record, message_dict, context)
        for key in sink.key_properties:
            if record.get(key) is None:
                self._refuse_keyless(sink.stream_name, key)
        sink.tally_record_read()
        sink.process_record(record, context)
        sink.record_counter_metric.increment()
        self._drain_if_full(sink)
        self._handle_max_record_age()

    def _drain_if_full(self, sink: DatabricksSink) -> None:
        if sink.is_full:
            self.logger.info(
                "Target sink for '%s' is full. Current size is '%s'. Draining...",
                sink.stream_name,
                sink.current_size,
            )
            self.drain_one(sink)

    def _refuse_keyless(self, stream: str, key: str) -> t.NoReturn:
        line = f"line {self._position() // POSITION_STRIDE}"
        raise KeyPropertyMissingError(key_missing_message(stream, line, key))

    def _plain_sink(self, stream: t.Any) -> DatabricksSink | None:
        """The stream's sink when the SDK's generic record path would only copy the record."""
        if not isinstance(stream, str):
            return None
        maps = self.mapper.stream_maps.get(stream)
        if not maps:
            return None  # the SDK's path raises RecordsWithoutSchemaException
        sink = self._sinks_active.get(stream)
        # A new SCHEMA makes new stream maps and a new sink: the answer is cached for this pair.
        cached = self._plain_sinks.get(stream)
        if cached is not None and cached[0] is maps and cached[1] is sink:
            return cached[2]
        plain = self._plain_sink_of(stream, maps, sink)
        self._plain_sinks[stream] = (maps, sink, plain)
        return plain

    @staticmethod
    def _plain_sink_of(stream: str, maps: list[StreamMap], sink: Sink | None) -> DatabricksSink | None:
        if len(maps) != 1:
            return None
        stream_map = maps[0]
        if type(stream_map) is not SameRecordTransform or stream_map.flattening_enabled:
            return None
        if stream_map.stream_alias != stream:
            return None
        if not isinstance(sink, DatabricksSink) or sink._validator is not None:
            return None
        return sink

    def _process_batch_message(self, message_dict: dict) -> None:
        message_dict[POSITION_KEY] = self._position()
        for stream_map in self.mapper.stream_maps[message_dict["stream"]]:
            sink = self.get_sink(stream_map.stream_alias)
            if isinstance(sink, DatabricksSink):
                sink.current_batch_message = message_dict
        super()._process_batch_message(message_dict)

    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()
            progress.summary()
        finally:
            if "engine" in self.__dict__:
                self.engine.close()


log_filters.install(TargetDatabricks.name)


if __name__ == "__main__":
    TargetDatabricks.cli()

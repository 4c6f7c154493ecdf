"""TargetDatabricks: any Singer stream into Unity Catalog Delta tables, or local Delta Lake tables."""

from __future__ import annotations

import logging
import threading
import typing as t
import uuid
from functools import cached_property

from singer_sdk import Target
from singer_sdk.exceptions import ConfigValidationError, MissingKeyPropertiesError
from singer_sdk.helpers.capabilities import PluginCapabilities, TargetCapabilities
from singer_sdk.io_base import SingerReader
from singer_sdk.mapper import SameRecordTransform

from target_databricks import log_filters, memory, progress, settings
from target_databricks.batches import POSITION_STRIDE, KeyPropertyMissingError, key_missing_message
from target_databricks.engines import make_engine
from target_databricks.errors import SettingsError
from target_databricks.schema import NameCollisionError
from target_databricks.sinks import POSITION_KEY, DatabricksSink

if t.TYPE_CHECKING:
    from singer_sdk.mapper import StreamMap
    from singer_sdk.sinks import Sink

    from target_databricks.engines.base import Engine

try:  # msgspec decodes ~30% faster than the json module, and keeps numbers exact (Decimal)
    from singer_sdk.contrib.msgspec import MsgSpecReader as _BaseReader
except ImportError:  # pragma: no cover - singer-sdk without the msgspec extra
    _BaseReader = SingerReader  # type: ignore[misc,assignment]


class PositionReader(_BaseReader):
    """Counts input lines: a message's line number is its input position (the upsert tie-break)."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0

    def deserialize_json(self, line: t.Any) -> dict:
        self.line_number += 1
        return super().deserialize_json(line)


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

    def _process_record_message(self, message_dict: dict) -> None:
        message_dict[POSITION_KEY] = self._position()
        sink = self._plain_sink(message_dict)
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
        if sink.is_full:
            self.logger.info(
                "Target sink for '%s' is full. Current size is '%s'. Draining...",
                sink.stream_name,
                sink.current_size,
            )
            self.drain_one(sink)
        self._handle_max_record_age()

    def _refuse_keyless(self, stream: str, key: str) -> t.NoReturn:
        line = f"line {self._position() // POSITION_STRIDE}"
        raise KeyPropertyMissingError(key_missing_message(stream, line, key))

    def _plain_sink(self, message_dict: dict) -> DatabricksSink | None:
        """The stream's sink when the SDK's generic record path would only copy the record."""
        stream = message_dict.get("stream")
        if not isinstance(stream, str) or not isinstance(message_dict.get("record"), dict):
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

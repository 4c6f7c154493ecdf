"""One sink per stream: a drained batch (RECORDs) or a BATCH file becomes ONE typed Arrow table and
one load, which loads.run_load applies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import gzip
import json
import os
import typing as t
from concurrent import futures

import orjson
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
from singer_sdk.exceptions import InvalidRecord
from singer_sdk.helpers._batch import BatchFileFormat, StorageTarget
from singer_sdk.sinks import BatchSink

from target_databricks import audit, batches
from target_databricks import schema as sch
from target_databricks.engines.base import (
    STAGED_META_KEYS,
    STAGED_META_METHOD,
    STAGED_META_SQL_TYPES,
    STAGED_META_STREAM,
    STAGED_META_TABLE,
    Load,
    LoadMethod,
)
from target_databricks.loads import run_load
from target_databricks.record_lines import RecordLines, decode_message
from target_databricks.settings import (
    DEFAULT_BATCH_SIZE_BYTES,
    DEFAULT_BATCH_SIZE_ROWS,
    load_method_for,
    target_catalog,
    target_schema,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers._batch import BaseBatchFileEncoding

    from target_databricks.engines.base import Engine
    from target_databricks.target import TargetDatabricks


# Message keys the target adds to each RECORD/BATCH message before the SDK hands it to the sink.
POSITION_KEY = "_ml_position"


class DatabricksSink(BatchSink):
    MAX_SIZE_DEFAULT = DEFAULT_BATCH_SIZE_ROWS

    def __init__(
        self,
        target: TargetDatabricks,
        stream_name: str,
        schema: dict,
        key_properties: t.Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self._target = target
        self.plan = sch.plan_stream(
            stream_name,
            self.schema,
            self.key_properties,
            catalog=target_catalog(self.config),
            schema=target_schema(self.config),
            # `meltano run` hands the extractor's plugin info to the loader's environment.
            tap=os.environ.get("MELTANO_EXTRACTOR_NAME"),
        )
        target.claim_table(self.plan.spec.ref.full_name, stream_name)
        self.method: LoadMethod = load_method_for(self.config, self.plan.spec.key_properties)
        self._table_ready = False
        self.current_batch_message: dict[str, t.Any] | None = None
        self._max_rows = self.max_size
        # input characters of a batch of RECORD lines (JSON text: about its bytes); BATCH files: the
        # Arrow bytes under which the next file is read ahead
        self._batch_size_bytes = int(self.config.get("batch_size_bytes") or DEFAULT_BATCH_SIZE_BYTES)
        self._batch_chars = 0
        read_schema = batches.record_line_schema(self.plan)
        # The target hands plain RECORD lines over undecoded (add_record_line) when Arrow can read them.
        self.record_lines = (
            RecordLines(stream_name, self.plan, read_schema, self._decoded_record) if read_schema else None
        )

    @property
    def engine(self) -> Engine:
        return self._target.engine

    def setup(self) -> None:
        # An incompatible schema change fails before any record of it is read. The table is made when
        # the engine says: at once locally; in the workspace at the first load (a later SCHEMA before
        # it makes one CREATE with every column, not CREATE + ALTER) or at run end (clean_up).
        super().setup()
        self._table_ready = self.engine.declare_table(self.plan.spec)

    def clean_up(self) -> None:
        self.ensure_table()  # an empty stream is an empty table
        super().clean_up()

    # --- the SDK's per-record path, trimmed to what the table needs ----------------------------

    @property
    def include_sdc_metadata_properties(self) -> bool:
        return True  # time_extracted, version and input position are needed by every load

    def _add_sdc_metadata_to_schema(self) -> None:
        # Only the record-level values; batch-level ones are added as Arrow columns per batch.
        props = self.schema["properties"]
        for name in (sch.EXTRACTED_AT, sch.DELETED_AT):
            props.setdefault(name, {"type": ["null", "string"], "format": "date-time"})
        for name in (sch.TABLE_VERSION, sch.POSITION):
            props[name] = {"type": ["null", "integer"]}

    def _add_sdc_metadata_to_record(self, record: dict, message: dict, context: dict) -> None:
        record[sch.EXTRACTED_AT] = message.get("time_extracted")
        record[sch.TABLE_VERSION] = message.get("version")
        record[sch.POSITION] = message.get(POSITION_KEY)

    def _validate_and_parse(self, record: dict) -> dict:
        # No per-record timestamp parsing: Arrow parses whole columns when the batch is built.
        if self._validator is not None:
            try:
                self._validator.validate(record)
            except InvalidRecord:
                self.logger.exception("Record validation failed")
                if self.fail_on_record_validation_exception:
                    raise
        return record

    def add_record_line(self, line: str, line_number: int) -> bool:
        """A RECORD line of this stream that only needs the record-level metadata (no stream map, no
        flattening, no validation), undecoded; its key properties are checked when it is typed.
        True when the batch is full."""
        assert self.record_lines is not None
        if self._pending_batch is None:
            self._get_context({})  # the first record starts the batch: its start is the load's received_at
        self.record_lines.add(line, line_number)
        self._batch_chars += len(line)
        self.tally_record_read()
        self.record_counter_metric.increment()
        return self._batch_records_read >= self._max_rows or self._batch_chars >= self._batch_size_bytes

    @property
    def is_full(self) -> bool:
        return super().is_full or self._batch_chars >= self._batch_size_bytes

    def mark_drained(self) -> None:
        super().mark_drained()
        self._batch_chars = 0

    def _decoded_record(self, line: str, line_number: int) -> dict[str, t.Any]:
        """A line Arrow could not read, as the record dict of the decoded path (numbers exact)."""
        message = decode_message(line, line_number)
        message[POSITION_KEY] = line_number * batches.POSITION_STRIDE
        record = dict(message["record"])
        self._add_sdc_metadata_to_record(record, message, {})
        return record

    # --- batches --------------------------------------------------------------------------------

    def process_batch(self, context: dict) -> None:
        tables = [self.record_lines.take_table()] if self.record_lines is not None else []
        if records := context.get("records"):
            tables.append(batches.records_to_table(self.stream_name, self.plan, records))
        parts = [table for table in tables if table is not None]
        if not parts:
            return
        received_at = context.get("batch_start_time") or dt.datetime.now(dt.UTC)
        table = parts[0] if len(parts) == 1 else pa.concat_tables(parts).combine_chunks()
        self.load_table(table, received_at)
        del table, parts, tables
        _release_unused_memory()

    def process_batch_files(self, encoding: BaseBatchFileEncoding, files: t.Sequence[str]) -> None:
        """BATCH message: each file straight into Arrow (no per-record Python), one load per file, in
        manifest order. While one file loads, the next is read, typed and hashed in a thread: those
        steps run mostly in Arrow's native code, outside the GIL, and change nothing outside. Only
        while the loading file holds less than batch_size_bytes of Arrow memory: two wide files at
        once would double the peak."""
        message = self.current_batch_message or {}
        position = int(message.get(POSITION_KEY) or 0)
        with futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-file") as ahead:

            def prepare(path: str) -> futures.Future[_PreparedBatch]:
                return ahead.submit(self._file_batch, encoding, path, message, position)

            following: futures.Future[_PreparedBatch] | None = None
            for index, path in enumerate(files):
                batch = (following or prepare(path)).result()
                position += batch.read_rows
                after = files[index + 1 : index + 2]
                small = batch.table.nbytes < self._batch_size_bytes
                following = prepare(after[0]) if after and small else None  # else read after this load
                self.record_counter_metric.increment(batch.read_rows)
                self._load_prepared(batch)
                del batch

    def _file_batch(
        self, encoding: BaseBatchFileEncoding, path: str, message: t.Mapping[str, t.Any], position: int
    ) -> _PreparedBatch:
        """One BATCH file read, typed, deduplicated and given its load id; its first row is at `position`."""
        received_at = dt.datetime.now(dt.UTC)
        data = self._read_batch_file(encoding, path)
        table = batches.file_to_table(
            self.stream_name,
            self.plan,
            data,
            first_position=position,
            extracted_at=message.get("time_extracted"),
            table_version=message.get("version"),
            file=path,
        )
        return self._prepare(table, received_at, read_rows=data.num_rows)

    def _read_batch_file(self, encoding: BaseBatchFileEncoding, path: str) -> pa.Table:
        storage = self.batch_config.storage if self.batch_config else None
        head, tail = StorageTarget.split_url(path)
        with (storage or StorageTarget.from_url(head)).open(tail, mode="rb") as file:
            raw = file.read()
        if raw[:2] == b"\x1f\x8b":  # a gzip wrapper, whatever the name says
            raw = gzip.decompress(raw)
        if encoding.format == BatchFileFormat.PARQUET:
            return pq.read_table(pa.BufferReader(raw))
        if encoding.format == BatchFileFormat.JSONL:
            return self._read_jsonl(raw, path)
        raise NotImplementedError(f"unsupported BATCH encoding {encoding.format!r}")

    def _read_jsonl(self, raw: bytes, path: str) -> pa.Table:
        """Scalar columns typed by Arrow's JSON reader; nested ones inferred, then JSON text."""
        explicit = pa.schema(
            [
                pa.field(f.source, _jsonl_read_type(f))
                for f in self.plan.fields
                if f.kind not in ("json", "string")
            ]
        )
        try:
            return pajson.read_json(
                pa.BufferReader(raw),
                parse_options=pajson.ParseOptions(
                    explicit_schema=explicit, unexpected_field_behavior="infer"
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # Mixed types within a column (e.g. numbers in a string column): decode line by line,
            # numbers as Decimal (exact), and type each column like the RECORD path does.
            rows = [
                json.loads(line, parse_float=decimal.Decimal) for line in raw.splitlines() if line.strip()
            ]
            return batches.json_rows_to_table(self.stream_name, self.plan, rows, file=path)

    # --- one load ---------------------------------------------------------------------------------

    def _method_for_this_load(self) -> LoadMethod:
        if self.method != "overwrite":
            return self.method
        # overwrite: the first load of this table in this run replaces the table, later ones append.
        return "overwrite" if self._target.claim_overwrite(self.plan.spec.ref.full_name) else "append-only"

    def ensure_table(self) -> None:
        if not self._table_ready:
            self.engine.ensure_table(self.plan.spec)
            self._table_ready = True

    def load_table(self, table: pa.Table, received_at: dt.datetime) -> None:
        self._load_prepared(self._prepare(table, received_at, read_rows=table.num_rows))

    def _prepare(self, table: pa.Table, received_at: dt.datetime, *, read_rows: int) -> _PreparedBatch:
        """The batch as it will be loaded, and its load id; no side effects (may run in a thread)."""
        if self.method == "upsert":
            table = batches.dedupe_latest(table, self.plan.spec.key_properties, received_at=received_at)
        # overwrite loads are made run-specific: a later run must replace the table again even when
        # its rows are identical, so its appends must not be skipped as "already applied".
        salt = self._target.run_id if self.method == "overwrite" else ""
        load_id = audit.load_id(self.stream_name, table, salt=salt)
        return _PreparedBatch(table, load_id, received_at, read_rows)

    def _load_prepared(self, batch: _PreparedBatch) -> None:
        spec = self.plan.spec
        table, load_id, received_at = batch.table, batch.load_id, batch.received_at
        if table.num_rows < batch.read_rows:
            self.tally_duplicate_merged(batch.read_rows - table.num_rows)
        self.ensure_table()
        method = self._method_for_this_load()
        data = batches.add_batch_columns(
            self.plan, table, load_id=load_id, received_at=received_at, batched_at=dt.datetime.now(dt.UTC)
        )
        data = data.replace_schema_metadata(
            {
                STAGED_META_STREAM: self.stream_name.encode(),
                STAGED_META_TABLE: spec.ref.full_name.encode(),
                STAGED_META_KEYS: orjson.dumps(list(spec.key_properties)),
                STAGED_META_METHOD: method.encode(),
                STAGED_META_SQL_TYPES: orjson.dumps({c.name: c.sql_type for c in spec.columns}),
            }
        )
        run_load(self.engine, Load(load_id, self.stream_name, spec, method, data.num_rows, staged=""), data)

    # --- ACTIVATE_VERSION -------------------------------------------------------------------------

    def activate_version(self, new_version: int) -> None:
        # The new version's rows must be committed before older versions are deleted.
        self._target.drain_one(self)
        self.ensure_table()
        self.engine.activate_version(
            self.plan.spec, new_version, hard_delete=bool(self.config.get("hard_delete", False))
        )


@dataclasses.dataclass(frozen=True)
class _PreparedBatch:
    table: pa.Table  # typed, deduplicated for upserts
    load_id: str
    received_at: dt.datetime
    read_rows: int  # rows before deduplication


def _release_unused_memory() -> None:
    """A load's Arrow memory is freed when its last reference goes (no reference cycle holds it:
    the workspace engine clears the frames of the errors it handles); hand it back to the system."""
    pa.default_memory_pool().release_unused()


def _jsonl_read_type(field: sch.FieldPlan) -> pa.DataType:
    # Dates and timestamps are read as text and parsed by batches (offsets, naive = UTC).
    if field.kind in ("date", "timestamp"):
        return pa.string()
    return field.column.arrow_type

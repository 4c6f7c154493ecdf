"""RECORD messages with only the selected fields, without singer-sdk's per-record selection walk.

singer-sdk's `Stream._generate_record_messages` calls `pop_deselected_record_properties` on every
record (a copy of the record and a selection-mask lookup per field) and the type conformance pass
even when the stream's level is NONE. On booking_lines (~145 fields) the walk alone cost more than
parsing the line. What the walk removes depends only on the catalog's selection, so it is worked out
once per selection: nothing (the usual case), a fixed list of top-level fields, or, when a nested
property is deselected, the SDK's own walk. Output is the SDK's, message for message.

With the tap's writer (message_writer.py) and no stream maps or flattening, a RECORD goes out without
a RecordMessage: the record is encoded straight into the writer's pending block. A stream whose
record loop has nothing to do per record beyond writing it (no bookmark, no child streams, no
post_process) also runs a leaner copy of singer-sdk 0.54.9's `Stream._sync_records`.
"""

from __future__ import annotations

import functools
import typing as t
from dataclasses import dataclass

from singer_sdk import Stream
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.catalog import REPLICATION_INCREMENTAL
from typing_extensions import override

from tap_datev.message_writer import DatevMessageWriter

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from singer_sdk.helpers.types import Context
    from singer_sdk.singerlib import SelectionMask

    _Base = Stream
else:
    _Base = object


@dataclass(frozen=True)
class Deselection:
    """What removing the deselected properties does to any record of one selection."""

    top_level: tuple[str, ...]  # record keys to remove
    nested: bool  # a property inside an object is deselected: only the SDK's walk finds it

    @classmethod
    def of(cls, mask: SelectionMask) -> Deselection:
        # Breadcrumbs: () is the stream, ("properties", name) a field, longer ones nested fields.
        # A field the mask does not name follows the stream's selection (SelectionMask.__missing__).
        off = [crumb for crumb, selected in mask.items() if not selected and crumb]
        return cls(
            top_level=tuple(crumb[1] for crumb in off if len(crumb) == 2),
            nested=any(len(crumb) > 2 for crumb in off),
        )


class SelectedRecordMessages(_Base):
    """For singer-sdk Streams: RECORD messages as the SDK writes them, its selection work done once."""

    _deselection: tuple[SelectionMask, Deselection] | None = None
    # While a record loop writes through DatevMessageWriter.write_record: (writer, stream alias).
    _direct: tuple[DatevMessageWriter, str] | None = None

    def deselection(self) -> Deselection:
        """The current selection's Deselection (the SDK builds a new mask when selection changes)."""
        mask = self.mask
        cached = self._deselection
        if cached is None or cached[0] is not mask:
            cached = self._deselection = (mask, Deselection.of(mask))
        return cached[1]

    @functools.cached_property
    def _only_map_is_identity(self) -> bool:
        # No stream_maps or flattening configured: the one map returns each record as it is.
        maps = self.stream_maps
        return len(maps) == 1 and type(maps[0]) is SameRecordTransform and not maps[0].flattening_enabled

    def _selected_record(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        """The record without its deselected properties, conformed where the stream asks for it."""
        deselection = self.deselection()
        if deselection.nested:
            pop_deselected_record_properties(record, self.schema, self.mask)
        else:
            for name in deselection.top_level:
                record.pop(name, None)
        if self.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE:  # NONE returns the record as is
            record = conform_record_data_types(
                stream_name=self.name,
                record=record,
                schema=self.effective_schema,
                level=self.TYPE_CONFORMANCE_LEVEL,
                logger=self.logger,
            )
        return record

    @override
    def _generate_record_messages(self, record: dict[str, t.Any]) -> Generator[RecordMessage, None, None]:
        # singer-sdk 0.54.9's body with its per-record passes left out where they do nothing:
        # tests/tap/core/test_record_messages.py compares the messages with the SDK's own method.
        record = self._selected_record(record)
        if self._only_map_is_identity:
            yield RecordMessage(
                stream=self.stream_maps[0].stream_alias,
                record=record,
                version=self._stream_version,
                time_extracted=utc_now(),
            )
            return
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped_record,
                    version=self._stream_version,
                    time_extracted=utc_now(),
                )

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        direct = self._direct
        if direct is None:
            super()._write_record_message(record)
            return
        writer, stream = direct
        writer.write_record(stream, self._selected_record(record), self._stream_version)
        self.state_manager.is_flushed = False

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[dict[str, t.Any], t.Any, t.Any]:
        writer = self._tap.message_writer
        if not (write_messages and isinstance(writer, DatevMessageWriter) and self._only_map_is_identity):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        self._direct = (writer, self.stream_maps[0].stream_alias)
        try:
            if self._loop_is_plain():
                yield from self._sync_plain_records(context)
            else:
                yield from super()._sync_records(context, write_messages=True)
        finally:
            self._direct = None
            writer.write_block()  # also when the loop fails: its records go out, as before

    def _loop_is_plain(self) -> bool:
        """The SDK's loop would do nothing per record beyond writing, counting and a STATE every
        STATE_MSG_FREQUENCY records: no bookmark to advance, no child stream, no post_process."""
        return (
            self.selected
            and not self.replication_key
            and self.replication_method != REPLICATION_INCREMENTAL
            and not self.child_streams
            and type(self).post_process is Stream.post_process
        )

    def _sync_plain_records(self, context: Context | None) -> Generator[dict[str, t.Any], t.Any, t.Any]:
        """singer-sdk 0.54.9's `Stream._sync_records` for a selected stream writing messages, less
        what `_loop_is_plain` rules out (tests/tap/booking/test_sync_loop.py compares the output)."""
        assert self._direct is not None
        writer, stream = self._direct
        write_record = writer.write_record
        deselection = self.deselection()  # the selection cannot change during the loop
        conforms = self.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE
        select = self._selected_record if conforms or deselection.nested or deselection.top_level else None
        state = self.state_manager
        frequency = self.STATE_MSG_FREQUENCY
        limit = self.ABORT_AT_RECORD_COUNT  # set before a sync (dry runs), not during one
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        record_index = 0
        context_list = [context] if context is not None else self.partitions
        with record_counter, timer:
            for context_element in context_list or [{}]:
                record_counter.with_context(context_element)
                timer.with_context(context_element)
                current_context = context_element or None
                state_partition_context = self._get_state_partition_context(current_context)
                self._write_starting_replication_value(current_context)
                # What _process_record does without child streams: add the partition's keys
                partition_items = tuple((state_partition_context or {}).items())
                # The tap's streams yield records, never the SDK's deprecated (record, context) tuples.
                records = t.cast("Iterable[dict[str, t.Any]]", self.get_records(current_context))
                for record in records:
                    if limit is not None:
                        self._check_max_record_limit(current_record_index=record_index)
                    for key, value in partition_items:
                        if key not in record:
                            record[key] = value
                    # _stream_version read per record: account_postings sets it per record
                    write_record(stream, record if select is None else select(record), self._stream_version)
                    state.is_flushed = False
                    if (record_index + 1) % frequency == 0:
                        self._write_state_message()
                    record_counter.increment()
                    yield record
                    record_index += 1
                if current_context == state_partition_context:
                    self._finalize_state(self.get_context_state(current_context))
        if not context:
            self._finalize_state(self.stream_state)
        self._write_state_message()

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        # Without child streams the SDK would still copy the context for every record, to sync none.
        if not self.child_streams:
            return ()
        return super().generate_child_contexts(record, context)

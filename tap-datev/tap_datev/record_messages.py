"""RECORD messages with only the selected fields, without singer-sdk's per-record selection walk.

singer-sdk's `Stream._generate_record_messages` calls `pop_deselected_record_properties` on every
record (a copy of the record and a selection-mask lookup per field) and the type conformance pass
even when the stream's level is NONE. On booking_lines (~145 fields) the walk alone cost more than
parsing the line. What the walk removes depends only on the catalog's selection, so it is worked out
once per selection: nothing (the usual case), a fixed list of top-level fields, or, when a nested
property is deselected, the SDK's own walk. Output is the SDK's, message for message.
"""

from __future__ import annotations

import functools
import typing as t
from dataclasses import dataclass

from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from singer_sdk import Stream
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

    @override
    def _generate_record_messages(self, record: dict[str, t.Any]) -> Generator[RecordMessage, None, None]:
        # singer-sdk 0.54.9's body with its per-record passes left out where they do nothing:
        # tests/tap/core/test_record_messages.py compares the messages with the SDK's own method.
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
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        # Without child streams the SDK would still copy the context for every record, to sync none.
        if not self.child_streams:
            return ()
        return super().generate_child_contexts(record, context)

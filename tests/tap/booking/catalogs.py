"""Catalogs of the tap with some streams selected and some of their fields deselected."""

from __future__ import annotations

import typing as t
from collections.abc import Collection

from tap_datev.tap import TapDatev


def selected_catalog(
    config: dict[str, t.Any], streams: Collection[str], deselected: dict[str, set[str]] | None = None
) -> dict[str, t.Any]:
    """The tap's discovered catalog with `streams` selected and the `deselected` fields of each not."""
    catalog = TapDatev(config=config, validate_config=False).catalog_dict
    for entry in catalog["streams"]:
        stream = entry["tap_stream_id"]
        for meta in entry["metadata"]:
            crumb = meta["breadcrumb"]
            if crumb == []:
                meta["metadata"]["selected"] = stream in streams
            elif crumb[-1] in (deselected or {}).get(stream, ()):
                meta["metadata"]["selected"] = False
    return catalog

"""Debug logging is for the plugin's decisions: keep whole configuration schemas out of it.

singer-sdk logs the plugin's entire settings schema at DEBUG each time it validates a config
("Validating config using jsonschema: {...}"); this filter on the plugin's logger drops that line.
"""

from __future__ import annotations

import logging

SDK_SCHEMA_LINE = "Validating config using jsonschema"


class NoConfigSchema(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(SDK_SCHEMA_LINE)


def install(logger_name: str) -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, NoConfigSchema) for f in logger.filters):
        logger.addFilter(NoConfigSchema())

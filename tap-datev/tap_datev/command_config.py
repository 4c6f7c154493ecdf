"""Config for the subcommands (login, logout, submit), read as the Singer command reads it."""

from __future__ import annotations

import typing as t

import click
from singer_sdk.configuration._dict_config import parse_environment_config
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import _ConfigInput

if t.TYPE_CHECKING:
    from collections.abc import Sequence


def load_config(config_args: Sequence[str]) -> dict[str, t.Any]:
    """Config as the Singer command reads it: JSON files and/or `ENV` (TAP_DATEV_* variables).

    Without --config the environment is read, as Meltano sets it for `meltano invoke`. Validated
    against the tap's settings schema.
    """
    from tap_datev.tap import TapDatev  # late: the tap imports the modules that use this one

    parsed = _ConfigInput.from_cli_args(*(config_args or ("ENV",)))
    config = dict(parsed.config)
    if parsed.parse_env:
        config.update(_environment_config())
    try:
        tap = TapDatev(config=config, parse_env_config=False, validate_config=True)
    except ConfigValidationError as exc:
        problems = "; ".join(exc.errors) or str(exc)
        raise click.ClickException(f"Invalid tap-datev config: {problems}") from None
    return dict(tap.config)


def _environment_config() -> dict[str, t.Any]:
    """TAP_DATEV_* variables, typed by the settings schema.

    singer-sdk's own parser leaves `number` settings as strings, which then fail validation
    (Meltano passes every setting of `meltano invoke tap-datev:login` as a variable).
    """
    from tap_datev.tap import TapDatev

    schema = TapDatev.config_jsonschema
    values = parse_environment_config(schema, prefix="TAP_DATEV_")
    for name, value in values.items():
        types = schema["properties"][name].get("type", [])
        if isinstance(value, str) and "number" in types:
            try:
                values[name] = float(value)
            except ValueError:
                raise click.ClickException(
                    f"TAP_DATEV_{name.upper()} must be a number, not {value!r}"
                ) from None
    return values


config_option = click.option(
    "--config",
    "config_args",
    multiple=True,
    metavar="PATH|ENV",
    help="Config JSON file (repeatable, later files win) or ENV for TAP_DATEV_* variables "
    "(the default when no --config is given).",
)

"""`target-databricks`: the Singer target, plus `replay` and `maintain`.

singer-sdk's `Target.cli` takes options only, so the console script is a click group whose default
command is that Singer command: `target-databricks --config c.json` runs the target (as Meltano calls
it), `target-databricks replay|maintain ...` the maintenance commands, `target-databricks --help`
lists all three.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import typing as t
from pathlib import Path

import click
import orjson
from singer_sdk.configuration._dict_config import parse_environment_config

from target_databricks import audit
from target_databricks.check import check
from target_databricks.engines import make_engine
from target_databricks.engines.base import (
    STAGED_META_KEYS,
    STAGED_META_METHOD,
    STAGED_META_SQL_TYPES,
    Column,
    Engine,
    LedgerEntry,
    Load,
    LoadMethod,
    TableRef,
    TableSpec,
)
from target_databricks.errors import SettingsError, UserError
from target_databricks.settings import DEFAULT_VACUUM_RETENTION_HOURS, target_catalog, target_schema

SINGER_COMMAND = "singer"
logger = logging.getLogger("target-databricks")


def load_config(config: t.Sequence[str]) -> dict[str, t.Any]:
    """The same config the target would see: files merged in order, and/or ENV (TARGET_DATABRICKS_*).

    Without --config the environment is read, as Meltano sets it for `meltano invoke
    target-databricks:replay`.
    """
    from target_databricks.target import TargetDatabricks

    config = config or ("ENV",)
    merged: dict[str, t.Any] = {}
    for path in (c for c in config if c != "ENV"):
        merged.update(_read_config_file(Path(path)))
    # singer-sdk logs a line per setting read from the environment (and one about skipping it):
    # the maintenance commands keep their output to what they did.
    with _quiet(_SDK_ENV_LOGGER, TargetDatabricks.name):
        if "ENV" in config:
            merged.update(_environment_config(TargetDatabricks.config_jsonschema))
        target = TargetDatabricks(
            config=merged, parse_env_config=False, validate_config=True, setup_mapper=False
        )
    return dict(target.config)


_SDK_ENV_LOGGER = "singer_sdk.configuration._dict_config"


@contextlib.contextmanager
def _quiet(*names: str) -> t.Iterator[None]:
    """Only warnings and errors from these loggers while inside."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(max(log.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def _read_config_file(path: Path) -> dict[str, t.Any]:
    try:
        value = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise SettingsError(f"config file {path}: cannot read it ({exc.strerror}); check --config") from exc
    except orjson.JSONDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid JSON ({exc}); fix the file") from exc
    if not isinstance(value, dict):
        raise SettingsError(f"config file {path} must hold a JSON object of settings")
    return value


def _environment_config(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """TARGET_DATABRICKS_* variables typed by the settings schema (singer-sdk leaves numbers as text)."""
    values = parse_environment_config(schema, prefix="TARGET_DATABRICKS_")
    for name, value in values.items():
        if isinstance(value, str) and "number" in schema["properties"][name].get("type", []):
            try:
                values[name] = float(value)
            except ValueError:
                message = f"TARGET_DATABRICKS_{name.upper()} must be a number, not {value!r}"
                raise SettingsError(message) from None
    return values


def _spec_from_staged(engine: Engine, staged: str, entry: LedgerEntry) -> tuple[TableSpec, LoadMethod]:
    """The table spec and load method the staged file of `entry` was written for (its metadata)."""
    schema = engine.read_staged(staged).schema
    meta = schema.metadata or {}
    catalog, schema_name, name = entry.table.split(".")
    sql_types = orjson.loads(meta[STAGED_META_SQL_TYPES])
    columns = tuple(Column(f.name, sql_types.get(f.name, "STRING"), f.type) for f in schema)
    keys = tuple(orjson.loads(meta.get(STAGED_META_KEYS, b"[]")))
    method = meta.get(STAGED_META_METHOD, entry.method.encode()).decode()
    return TableSpec(TableRef(catalog, schema_name, name), columns, keys), t.cast(LoadMethod, method)


def replay(engine: Engine, *, load_id: str | None = None) -> list[str]:
    """Re-apply failed or staged-but-never-committed loads from their staged files, as a new attempt.

    Safe in any order: upserts replace a row only with a newer version, appends are applied at most
    once per load id. Returns a line per load for the log.
    """
    from target_databricks.loads import run_load

    entries = engine.ledger_read()
    current = audit.current_loads(entries)
    attempts: dict[str, int] = {}
    for e in entries:
        attempts[e.load_id] = max(attempts.get(e.load_id, 0), e.attempt)
    if load_id is not None:
        if load_id not in current:
            raise UserError(
                f"load {load_id} is not in the ledger: check --load-id (the load_id column of "
                "_ml_connector_loads_current)"
            )
        todo = [current[load_id]]
    else:
        todo = [e for e in current.values() if audit.needs_replay(e)]
    lines: list[str] = []
    for entry in sorted(todo, key=lambda e: e.recorded_at):
        staged = entry.staged_file
        if not staged:
            lines.append(f"{entry.load_id}: no staged file recorded, cannot replay")
            continue
        try:
            spec, method = _spec_from_staged(engine, staged, entry)
        except FileNotFoundError:
            lines.append(f"{entry.load_id}: staged file {staged} is gone, cannot replay")
            continue
        engine.ensure_table(spec)
        attempt = attempts[entry.load_id] + 1
        load = Load(entry.load_id, entry.stream, spec, method, entry.rows, staged, attempt)
        applied = run_load(engine, load, None)
        outcome = "already committed, skipped" if applied is None else f"committed {applied.rows} rows"
        lines.append(f"{entry.load_id} ({entry.table}, attempt {load.attempt}): {outcome}")
    return lines


def maintain(engine: Engine, *, retention_hours: int) -> list[str]:
    """Compact + vacuum every table the ledger knows (and the ledger itself)."""
    refs = sorted({e.table for e in engine.ledger_read()})
    table_refs = [TableRef(*name.split(".")) for name in refs]
    return engine.maintain(table_refs, vacuum_retention_hours=retention_hours)


config_option = click.option(
    "--config",
    "config",
    multiple=True,
    default=(),
    help="Config JSON file (repeatable, merged in order), or ENV for TARGET_DATABRICKS_* variables.",
)


class _SingerByDefault(click.Group):
    """Runs the Singer command unless the first argument names a subcommand (or is --help)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args[:1] != ["--help"] and (not args or args[0] not in self.list_commands(ctx)):
            args = [SINGER_COMMAND, *args]
        return super().parse_args(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == SINGER_COMMAND:  # imported on use: replay/maintain do not need it first
            from target_databricks.target import TargetDatabricks

            return TargetDatabricks.cli
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [SINGER_COMMAND, *super().list_commands(ctx)]


@click.group(name="target-databricks", cls=_SingerByDefault)
def group() -> None:
    """target-databricks: without a subcommand (or with `singer`), the Singer target reads
    messages from stdin (--config, --input, --about, --version); `replay` and `maintain` are the
    maintenance commands Meltano declares as `commands:`."""


def _log_to_stderr() -> None:
    """Like the Singer command: INFO unless TARGET_DATABRICKS_LOGLEVEL (or LOGLEVEL) says otherwise."""
    level = os.environ.get("TARGET_DATABRICKS_LOGLEVEL") or os.environ.get("LOGLEVEL") or "INFO"
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(message)s")


def _on_engine(cfg: t.Mapping[str, t.Any], work: t.Callable[[Engine], list[str]]) -> list[str]:
    """`work` on the configured engine, pre-flight checked and closed afterwards."""
    engine = make_engine(cfg)
    engine.preflight()
    try:
        return work(engine)
    finally:
        engine.close()


@group.command(name="replay")
@config_option
@click.option("--load-id", default=None, help="Replay only this load (else every failed/uncommitted one).")
def replay_command(config: tuple[str, ...], load_id: str | None) -> None:
    """Re-apply failed or staged-but-uncommitted loads from their staged files."""
    _log_to_stderr()
    cfg = load_config(config)
    lines = _on_engine(cfg, lambda engine: replay(engine, load_id=load_id))
    for line in lines or [f"nothing to replay in {target_catalog(cfg)}.{target_schema(cfg)}"]:
        click.echo(line)


@group.command(name="maintain")
@config_option
@click.option("--retention-hours", type=int, default=None, help="Override vacuum_retention_hours.")
def maintain_command(config: tuple[str, ...], retention_hours: int | None) -> None:
    """Compact (OPTIMIZE) and VACUUM the target's tables."""
    _log_to_stderr()
    cfg = load_config(config)
    hours = retention_hours
    if hours is None:
        hours = int(cfg.get("vacuum_retention_hours", DEFAULT_VACUUM_RETENTION_HOURS))
    lines = _on_engine(cfg, lambda engine: maintain(engine, retention_hours=hours))
    for line in lines or ["no tables to maintain"]:
        click.echo(line)


group.add_command(check)


def main(argv: t.Sequence[str] | None = None) -> None:
    """Every command; a failure the user must fix ends the process with one ERROR line (exit 1),
    its traceback only at DEBUG. Any other exception is a bug and keeps its traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        group.main(args=args, prog_name="target-databricks")
    except Exception as exc:
        message = user_error_message(exc)
        if message is None:
            raise
        if not logging.getLogger().handlers:  # failed before a command set logging up
            _log_to_stderr()
        logger.debug("Traceback of the error below:", exc_info=exc)
        logger.error("%s", message)
        sys.exit(1)


def user_error_message(exc: BaseException) -> str | None:
    """The one line for a failure the user must fix, or None for anything else (a bug)."""
    if isinstance(exc, UserError):
        text = str(exc)
    else:
        from databricks.sdk.errors import DatabricksError, PermissionDenied, Unauthenticated

        if not isinstance(exc, (PermissionDenied, Unauthenticated)):
            return None
        # An API refusal the engines have no more specific advice for (e.g. a table privilege).
        fix = (
            "grant the principal the privilege it names"
            if isinstance(exc, PermissionDenied)
            else "check host and credentials"
        )
        code = t.cast(DatabricksError, exc).error_code or type(exc).__name__
        text = f"Databricks refused a request ({code}): {exc}. Fix: {fix}."
    return " ".join(text.split())


if __name__ == "__main__":
    main()

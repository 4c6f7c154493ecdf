"""`target-databricks`: the Singer target, plus `replay` and `maintain`.

singer-sdk's `Target.cli` takes options only, so the console script is a click group whose default
command is that Singer command: `target-databricks --config c.json` runs the target (as Meltano calls
it), `target-databricks replay|maintain ...` the maintenance commands, `target-databricks --help`
lists all three.
"""

from __future__ import annotations

import logging
import sys
import typing as t
from pathlib import Path

import click
import orjson
from singer_sdk.configuration._dict_config import parse_environment_config

from target_databricks import audit
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
from target_databricks.settings import DEFAULT_VACUUM_RETENTION_HOURS, target_catalog, target_schema

SINGER_COMMAND = "singer"


def load_config(config: t.Sequence[str]) -> dict[str, t.Any]:
    """The same config the target would see: files merged in order, and/or ENV (TARGET_DATABRICKS_*).

    Without --config the environment is read, as Meltano sets it for `meltano invoke
    target-databricks:replay`.
    """
    from target_databricks.target import TargetDatabricks

    config = config or ("ENV",)
    merged: dict[str, t.Any] = {}
    for path in (c for c in config if c != "ENV"):
        merged.update(orjson.loads(Path(path).read_bytes()))
    if "ENV" in config:
        merged.update(_environment_config(TargetDatabricks.config_jsonschema))
    target = TargetDatabricks(config=merged, parse_env_config=False, validate_config=True, setup_mapper=False)
    return dict(target.config)


def _environment_config(schema: dict[str, t.Any]) -> dict[str, t.Any]:
    """TARGET_DATABRICKS_* variables typed by the settings schema (singer-sdk leaves numbers as text)."""
    values = parse_environment_config(schema, prefix="TARGET_DATABRICKS_")
    for name, value in values.items():
        if isinstance(value, str) and "number" in schema["properties"][name].get("type", []):
            try:
                values[name] = float(value)
            except ValueError:
                message = f"TARGET_DATABRICKS_{name.upper()} must be a number, not {value!r}"
                raise click.ClickException(message) from None
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
            raise click.ClickException(f"load {load_id} is not in the ledger")
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
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")


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


def main(argv: t.Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    group.main(args=args, prog_name="target-databricks")


if __name__ == "__main__":
    main()

"""Helpers for the target tests: build Singer input, run the target in-process or as a process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pyarrow as pa

from target_databricks import failpoints
from target_databricks.engines.base import TableRef
from target_databricks.engines.local import LocalEngine
from target_databricks.target import TargetDatabricks

REPO = Path(__file__).resolve().parents[2]


def config(tmp_path: Path, **extra: t.Any) -> dict[str, t.Any]:
    return {"local_path": str(tmp_path / "lake"), "catalog": "main", "schema": "datev", **extra}


def schema_msg(stream: str, properties: dict[str, t.Any], keys: list[str] | None = None) -> dict[str, t.Any]:
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": keys or [],
    }


def record_msg(
    stream: str, record: dict[str, t.Any], time_extracted: str | None = None, **extra: t.Any
) -> dict:
    msg: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record, **extra}
    if time_extracted:
        msg["time_extracted"] = time_extracted
    return msg


def state_msg(value: dict[str, t.Any]) -> dict[str, t.Any]:
    return {"type": "STATE", "value": value}


def lines(messages: t.Iterable[dict[str, t.Any]]) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


def run(cfg: dict[str, t.Any], messages: t.Iterable[dict[str, t.Any]] | str) -> TargetDatabricks:
    """Run the target in-process over the messages (as if from stdin)."""
    text = messages if isinstance(messages, str) else lines(messages)
    target = TargetDatabricks(config=cfg)
    target.listen(io.StringIO(text))
    return target


def engine(cfg: dict[str, t.Any]) -> LocalEngine:
    return LocalEngine(cfg)


def read(cfg: dict[str, t.Any], table: str) -> pa.Table:
    return engine(cfg).read_table(TableRef("main", cfg.get("schema", "datev"), table))


def rows_by(cfg: dict[str, t.Any], table: str, key: str = "id") -> dict[t.Any, dict[str, t.Any]]:
    return {r[key]: r for r in read(cfg, table).to_pylist()}


def run_process(
    config_path: Path, input_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`target-databricks --config … < input` as a real process (the crash tests kill it)."""
    with input_path.open("rb") as stdin:
        return run_cli("--config", str(config_path), *args, stdin=stdin, env=env, timeout=timeout)


def run_cli(
    *args: str, stdin: t.IO[bytes] | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`target-databricks ARGS` as a process; a failpoint only when `env` sets one."""
    full_env = {k: v for k, v in os.environ.items() if k != failpoints.ENV}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "target_databricks.cli", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )

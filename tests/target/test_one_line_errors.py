"""A failure the user must fix ends every command (Singer, `replay`, `maintain`) with one ERROR line
saying what, where and what to do; the traceback only at DEBUG. `replay` and `maintain` print no
line per setting read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

from cli_testlib import error_line, write_json, write_lines
from target_testlib import config, record_msg, run, run_cli, schema_msg

PROPS = {"id": {"type": "integer"}, "v": {"type": ["integer", "null"]}}


def _env(**values: str) -> dict[str, str]:
    """The test's environment without TARGET_DATABRICKS_* settings, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TARGET_DATABRICKS_")}
    env.pop("LOGLEVEL", None)
    return {**env, **values}


def test_singer_command_invalid_setting_is_one_line(tmp_path: Path) -> None:
    cfg = write_json(tmp_path / "c.json", config(tmp_path, engine="spark"))
    messages = write_lines(tmp_path / "in.singer", [schema_msg("t", PROPS, ["id"])])
    with messages.open("rb") as stdin:
        result = run_cli("--config", str(cfg), stdin=stdin, env=_env())
    error_line(result, "invalid target settings:", "'spark' is not one of ['local', 'workspace']", "engine")


def test_replay_missing_config_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = run_cli("replay", "--config", str(missing), env=_env())
    error_line(result, f"config file {missing}: cannot read it (No such file or directory)")


def test_maintain_bad_setting_from_the_environment_is_one_line(tmp_path: Path) -> None:
    env = _env(TARGET_DATABRICKS_LOCAL_PATH=str(tmp_path / "lake"), TARGET_DATABRICKS_SCHEMA="raw.datev")
    result = run_cli("maintain", "--config", "ENV", env=env)
    error_line(result, "schema 'raw.datev' is not a Unity Catalog name: it has a period")


def test_maintenance_commands_print_no_line_per_environment_setting(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    run(cfg, [schema_msg("t", PROPS, ["id"]), record_msg("t", {"id": 1, "v": 1})])
    env = _env(
        TARGET_DATABRICKS_LOCAL_PATH=cfg["local_path"],
        TARGET_DATABRICKS_CATALOG="main",
        TARGET_DATABRICKS_SCHEMA="datev",
        TARGET_DATABRICKS_BATCH_SIZE_ROWS="10",
    )
    for command in ("replay", "maintain"):
        result = run_cli(command, "--config", "ENV", env=env)
        assert result.returncode == 0, result.stderr
        assert "TARGET_DATABRICKS_" not in result.stderr, result.stderr
        assert "env var" not in result.stderr, result.stderr


def test_the_traceback_is_shown_at_debug_only(tmp_path: Path) -> None:
    cfg = write_json(tmp_path / "c.json", config(tmp_path, catalog="my catalog"))
    messages = write_lines(tmp_path / "in.singer", [schema_msg("t", PROPS, ["id"])])
    with messages.open("rb") as stdin:
        quiet = run_cli("--config", str(cfg), stdin=stdin, env=_env())
    error_line(quiet, "catalog 'my catalog' is not a Unity Catalog name")
    with messages.open("rb") as stdin:
        debug = run_cli("--config", str(cfg), stdin=stdin, env=_env(TARGET_DATABRICKS_LOGLEVEL="DEBUG"))
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    assert "catalog 'my catalog' is not a Unity Catalog name" in debug.stderr
    replayed = run_cli("replay", "--config", str(cfg), env=_env(TARGET_DATABRICKS_LOGLEVEL="DEBUG"))
    assert replayed.returncode == 1 and "Traceback" in replayed.stderr


def test_a_databricks_refusal_without_specific_advice_is_one_line_with_a_fix() -> None:
    from databricks.sdk.errors import PermissionDenied

    from target_databricks.cli import user_error_message

    refusal = PermissionDenied(
        "User does not have MODIFY on Table 'main.datev.t'.\nRequest id 1", error_code="PERMISSION_DENIED"
    )
    assert user_error_message(refusal) == (
        "Databricks refused a request (PERMISSION_DENIED): User does not have MODIFY on Table "
        "'main.datev.t'. Request id 1. Fix: grant the principal the privilege it names."
    )
    assert user_error_message(KeyError("a bug")) is None  # keeps its traceback

"""`target-databricks` command line: the Singer target, `replay`, `maintain`, settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from deltalake import DeltaTable
from target_testlib import config, read, record_msg, run, run_cli, schema_msg

from target_databricks import settings
from target_databricks.target import TargetDatabricks

PROPS = {"id": {"type": "integer"}, "v": {"type": "integer"}}


def _small_loads(cfg: dict, n: int = 4) -> None:
    for i in range(n):  # one commit (one file) per run
        run(
            cfg,
            [
                schema_msg("t", PROPS, ["id"]),
                record_msg("t", {"id": i, "v": i}, f"2024-01-0{i + 1}T00:00:00Z"),
            ],
        )


def test_maintain_compacts_and_vacuums(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    _small_loads(cfg)
    cfg_path = tmp_path / "c.json"
    cfg_path.write_text(json.dumps(cfg))
    path = tmp_path / "lake" / "main" / "datev" / "t"
    assert len(DeltaTable(str(path)).file_uris()) == 4
    result = run_cli("maintain", "--config", str(cfg_path), "--retention-hours", "0")
    assert result.returncode == 0, result.stderr
    assert "main.datev.t: compacted 4 files into 1" in result.stdout
    assert len(DeltaTable(str(path)).file_uris()) == 1
    assert len(list(path.glob("*.parquet"))) == 1  # vacuum removed the compacted-away files
    assert sorted(read(cfg, "t").column("id").to_pylist()) == [0, 1, 2, 3]


def test_replay_reads_config_from_env(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    _small_loads(cfg, 1)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TARGET_DATABRICKS_")},
        "TARGET_DATABRICKS_LOCAL_PATH": cfg["local_path"],
        "TARGET_DATABRICKS_SCHEMA": "datev",
    }
    result = subprocess.run(
        [sys.executable, "-m", "target_databricks.cli", "replay", "--config", "ENV"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "nothing to replay in main.datev"


def test_console_script_is_a_group_running_the_singer_command_by_default(tmp_path: Path) -> None:
    helped = run_cli("--help")
    assert helped.returncode == 0, helped.stderr
    commands = helped.stdout.split("Commands:")[1].split()
    assert {"singer", "replay", "maintain"} <= set(commands)
    cfg = config(tmp_path)
    cfg_path, input_path = tmp_path / "c.json", tmp_path / "in.singer"
    cfg_path.write_text(json.dumps(cfg))
    messages = [schema_msg("t", PROPS, ["id"]), record_msg("t", {"id": 7, "v": 1})]
    input_path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    for args in (
        ["--config", str(cfg_path), "--input", str(input_path)],
        ["singer", "--input", str(input_path), "--config", str(cfg_path)],
    ):
        ran = run_cli(*args)
        assert ran.returncode == 0, ran.stderr
    assert read(cfg, "t").column("id").to_pylist() == [7]
    about = run_cli("--about", "--format", "json")
    assert about.returncode == 0 and json.loads(about.stdout)["name"] == "target-databricks"


def test_target_about_lists_settings_without_secrets_defaults() -> None:
    result = run_cli("--about", "--format", "json")
    assert result.returncode == 0, result.stderr
    about = json.loads(result.stdout)
    props = about["settings"]["properties"]
    assert "default" not in props["load_method"]  # unset: upsert with keys, append-only without
    assert props["validate_records"]["default"] is False
    assert props["batch_size_rows"]["default"] == settings.DEFAULT_BATCH_SIZE_ROWS
    assert props["client_secret"].get("secret") is True and props["token"].get("secret") is True
    for name in (
        "engine",
        "catalog",
        "schema",
        "local_path",
        "hard_delete",
        "vacuum_retention_hours",
        "host",
        "http_path",
        "warehouse_id",
        "auth_type",
        "client_id",
        "profile",
        "credentials_path",
        "credentials_key_env",
        "credentials_entry",
        "create_catalog",
        "staging_volume",
        "load_via",
        "warehouse_start_timeout_seconds",
        "statement_timeout_seconds",
        "jobs_workspace_dir",
    ):
        assert name in props, name
    assert {"activate-version", "batch", "hard-delete", "soft-delete"} <= set(about["capabilities"])


def test_load_method_and_schema_rules() -> None:
    assert settings.load_method_for({}, ["id"]) == "upsert"
    assert settings.load_method_for({}, []) == "append-only"
    assert settings.load_method_for({"load_method": "upsert"}, []) == "append-only"
    assert settings.load_method_for({"load_method": "append-only"}, ["id"]) == "append-only"
    assert settings.load_method_for({"load_method": "overwrite"}, []) == "overwrite"
    assert settings.target_schema({"schema": "datev", "default_target_schema": "raw"}) == "raw"
    target = TargetDatabricks(config={"local_path": "/nonexistent"}, setup_mapper=False)
    assert "load_method" not in target.config  # singer-sdk's append-only default did not win
    assert target.config["schema"] == "datev" and target.config["engine"] == "local"


def test_default_target_schema_is_honoured(tmp_path: Path) -> None:
    cfg = config(tmp_path, default_target_schema="Raw_Data")  # as written, lower case
    run(cfg, [schema_msg("t", PROPS, ["id"]), record_msg("t", {"id": 1, "v": 1})])
    assert (tmp_path / "lake" / "main" / "raw_data" / "t" / "_delta_log").is_dir()


def test_make_engine_choices() -> None:
    from target_databricks.engines import make_engine
    from target_databricks.engines.base import EngineError
    from target_databricks.engines.local import LocalEngine

    assert isinstance(make_engine({"local_path": "/tmp/x"}), LocalEngine)
    try:
        make_engine({"engine": "spark"})
    except EngineError as exc:
        assert "unknown engine 'spark'" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected EngineError")

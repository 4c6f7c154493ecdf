"""The README's "Use it from your own Meltano project", followed in a new Meltano project.

`meltano init` in a temporary folder, both plugins added from this checkout by the README's
`meltano add --from-ref` lines, `meltano install` (Meltano's uv backend, from the package registry,
pinned by constraints.txt), configured with `meltano config set`, then `meltano invoke
tap-datev:login` and `meltano run tap-datev target-databricks` against the DATEV emulator into
local Delta tables, read back.
"""

from __future__ import annotations

import json
import re
import subprocess
import typing as t
from pathlib import Path

import pytest
import yaml
from deltalake import DeltaTable
from meltano_testlib import BIN, KEY_ENV, REPO, clean_env, login, meltano

from ml_credentials import generate_key
from target_databricks.engines.local import read_delta_table

pytestmark = pytest.mark.slow

ADD_LINES = [
    "meltano add --plugin-type extractor tap-datev --from-ref $ML_CONNECTOR_SRC/tap-datev/meltano-plugin.yml",
    "meltano add --plugin-type loader target-databricks"
    " --from-ref $ML_CONNECTOR_SRC/target-databricks/meltano-plugin.yml",
]
DEMO_CLIENTS = ["29098-55003", "29098-55004", "29098-55005"]


def test_the_readme_recipe_adds_installs_logs_in_and_runs(tmp_path: Path, datev_emulator: t.Any) -> None:
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").replace("\\\n", " ").split())
    for line in ADD_LINES:
        assert line in readme, f"the README no longer says: {line}"

    env = clean_env(ML_CONNECTOR_SRC=str(REPO), **{KEY_ENV: generate_key()})
    meltano(tmp_path, "init", "--no-usage-stats", "project", env=env)
    project = tmp_path / "project"
    for line in ADD_LINES:
        args = line.replace("$ML_CONNECTOR_SRC", str(REPO)).split()[1:]
        meltano(project, *args, "--no-install", env=env)
    meltano(project, "install", env=env, timeout=600)
    for venv in (".meltano/extractors/tap-datev/venv", ".meltano/loaders/target-databricks/venv"):
        assert (project / venv / "bin").is_dir(), f"meltano install made no {venv}"

    for setting, value in [
        ("environment", "local"),
        ("base_url", datev_emulator.url),
        ("client_id", "ml-connector-demo"),
        ("redirect_uri", "http://127.0.0.1:0/callback"),
        ("client_ids", json.dumps(DEMO_CLIENTS)),
    ]:
        meltano(project, "config", "set", "tap-datev", setting, value, env=env)
    definition = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8"))
    (tap,) = definition["plugins"]["extractors"]
    assert tap["pip_url"].startswith("-c ${ML_CONNECTOR_SRC}/constraints.txt")
    assert set(tap["commands"]) == {"login", "logout", "submit", "check"}

    # Before the login the run fails; with structured-logging Meltano shows the tap's error as an error.
    failed = subprocess.run(
        [str(BIN / "meltano"), "run", "tap-datev", "target-databricks"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failed.returncode != 0
    error_line = r"\[error +\] tap-datev +Not logged in to DATEV yet.*meltano invoke tap-datev:login"
    assert re.search(error_line, failed.stderr), failed.stderr[-4000:]

    login(project, env=env)
    checked = meltano(project, "invoke", "tap-datev:check", env=env)
    assert "ok   data services" in checked.stdout
    checked = meltano(project, "invoke", "target-databricks:check", env=env)
    assert "ok   local Delta tables" in checked.stdout
    meltano(project, "run", "tap-datev", "target-databricks", env=env, timeout=600)

    clients = read_delta_table(DeltaTable(str(project / ".lake" / "main" / "datev" / "clients")))
    assert sorted(clients.column("id").to_pylist()) == DEMO_CLIENTS
    state = meltano(project, "state", "get", "dev:tap-datev-to-target-databricks", env=env)
    assert "clients" in json.loads(state.stdout)["singer_state"]["bookmarks"]

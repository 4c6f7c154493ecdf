"""Scheduling recipes run unattended, and overlapping runs do not make a second writer.

The README's cron line runs under `env -i` (cron's environment is about as empty) against the demo
environment; the systemd units pass `systemd-analyze verify`; the Airflow DAG loads in Airflow's own
virtualenv; the DAG, the systemd service and the cron line run the same command on meltano.yml's
schedule. The debug logging config keeps records out of the log. A second `meltano run` while one
is running is refused by Meltano, and a second tap-datev sync on the same state_dir stops at once.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import time
import typing as t
from pathlib import Path

import pytest
import yaml
from deltalake import DeltaTable
from meltano_testlib import BIN, KEY_ENV, REPO, clean_env

from target_databricks.engines.local import read_delta_table

INSTALLED_AT = "/opt/ml-connector"
DEMO_CLIENTS = ["29098-55003", "29098-55004", "29098-55005"]
CLIENTS_API = "/accounting-clients/"
SCHEDULE = yaml.safe_load((REPO / "meltano.yml").read_text(encoding="utf-8"))["schedules"][0]


def cron_line() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```cron\n(.*?)```", readme, flags=re.DOTALL)
    (line,) = block.strip().splitlines()
    return line


def systemd_unit(name: str) -> dict[str, str]:
    text = (REPO / "deploy" / name).read_text(encoding="utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def airflow_dag() -> tuple[dict[str, t.Any], ast.Module]:
    """The DAG file's constants (PROJECT, SCHEDULE, COMMAND) and its syntax tree; Airflow is not
    installed here, so the file is parsed rather than imported."""
    tree = ast.parse((REPO / "deploy" / "airflow" / "ml_connector_dag.py").read_text(encoding="utf-8"))
    constants: dict[str, t.Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                constants[name] = eval(compile(ast.Expression(node.value), "dag", "eval"), {}, constants)
    return constants, tree


def wait_for_first_fault(emulator: t.Any, fault_id: str, armed: int, run: subprocess.Popen[str]) -> None:
    """Until the emulator has answered the first request the armed fault matches: the run is busy
    (or the run has ended, which the caller's assertions then report)."""
    while run.poll() is None and any(
        f["id"] == fault_id and f["count"] == armed for f in emulator.control.faults.list()
    ):
        time.sleep(0.1)


def test_the_recipes_run_one_command_on_meltanos_schedule() -> None:
    minute, hour, day, month, weekday, command = cron_line().split(maxsplit=5)
    assert " ".join([minute, hour, day, month, weekday]) == SCHEDULE["interval"]
    cron_command = command.split(" >> ", 1)[0]

    constants, tree = airflow_dag()
    assert constants["SCHEDULE"] == SCHEDULE["interval"]
    assert constants["COMMAND"] == cron_command
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    (task,) = [n for n in calls if getattr(n.func, "id", "") == "BashOperator"]
    assert {k.arg: getattr(k.value, "id", None) for k in task.keywords}["bash_command"] == "COMMAND"

    service = systemd_unit("ml-connector.service")
    executable, args = service["ExecStart"].split(" ", 1)
    systemd_command = f"cd {service['WorkingDirectory']} && {service['Environment']} meltano {args}"
    assert systemd_command == cron_command
    assert executable == f"{INSTALLED_AT}/.venv/bin/meltano"
    assert systemd_unit("ml-connector.timer")["OnCalendar"] == "Mon..Fri *-*-* 07..19:00:00"
    assert SCHEDULE["interval"] == "0 7-19 * * 1-5", "change OnCalendar with the schedule"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path: Path) -> None:
    root = tmp_path / "ml-connector"
    (root / ".venv").mkdir(parents=True)
    (root / ".venv" / "bin").symlink_to(BIN)
    for name in ("ml-connector.service", "ml-connector.timer"):
        text = (REPO / "deploy" / name).read_text(encoding="utf-8").replace(INSTALLED_AT, str(root))
        (tmp_path / name).write_text(text, encoding="utf-8")
    units = [str(tmp_path / "ml-connector.service"), str(tmp_path / "ml-connector.timer")]
    result = subprocess.run(
        ["systemd-analyze", "verify", *units],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_the_readme_cron_line_runs_under_env_i(demo_project: Path) -> None:
    command = cron_line().split(maxsplit=5)[5]
    log = demo_project / "ml-connector.log"
    command = (
        command.replace(INSTALLED_AT, str(demo_project))
        .replace("--environment prod", "--environment demo")
        .replace("/var/log/ml-connector.log", str(log))
    )
    result = subprocess.run(
        ["env", "-i", "/bin/sh", "-c", command], check=False, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, log.read_text(encoding="utf-8")[-6000:]
    clients = read_delta_table(DeltaTable(str(demo_project / ".lake" / "ml_connector" / "datev" / "clients")))
    assert sorted(clients.column("id").to_pylist()) == DEMO_CLIENTS
    # What an operator reads at INFO: progress per stream and table, one summary line per table.
    output = log.read_text(encoding="utf-8")
    assert re.search(r"tap-datev +clients: 3 rows so far \([\d,]+ rows/s\)", output), output[-4000:]
    assert re.search(r"target-databricks +clients: 3 rows received so far \([\d,]+ rows/s\)", output)
    summary = r"Summary ml_connector.datev.clients: 3 inserted, 0 updated, 0 deleted in 1 load\(s\), [\d.]+ s"
    assert re.search(summary, output)


@pytest.mark.slow
def test_meltano_refuses_a_second_run_while_one_is_running(demo_project: Path, datev_emulator: t.Any) -> None:
    env = clean_env(PATH=f"{BIN}:/usr/bin:/bin")
    # DATEV answers 503 + Retry-After until the second run is over: the first waits in its backoff.
    fault = datev_emulator.control.arm_fault(status=503, count=20, retry_after=2, path_prefix=CLIENTS_API)
    run = ["meltano", "--environment", "demo", "run", "datev-to-databricks"]
    first = subprocess.Popen(
        run, cwd=demo_project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for_first_fault(datev_emulator, fault.id, 20, first)
        second = subprocess.run(
            run, check=False, cwd=demo_project, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        datev_emulator.control.clear_faults()
        output, _ = first.communicate(timeout=300)
    assert second.returncode != 0
    assert "Another 'demo:tap-datev-to-target-databricks' pipeline is already running" in second.stderr
    assert first.returncode == 0, output[-6000:]


def test_a_second_tap_sync_on_the_same_state_dir_stops_at_once(
    tmp_path: Path, datev_emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_credentials import generate_key
    from tap_datev.login import login

    monkeypatch.setenv(KEY_ENV, generate_key())
    config = {
        "environment": "local",
        "base_url": datev_emulator.url,
        "client_id": "ml-connector-demo",
        "redirect_uri": "http://127.0.0.1:0/callback",
        "state_dir": str(tmp_path / "state"),
        "backoff_base_seconds": 0.5,
    }
    login(config, open_url=lambda url: __import__("requests").get(url, timeout=30).raise_for_status())
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    tap = [str(BIN / "tap-datev"), "--config", str(config_file)]
    env = clean_env()

    fault = datev_emulator.control.arm_fault(status=503, count=20, retry_after=2, path_prefix=CLIENTS_API)
    first = subprocess.Popen(tap, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_first_fault(datev_emulator, fault.id, 20, first)
        second = subprocess.run(tap, check=False, env=env, capture_output=True, text=True, timeout=120)
    finally:
        datev_emulator.control.clear_faults()
        _, first_log = first.communicate(timeout=300)
    assert second.returncode == 1
    assert second.stdout == "", "the second tap wrote Singer messages"
    errors = [line for line in second.stderr.splitlines() if "ERROR" in line or "Traceback" in line]
    (error,) = errors
    assert f"Another tap-datev sync is running on state_dir {tmp_path / 'state'}" in error
    assert first.returncode == 0, first_log[-4000:]


@pytest.mark.slow
def test_the_debug_logging_config_keeps_records_out_of_the_log(demo_project: Path) -> None:
    env = clean_env(PATH=f"{BIN}:/usr/bin:/bin")
    run = ["meltano", "--environment", "demo", "run", "tap-datev", "target-databricks"]

    def log_of(*options: str) -> str:
        command = [run[0], *options, *run[1:]]
        result = subprocess.run(
            command, cwd=demo_project, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr[-6000:]
        return result.stderr

    echoed = log_of("--log-level", "debug")
    assert '"type":"RECORD"' in echoed.replace(" ", ""), "Meltano 4.4.1 no longer echoes records at debug"
    debug = log_of("--log-config", str(REPO / "deploy" / "logging.yaml"))
    assert '"type":"RECORD"' not in debug.replace(" ", "")
    assert "Lindner Maschinenbau GmbH" not in debug, "a client's name reached the debug log"
    assert "Validating config using jsonschema" not in debug, "a whole settings schema reached the log"
    assert re.search(r"\[debug +\] tap-datev ", debug), "the plugins' own debug lines are missing"
    assert re.search(r"\[debug +\] target-databricks ", debug)


AIRFLOW = "apache-airflow==3.3.2"
LOAD_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": [
        {"schedule": dag.timetable.expression, "max_active_runs": dag.max_active_runs,
         "tasks": [getattr(task, "bash_command", None) for task in dag.tasks]}
        for dag in bag.dags.values()
    ],
}))
"""


@pytest.mark.slow
def test_the_airflow_dag_imports_in_airflows_own_virtualenv(tmp_path: Path) -> None:
    """Airflow from the package registry in a virtualenv of its own (uv, Meltano's installer), as a
    user keeps it apart from Meltano; its DagBag loads the DAG without import errors."""
    import uv

    venv = tmp_path / "airflow"
    uv_bin = uv.find_uv_bin()
    subprocess.run([uv_bin, "venv", "-q", "-p", "3.11", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = [uv_bin, "pip", "install", "-q", "-p", str(python), AIRFLOW]
    subprocess.run(install, check=True, timeout=900)
    result = subprocess.run(
        [str(python), "-c", LOAD_DAGS, str(REPO / "deploy" / "airflow")],
        env={**clean_env(), "AIRFLOW_HOME": str(tmp_path / "airflow-home")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["errors"] == {}
    (dag,) = loaded["dags"]
    assert dag == {
        "schedule": SCHEDULE["interval"],
        "max_active_runs": 1,
        "tasks": [cron_line().split(maxsplit=5)[5].split(" >> ", 1)[0]],
    }

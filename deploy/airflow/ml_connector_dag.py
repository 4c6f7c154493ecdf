"""Airflow DAG: the Meltano job datev-to-databricks on meltano.yml's schedule.

Copy into Airflow's DAGs folder. Airflow and Meltano stay in separate virtualenvs: the task only
calls the project's own `meltano` (installed with `make install` at PROJECT), which reads the
project's .env (ML_CONNECTOR_CREDENTIALS_KEY and what the prod environment reads) itself.
Meltano refuses a run while the previous one is still running; max_active_runs=1 keeps Airflow
from queueing them up.
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

PROJECT = "/opt/ml-connector"
# meltano.yml's schedule datev-to-databricks-workdays-hourly: DATEV asks integrators not to poll
# around the clock.
SCHEDULE = "0 7-19 * * 1-5"
# The same command as the README's cron line and deploy/ml-connector.service (tests compare them).
COMMAND = (
    f"cd {PROJECT} && PATH={PROJECT}/.venv/bin:/usr/bin:/bin"
    " meltano --environment prod run datev-to-databricks"
)

with DAG(
    dag_id="ml_connector_datev_to_databricks",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Berlin"),
    catchup=False,
    max_active_runs=1,
    tags=["meltano", "datev"],
):
    BashOperator(
        task_id="meltano_run_datev_to_databricks",
        bash_command=COMMAND,
    )

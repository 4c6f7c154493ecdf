"""SQL warehouses: a state machine a statement or a start request drives, one step per poll."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from databricks_emulator.auth import SERVICE_PRINCIPAL_ID
from databricks_emulator.control import Control
from databricks_emulator.errors import ApiError

DEFAULT_WAREHOUSE_ID = "emulator-warehouse"
STATES = ("STARTING", "RUNNING", "STOPPING", "STOPPED", "DELETING", "DELETED")


@dataclass
class Warehouse:
    id: str
    name: str
    state: str = "RUNNING"
    polls_left: int = 0

    def tick(self) -> None:
        """One observation: STARTING becomes RUNNING after a few, STOPPING becomes STOPPED."""
        if self.state == "STARTING":
            self.polls_left -= 1
            if self.polls_left <= 0:
                self.state = "RUNNING"
        elif self.state == "STOPPING":
            self.state = "STOPPED"

    def as_json(self, host: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "cluster_size": "2X-Small",
            "min_num_clusters": 1,
            "max_num_clusters": 1,
            "num_clusters": 1 if self.state == "RUNNING" else 0,
            "auto_stop_mins": 10,
            "warehouse_type": "PRO",
            "enable_serverless_compute": True,
            "creator_name": SERVICE_PRINCIPAL_ID,
            "health": {"status": "HEALTHY"},
            "odbc_params": {
                "hostname": host,
                "path": f"/sql/1.0/warehouses/{self.id}",
                "protocol": "https",
                "port": 443,
            },
            "jdbc_url": f"jdbc:databricks://{host}:443/default;httpPath=/sql/1.0/warehouses/{self.id}",
        }


class Warehouses:
    def __init__(self, control: Control) -> None:
        self._control = control
        self._lock = threading.Lock()
        self._items = {DEFAULT_WAREHOUSE_ID: Warehouse(DEFAULT_WAREHOUSE_ID, "Emulator Serverless Warehouse")}

    def get(self, warehouse_id: str) -> Warehouse:
        with self._lock:
            warehouse = self._items.get(warehouse_id)
        if warehouse is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Warehouse {warehouse_id} does not exist.")
        return warehouse

    def all(self) -> list[Warehouse]:
        with self._lock:
            return list(self._items.values())

    def set_state(self, warehouse_id: str, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"unknown warehouse state {state}")
        warehouse = self.get(warehouse_id)
        with self._lock:
            warehouse.state = state
            warehouse.polls_left = self._control.warehouse_start_polls

    def start(self, warehouse_id: str) -> Warehouse:
        """Start (also what a statement sent to a stopped warehouse does)."""
        warehouse = self.get(warehouse_id)
        with self._lock:
            if warehouse.state in ("STOPPED", "STOPPING"):
                warehouse.state = "STARTING"
                warehouse.polls_left = self._control.warehouse_start_polls
        return warehouse

    def stop(self, warehouse_id: str) -> Warehouse:
        warehouse = self.get(warehouse_id)
        with self._lock:
            if warehouse.state in ("RUNNING", "STARTING"):
                warehouse.state = "STOPPING"
        return warehouse

    def observe(self, warehouse_id: str) -> Warehouse:
        warehouse = self.get(warehouse_id)
        with self._lock:
            warehouse.tick()
        return warehouse

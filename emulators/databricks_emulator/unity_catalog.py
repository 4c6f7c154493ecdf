"""Unity Catalog REST (/api/2.1/unity-catalog): read back from DuckDB, so SQL-created objects show."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from databricks_emulator.auth import SERVICE_PRINCIPAL_ID, WORKSPACE_ID
from databricks_emulator.control import Control
from databricks_emulator.errors import ApiError, SqlError
from databricks_emulator.sql.engine import SqlEngine
from databricks_emulator.sql.types import decimal_precision_scale, type_name

METASTORE_ID = "11111111-2222-3333-4444-555555555555"


class UnityCatalog:
    def __init__(self, engine: SqlEngine, control: Control) -> None:
        self._engine = engine
        self._control = control

    def require_metastore(self) -> None:
        if not self._control.metastore_assigned:
            raise ApiError(
                404, "METASTORE_DOES_NOT_EXIST", "No metastore assigned for the current workspace."
            )

    def metastore_summary(self) -> dict[str, Any]:
        self.require_metastore()
        return {
            "metastore_id": METASTORE_ID,
            "name": "emulator-metastore",
            "default_data_access_config_id": None,
            "cloud": "aws",
            "region": "eu-central-1",
            "owner": "account users",
            "delta_sharing_scope": "INTERNAL",
            "global_metastore_id": f"aws:eu-central-1:{METASTORE_ID}",
            "privilege_model_version": "1.0",
        }

    def current_assignment(self) -> dict[str, Any]:
        self.require_metastore()
        return {
            "workspace_id": int(WORKSPACE_ID),
            "metastore_id": METASTORE_ID,
            "default_catalog_name": "main",
        }

    def _catalog_json(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "full_name": name,
            "owner": SERVICE_PRINCIPAL_ID,
            "catalog_type": "MANAGED_CATALOG",
            "metastore_id": METASTORE_ID,
            "isolation_mode": "OPEN",
        }

    def list_catalogs(self) -> dict[str, Any]:
        self.require_metastore()
        return {"catalogs": [self._catalog_json(c) for c in self._engine.catalog_names()]}

    def get_catalog(self, name: str) -> dict[str, Any]:
        self.require_metastore()
        if name.lower() not in self._engine.catalog_names():
            raise ApiError(404, "CATALOG_DOES_NOT_EXIST", f"Catalog '{name}' does not exist.")
        return self._catalog_json(name.lower())

    def create_catalog(self, body: dict[str, Any]) -> dict[str, Any]:
        self.require_metastore()
        name = str(body.get("name") or "").lower()
        if not name:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "name is required.")
        exists = ApiError(409, "CATALOG_ALREADY_EXISTS", f"Catalog '{name}' already exists.")
        if name in self._engine.catalog_names():
            raise exists
        try:
            with _permission_denied():
                self._engine.create_catalog(name)
        except SqlError as exc:
            if exc.error_class.endswith("ALREADY_EXISTS"):  # a concurrent request made it meanwhile
                raise exists from exc
            raise
        return self._catalog_json(name)

    def _schema_json(self, catalog: str, schema: str) -> dict[str, Any]:
        return {
            "name": schema,
            "catalog_name": catalog,
            "full_name": f"{catalog}.{schema}",
            "owner": SERVICE_PRINCIPAL_ID,
            "metastore_id": METASTORE_ID,
            "catalog_type": "MANAGED_CATALOG",
        }

    def list_schemas(self, catalog: str) -> dict[str, Any]:
        self.get_catalog(catalog)
        catalog = catalog.lower()
        return {"schemas": [self._schema_json(catalog, s) for s in self._engine.schema_names(catalog)]}

    def get_schema(self, full_name: str) -> dict[str, Any]:
        self.require_metastore()
        parts = full_name.lower().split(".")
        if (
            len(parts) != 2
            or parts[0] not in self._engine.catalog_names()
            or parts[1] not in self._engine.schema_names(parts[0])
        ):
            raise ApiError(404, "SCHEMA_DOES_NOT_EXIST", f"Schema '{full_name}' does not exist.")
        return self._schema_json(parts[0], parts[1])

    def create_schema(self, body: dict[str, Any]) -> dict[str, Any]:
        catalog = str(body.get("catalog_name") or "").lower()
        name = str(body.get("name") or "").lower()
        self.get_catalog(catalog)
        exists = ApiError(409, "SCHEMA_ALREADY_EXISTS", f"Schema '{catalog}.{name}' already exists.")
        if name in self._engine.schema_names(catalog):
            raise exists
        try:
            with _permission_denied():
                self._engine.create_schema(catalog, name)
        except SqlError as exc:
            # Created by a concurrent request since the look above: the same 409 as when it existed.
            if exc.error_class == "SCHEMA_ALREADY_EXISTS":
                raise exists from exc
            raise
        return self._schema_json(catalog, name)

    def _table_json(self, catalog: str, table: dict[str, Any]) -> dict[str, Any]:
        columns = []
        comments = table.get("comments") or {}
        for position, (name, type_text, nullable) in enumerate(table["columns"]):
            column: dict[str, Any] = {
                "name": name,
                "type_text": type_text.lower(),
                "type_name": type_name(type_text),
                "position": position,
                "nullable": nullable,
            }
            if comments.get(name.lower()):
                column["comment"] = comments[name.lower()]
            ps = decimal_precision_scale(type_text)
            if ps:
                column["type_precision"], column["type_scale"] = ps
            columns.append(column)
        full = f"{catalog}.{table['schema']}.{table['name']}"
        out: dict[str, Any] = {
            "name": table["name"],
            "catalog_name": catalog,
            "schema_name": table["schema"],
            "full_name": full,
            "table_id": self._engine.table_id(catalog, table["schema"], table["name"]),
            "table_type": table["table_type"],
            "columns": columns,
            "owner": SERVICE_PRINCIPAL_ID,
            "metastore_id": METASTORE_ID,
            "properties": table["properties"],
            "updated_at": int(time.time() * 1000),
        }
        if comments.get(""):
            out["comment"] = comments[""]
        if table.get("constraints"):
            # Unity Catalog's informational keys (TableInfo.table_constraints).
            out["table_constraints"] = [
                {
                    "primary_key_constraint": {
                        "name": c["name"],
                        "child_columns": c["columns"],
                        "rely": c["rely"],
                    }
                }
                for c in table["constraints"]
            ]
        if table["table_type"] == "MANAGED":
            out["data_source_format"] = "DELTA"
            out["storage_location"] = f"s3://emulator-metastore/{full.replace('.', '/')}"
        return out

    def _find_table(self, full_name: str) -> dict[str, Any] | None:
        parts = full_name.lower().split(".")
        if len(parts) != 3 or parts[0] not in self._engine.catalog_names():
            return None
        for table in self._engine.tables(parts[0], parts[1]):
            if table["name"] == parts[2]:
                return self._table_json(parts[0], table)
        return None

    def get_table(self, full_name: str) -> dict[str, Any]:
        self.require_metastore()
        table = self._find_table(full_name)
        if table is None:
            raise ApiError(404, "TABLE_DOES_NOT_EXIST", f"Table '{full_name}' does not exist.")
        return table

    def table_exists(self, full_name: str) -> dict[str, Any]:
        self.require_metastore()
        return {"table_exists": self._find_table(full_name) is not None}

    def list_tables(self, catalog: str, schema: str) -> dict[str, Any]:
        self.get_schema(f"{catalog}.{schema}")
        return {
            "tables": [self._table_json(catalog.lower(), t) for t in self._engine.tables(catalog, schema)]
        }

    def _volume_json(self, catalog: str, volume: dict[str, Any]) -> dict[str, Any]:
        full = f"{catalog}.{volume['schema']}.{volume['name']}"
        return {
            "name": volume["name"],
            "catalog_name": catalog,
            "schema_name": volume["schema"],
            "full_name": full,
            "volume_type": "MANAGED",
            "volume_id": full,
            "comment": volume["comment"],
            "owner": SERVICE_PRINCIPAL_ID,
            "metastore_id": METASTORE_ID,
            "storage_location": f"s3://emulator-metastore/volumes/{full.replace('.', '/')}",
            "created_at": volume["created_at"],
        }

    def list_volumes(self, catalog: str, schema: str) -> dict[str, Any]:
        self.get_schema(f"{catalog}.{schema}")
        return {
            "volumes": [self._volume_json(catalog.lower(), v) for v in self._engine.volumes(catalog, schema)]
        }

    def get_volume(self, full_name: str) -> dict[str, Any]:
        self.require_metastore()
        parts = full_name.lower().split(".")
        if len(parts) == 3 and parts[0] in self._engine.catalog_names():
            for volume in self._engine.volumes(parts[0], parts[1]):
                if volume["name"] == parts[2]:
                    return self._volume_json(parts[0], volume)
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Volume '{full_name}' does not exist.")

    def create_volume(self, body: dict[str, Any]) -> dict[str, Any]:
        catalog = str(body.get("catalog_name") or "").lower()
        schema = str(body.get("schema_name") or "").lower()
        name = str(body.get("name") or "").lower()
        if (body.get("volume_type") or "MANAGED") != "MANAGED":
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "The emulator creates MANAGED volumes only.")
        self.get_schema(f"{catalog}.{schema}")
        try:
            with _permission_denied():
                self._engine.create_volume(
                    catalog, schema, name, if_not_exists=False, comment=body.get("comment") or ""
                )
        except SqlError as exc:
            raise ApiError(409, "RESOURCE_ALREADY_EXISTS", exc.detail) from exc
        return self.get_volume(f"{catalog}.{schema}.{name}")


@contextlib.contextmanager
def _permission_denied() -> Iterator[None]:
    """A privilege the SQL engine refuses is HTTP 403 PERMISSION_DENIED through REST."""
    try:
        yield
    except SqlError as exc:
        if exc.error_class != "INSUFFICIENT_PERMISSIONS":
            raise
        message = exc.detail.removeprefix("Insufficient privileges: ")
        raise ApiError(403, "PERMISSION_DENIED", message) from exc

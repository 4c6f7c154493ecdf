"""`target-databricks check`: a read-only connection check, one line per check, stopping at the first
failure.

Workspace engine: authentication, the SQL warehouse's state, Unity Catalog, the principal's
privileges on the target catalog and schema, and the staging volume. Nothing is created, started or
written: a stopped warehouse or a missing schema/volume is reported with what the first run will do.
Local engine: the folder the Delta tables go to.
"""

from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass
from pathlib import Path

import click

from target_databricks.engines.base import EngineError
from target_databricks.settings import target_catalog, target_schema

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from target_databricks.engines.workspace import WorkspaceEngine

# What the target needs, as Unity Catalog names the privileges (ALL_PRIVILEGES covers each).
CATALOG_PRIVILEGES = ("USE_CATALOG",)
SCHEMA_PRIVILEGES = ("USE_SCHEMA", "CREATE_TABLE", "MODIFY", "SELECT")
# A check is a first contact: an unreachable workspace fails within this many seconds, not after
# databricks-sdk's default retry budget of 300 s (unless retry_timeout_seconds says otherwise).
CHECK_RETRY_TIMEOUT_SECONDS = 20


class CheckFailedError(Exception):
    """A check failed; the message says what and how to fix it."""


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], str]  # returns the detail of a passed check, raises CheckFailedError


def workspace_checks(engine: WorkspaceEngine) -> list[Check]:
    from databricks.sdk.errors import DatabricksError, NotFound, PermissionDenied
    from databricks.sdk.service.catalog import SecurableType
    from databricks.sdk.service.sql import State

    principal: list[str] = []

    def auth() -> str:
        try:
            me = engine.client.current_user.me()
        except (DatabricksError, ValueError) as exc:  # ValueError: the SDK got no OAuth token
            raise CheckFailedError(
                f"Databricks rejected the credentials for {engine.client.config.host}: check host and "
                f"client_id/client_secret (OAuth M2M) or token (PAT). ({exc})"
            ) from None
        principal.append(me.user_name or "")
        return f"{engine.client.config.host} as {me.user_name}"

    def warehouse() -> str:
        try:
            state = engine.client.warehouses.get(engine.warehouse_id).state
        except (NotFound, PermissionDenied) as exc:
            raise CheckFailedError(
                f"SQL warehouse {engine.warehouse_id!r} not found or not visible: check http_path / "
                f"warehouse_id and grant the principal CAN USE on the warehouse. ({exc})"
            ) from None
        if state in (State.DELETED, State.DELETING):
            raise CheckFailedError(
                f"SQL warehouse {engine.warehouse_id!r} is {state.value}: configure a live one"
            )
        if state == State.RUNNING:
            return f"{engine.warehouse_id} RUNNING"
        return (
            f"{engine.warehouse_id} {state.value if state else 'in an unknown state'} "
            f"(a run starts it and waits up to {engine.warehouse_start_timeout:g} s)"
        )

    def unity_catalog() -> str:
        engine._check_metastore()
        return "enabled"

    def privileges(securable: SecurableType, full_name: str, needed: tuple[str, ...]) -> str:
        """'owner' or the needed privileges the principal has; raises when one is missing."""
        getter = (
            engine.client.catalogs.get if securable == SecurableType.CATALOG else engine.client.schemas.get
        )
        if getter(full_name).owner in principal:
            return "owner"
        effective = engine.client.grants.get_effective(securable.value, full_name, principal=principal[0])
        held = {
            str(p.privilege.value if p.privilege else "")
            for assignment in effective.privilege_assignments or []
            for p in assignment.privileges or []
        }
        if "ALL_PRIVILEGES" in held:
            return "ALL_PRIVILEGES"
        missing = [p for p in needed if p not in held]
        if missing:
            grants = ", ".join(p.replace("_", " ") for p in missing)
            raise CheckFailedError(f"grant {principal[0]} {grants} on {securable.value} {full_name}")
        return ", ".join(needed)

    def catalog_and_schema() -> str:
        catalog, schema = engine.catalog, f"{engine.catalog}.{engine.schema}"
        try:
            on_catalog = privileges(SecurableType.CATALOG, catalog, CATALOG_PRIVILEGES)
        except NotFound:
            if not engine.create_catalog:
                raise CheckFailedError(
                    f"catalog {catalog!r} does not exist: create it, or set create_catalog: true "
                    "(needs CREATE CATALOG on the metastore)"
                ) from None
            return f"catalog {catalog} missing: the first run creates it (create_catalog: true)"
        except PermissionDenied as exc:
            raise CheckFailedError(
                f"no access to catalog {catalog!r}: grant USE CATALOG on it ({exc})"
            ) from None
        try:
            on_schema = privileges(SecurableType.SCHEMA, schema, SCHEMA_PRIVILEGES)
        except NotFound:
            return f"catalog {catalog}: {on_catalog}; schema {schema} missing: the first run creates it"
        except PermissionDenied as exc:
            raise CheckFailedError(f"no access to schema {schema}: grant USE SCHEMA on it ({exc})") from None
        return f"catalog {catalog}: {on_catalog}; schema {schema}: {on_schema}"

    def staging_volume() -> str:
        name = f"{engine.catalog}.{engine.schema}.{engine.staging_volume}"
        try:
            engine.client.volumes.read(name)
        except NotFound:
            return f"{name} missing: the first run creates it (needs CREATE VOLUME on the schema)"
        except PermissionDenied as exc:
            raise CheckFailedError(
                f"no access to volume {name}: grant READ VOLUME, WRITE VOLUME ({exc})"
            ) from None
        return f"{name} exists"

    return [
        Check("auth", auth),
        Check("warehouse", warehouse),
        Check("Unity Catalog", unity_catalog),
        Check("catalog/schema privileges", catalog_and_schema),
        Check("staging volume", staging_volume),
    ]


def local_checks(config: t.Mapping[str, t.Any]) -> list[Check]:
    root = Path(str(config.get("local_path") or ".lake")).expanduser()
    where = root / target_catalog(config) / target_schema(config)

    def folder() -> str:
        existing = next(p for p in (where, *where.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise CheckFailedError(f"{existing} is not a writable folder: fix local_path or its permissions")
        return f"{where} ({'exists' if existing == where else 'created on the first run'})"

    return [Check("local Delta tables", folder)]


def run_checks(config: t.Mapping[str, t.Any], echo: Callable[[str], None]) -> bool:
    """Run the checks in order, one line each; False at the first failure."""
    from target_databricks.engines.workspace import WorkspaceEngine

    engine: WorkspaceEngine | None = None
    try:
        if str(config.get("engine") or "local") == "workspace":
            retry = config.get("retry_timeout_seconds") or CHECK_RETRY_TIMEOUT_SECONDS
            try:
                engine = WorkspaceEngine({**config, "retry_timeout_seconds": retry})
            except EngineError as exc:
                echo(f"FAIL settings: {exc}")
                return False
            checks = workspace_checks(engine)
        else:
            checks = local_checks(config)
        for check in checks:
            try:
                detail = check.run()
            except (CheckFailedError, EngineError) as exc:
                echo(f"FAIL {check.name}: {exc}")
                return False
            echo(f"ok   {check.name}: {detail}")
        return True
    finally:
        if engine is not None:
            engine.close()


@click.command("check")
@click.option(
    "--config",
    "config",
    multiple=True,
    default=(),
    help="Config JSON file (repeatable, merged in order), or ENV for TARGET_DATABRICKS_* variables.",
)
def check(config: tuple[str, ...]) -> None:
    """Check authentication, warehouse, Unity Catalog, privileges and staging volume (read-only)."""
    from target_databricks.cli import load_config

    if not run_checks(load_config(config), click.echo):
        raise SystemExit(1)

"""Catalogs made and dropped through SQL and Unity Catalog REST: every route sees the same set, during
a run and after the emulator restarts on its data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from dbx_emu_helpers import failed, ok

from databricks_emulator.auth import PERSONAL_ACCESS_TOKEN
from databricks_emulator.server import start


def _catalogs(w: WorkspaceClient) -> tuple[list[str], list[str]]:
    """The catalogs as SQL lists them and as Unity Catalog REST lists them."""
    shown = [row[0] or "" for row in ok(w, "SHOW CATALOGS")]
    return shown, sorted(c.name or "" for c in w.catalogs.list())


def test_created_and_dropped_catalogs_are_seen_by_every_route_and_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "databricks"
    with start(data) as emulator:
        w = WorkspaceClient(host=emulator.url, token=PERSONAL_ACCESS_TOKEN, auth_type="pat")
        ok(w, "CREATE CATALOG Sales")
        w.catalogs.create("hr")
        assert _catalogs(w) == (["hr", "main", "sales"], ["hr", "main", "sales"])
        ok(w, "CREATE SCHEMA hr.people")
        ok(w, "CREATE TABLE hr.people.staff (id BIGINT, name STRING) USING DELTA")
        ok(w, "INSERT INTO hr.people.staff VALUES (1, 'Ada')")
        ok(w, "CREATE SCHEMA sales.eu")
        ok(w, "CREATE TABLE sales.eu.orders (id BIGINT) USING DELTA")

        ok(w, "DROP CATALOG sales CASCADE")
        assert _catalogs(w) == (["hr", "main"], ["hr", "main"])
        assert "[TABLE_OR_VIEW_NOT_FOUND]" in failed(w, "SELECT * FROM sales.eu.orders")
        assert "[NO_SUCH_CATALOG_EXCEPTION]" in failed(w, "SHOW SCHEMAS IN sales")
        with pytest.raises(NotFound):
            w.catalogs.get("sales")
        # Made again, it is a new, empty catalog.
        ok(w, "CREATE CATALOG sales")
        assert ok(w, "SHOW SCHEMAS IN sales") == [["default"]]

    with start(data) as emulator:
        w = WorkspaceClient(host=emulator.url, token=PERSONAL_ACCESS_TOKEN, auth_type="pat")
        assert _catalogs(w) == (["hr", "main", "sales"], ["hr", "main", "sales"])
        assert ok(w, "SELECT id, name FROM hr.people.staff") == [["1", "Ada"]]
        ok(w, "DROP CATALOG hr CASCADE")

    with start(data) as emulator:
        w = WorkspaceClient(host=emulator.url, token=PERSONAL_ACCESS_TOKEN, auth_type="pat")
        assert _catalogs(w) == (["main", "sales"], ["main", "sales"])
        assert ok(w, "SHOW SCHEMAS IN sales") == [["default"]]

"""Unity Catalog REST reads back SQL-created objects; the Files API serves the volume folders."""

from __future__ import annotations

import io
import threading
import typing as t

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import AlreadyExists, NotFound, PermissionDenied, ResourceConflict
from databricks.sdk.service.catalog import VolumeType
from dbx_emu_helpers import failed, ok

from databricks_emulator.errors import ApiError
from databricks_emulator.server import RunningEmulator


def test_metastore_switch(emulator: RunningEmulator, sp_client: WorkspaceClient) -> None:
    assert sp_client.metastores.summary().metastore_id
    emulator.control.set_metastore(False)
    with pytest.raises(NotFound) as raised:
        sp_client.metastores.current()
    assert raised.value.error_code == "METASTORE_DOES_NOT_EXIST"
    assert str(raised.value).startswith("No metastore assigned for the current workspace.")
    with pytest.raises(NotFound):
        sp_client.metastores.summary()


def test_sql_created_objects_are_visible(sp_client: WorkspaceClient) -> None:
    ok(sp_client, "CREATE CATALOG sales")
    ok(sp_client, "CREATE SCHEMA sales.eu")
    ok(sp_client, "CREATE TABLE sales.eu.Orders (id BIGINT, total DECIMAL(12,2), at TIMESTAMP) USING DELTA")
    ok(sp_client, "CREATE VOLUME sales.eu.landing")
    assert {c.name for c in sp_client.catalogs.list()} == {"main", "sales"}
    assert [s.name for s in sp_client.schemas.list(catalog_name="sales")] == ["default", "eu"]
    table = sp_client.tables.get("sales.eu.orders")
    assert table.full_name == "sales.eu.orders"
    assert table.data_source_format is not None and table.data_source_format.value == "DELTA"
    assert [
        (c.name, c.type_text, c.type_name.value if c.type_name else None) for c in table.columns or []
    ] == [
        ("id", "bigint", "LONG"),
        ("total", "decimal(12,2)", "DECIMAL"),
        ("at", "timestamp", "TIMESTAMP"),
    ]
    assert sp_client.tables.exists("sales.eu.orders").table_exists is True
    assert sp_client.tables.exists("sales.eu.nope").table_exists is False
    assert [v.name for v in sp_client.volumes.list(catalog_name="sales", schema_name="eu")] == ["landing"]
    with pytest.raises(NotFound):
        sp_client.tables.get("sales.eu.nope")


def test_rest_created_objects_are_usable_in_sql(sp_client: WorkspaceClient) -> None:
    sp_client.catalogs.create(name="rest")
    sp_client.schemas.create(name="s", catalog_name="rest")
    sp_client.volumes.create(catalog_name="rest", schema_name="s", name="v", volume_type=VolumeType.MANAGED)
    with pytest.raises(ResourceConflict):
        sp_client.catalogs.create(name="rest")
    ok(sp_client, "CREATE TABLE rest.s.t (a STRING) USING DELTA")
    sp_client.files.upload("/Volumes/rest/s/v/a.json", io.BytesIO(b'{"a": "x"}\n{"a": "y"}\n'))
    ok(
        sp_client,
        "INSERT INTO rest.s.t SELECT a FROM read_files('/Volumes/rest/s/v/a.json', format => 'json')",
    )
    assert ok(sp_client, "SELECT a FROM rest.s.t ORDER BY a") == [["x"], ["y"]]


def test_uc_creates_are_refused_like_databricks(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    sp_client.schemas.create(name="s", catalog_name="main")
    sp_client.volumes.create(catalog_name="main", schema_name="s", name="v", volume_type=VolumeType.MANAGED)
    # A second create of the same object: HTTP 409, whichever path made the first.
    ok(sp_client, "CREATE SCHEMA main.sql_made")
    for again in (
        lambda: sp_client.schemas.create(name="sql_made", catalog_name="main"),
        lambda: sp_client.volumes.create("main", "s", "v", VolumeType.MANAGED),
    ):
        with pytest.raises(ResourceConflict) as conflict:
            again()
        assert conflict.value.error_code in ("SCHEMA_ALREADY_EXISTS", "RESOURCE_ALREADY_EXISTS")
    with pytest.raises(NotFound) as missing:
        sp_client.schemas.create(name="s", catalog_name="nope")
    assert missing.value.error_code == "CATALOG_DOES_NOT_EXIST"
    with pytest.raises(NotFound) as missing:
        sp_client.volumes.create("main", "nope", "v", VolumeType.MANAGED)
    assert missing.value.error_code == "SCHEMA_DOES_NOT_EXIST"

    # A privilege the principal lacks: 403 PERMISSION_DENIED through REST, a FAILED statement in SQL.
    emulator.control.deny("CREATE_SCHEMA", "CREATE_VOLUME")
    with pytest.raises(PermissionDenied) as denied:
        sp_client.schemas.create(name="t", catalog_name="main")
    assert denied.value.error_code == "PERMISSION_DENIED"
    assert str(denied.value).startswith("User does not have CREATE SCHEMA on Catalog 'main'.")
    with pytest.raises(PermissionDenied, match=r"CREATE VOLUME on Schema 'main.s'"):
        sp_client.volumes.create("main", "s", "w", VolumeType.MANAGED)
    assert failed(sp_client, "CREATE SCHEMA main.t").startswith("[INSUFFICIENT_PERMISSIONS]")
    ok(sp_client, "CREATE SCHEMA IF NOT EXISTS main.s")  # nothing to create, nothing refused
    assert [s.name for s in sp_client.schemas.list(catalog_name="main")] == ["default", "s", "sql_made"]
    emulator.control.deny()
    sp_client.schemas.create(name="t", catalog_name="main")

    # Without a metastore nothing is created: the same refusal as every Unity Catalog call.
    emulator.control.set_metastore(False)
    with pytest.raises(NotFound) as refused:
        sp_client.schemas.create(name="u", catalog_name="main")
    assert refused.value.error_code == "METASTORE_DOES_NOT_EXIST"


def test_files_api(sp_client: WorkspaceClient) -> None:
    ok(sp_client, "CREATE VOLUME main.default.files")
    path = "/Volumes/main/default/files/dir/sub/data.bin"
    sp_client.files.upload(path, io.BytesIO(b"\x00\x01payload"), overwrite=False)
    with pytest.raises(AlreadyExists):
        sp_client.files.upload(path, io.BytesIO(b"again"), overwrite=False)
    sp_client.files.upload(path, io.BytesIO(b"replaced"), overwrite=True)
    downloaded = sp_client.files.download(path).contents
    assert downloaded is not None and downloaded.read() == b"replaced"
    assert sp_client.files.get_metadata(path).content_length == 8
    listing = list(sp_client.files.list_directory_contents("/Volumes/main/default/files/dir"))
    assert [(e.name, e.is_directory) for e in listing] == [("sub", True)]
    sp_client.files.create_directory("/Volumes/main/default/files/empty/a/b")
    sp_client.files.get_directory_metadata("/Volumes/main/default/files/empty/a/b")
    sp_client.files.delete(path)
    with pytest.raises(NotFound):
        sp_client.files.get_metadata(path)
    with pytest.raises(NotFound):
        sp_client.files.upload("/Volumes/main/default/nope/x.bin", io.BytesIO(b"x"))


def test_table_id_is_stable_until_drop_or_replace(sp_client: WorkspaceClient) -> None:
    ok(sp_client, "CREATE SCHEMA main.ids")
    ok(sp_client, "CREATE TABLE main.ids.t (id BIGINT) USING DELTA")
    first = sp_client.tables.get("main.ids.t").table_id
    assert first
    ok(sp_client, "INSERT INTO main.ids.t VALUES (1)")
    ok(sp_client, "ALTER TABLE main.ids.t ADD COLUMNS (note STRING)")
    ok(sp_client, "CREATE TABLE IF NOT EXISTS main.ids.t (id BIGINT) USING DELTA")
    assert sp_client.tables.get("main.ids.t").table_id == first  # same table, same id
    assert [t.table_id for t in sp_client.tables.list("main", "ids")] == [first]
    ok(sp_client, "CREATE OR REPLACE TABLE main.ids.t (id BIGINT) USING DELTA")
    replaced = sp_client.tables.get("main.ids.t").table_id
    assert replaced not in (None, first)
    ok(sp_client, "DROP TABLE main.ids.t")
    ok(sp_client, "CREATE TABLE main.ids.t (id BIGINT) USING DELTA")
    assert sp_client.tables.get("main.ids.t").table_id not in (None, first, replaced)
    # Another schema's table of the same name is another table.
    ok(sp_client, "CREATE SCHEMA main.ids2")
    ok(sp_client, "CREATE TABLE main.ids2.t (id BIGINT) USING DELTA")
    assert sp_client.tables.get("main.ids2.t").table_id != sp_client.tables.get("main.ids.t").table_id


def test_a_schema_created_concurrently_is_409_already_exists(
    emulator: RunningEmulator, sp_client: WorkspaceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two writers look, see no schema, and both create it: the second create must answer like an
    # existing schema (409 SCHEMA_ALREADY_EXISTS, which writers treat as done), not as a bad request.
    engine = emulator.app.engine
    sp_client.schemas.create("raced", "main")
    real_names = engine.schema_names
    looks = iter([False])  # the first look (the REST handler's) misses the schema, later ones see it

    def names(catalog: str) -> list[str]:
        seen = real_names(catalog)
        return seen if next(looks, True) else [n for n in seen if n != "raced"]

    monkeypatch.setattr(engine, "schema_names", names)
    with pytest.raises(ResourceConflict) as refused:
        sp_client.schemas.create("raced", "main")
    assert refused.value.error_code == "SCHEMA_ALREADY_EXISTS"


class _MeetingStream(io.RawIOBase):
    """Gives its payload only once every upload sharing the barrier has started reading."""

    def __init__(self, payload: bytes, barrier: threading.Barrier) -> None:
        self._payload = io.BytesIO(payload)
        self._barrier = barrier
        self._met = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        if not self._met:
            self._barrier.wait(timeout=10)
            self._met = True
        return self._payload.readinto(buffer)


@pytest.mark.parametrize("overwrite", [True, False])
def test_two_uploads_of_one_path_at_once(
    emulator: RunningEmulator, sp_client: WorkspaceClient, overwrite: bool
) -> None:
    # Both uploads are mid-write together: each must end as a whole file or a clear 409, never as
    # an error about the other's half-written file.
    ok(sp_client, "CREATE VOLUME main.default.race")
    path = "/Volumes/main/default/race/staged.parquet"
    barrier = threading.Barrier(2)
    outcomes: dict[bytes, object] = {}

    def upload(payload: bytes) -> None:
        try:
            emulator.app.files.upload(path, _MeetingStream(payload, barrier), overwrite)
            outcomes[payload] = "ok"
        except Exception as exc:  # the outcome is what the test reads
            outcomes[payload] = exc

    threads = [threading.Thread(target=upload, args=(p,)) for p in (b"first", b"second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    landed = sp_client.files.download(path).contents
    assert landed is not None
    content = landed.read()
    assert content in (b"first", b"second")
    if overwrite:
        assert outcomes == {b"first": "ok", b"second": "ok"}
    else:
        loser = b"second" if content == b"first" else b"first"
        assert outcomes[content] == "ok"
        assert isinstance(outcomes[loser], ApiError) and outcomes[loser].error_code == "ALREADY_EXISTS"
    listing = list(sp_client.files.list_directory_contents("/Volumes/main/default/race"))
    assert [e.name for e in listing] == ["staged.parquet"]
    assert [p.name for p in emulator.app.engine.volumes_root.rglob("*.uploading")] == []

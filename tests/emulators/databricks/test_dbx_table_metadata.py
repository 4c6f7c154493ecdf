"""Comments, informational keys, liquid clustering and properties: the SQL forms Databricks accepts
are recorded and answered by DESCRIBE TABLE EXTENDED, information_schema and the UC tables API; the
forms it rejects fail with its error class."""

from __future__ import annotations

from databricks.sdk import WorkspaceClient
from dbx_emu_helpers import failed, ok

TABLE = "main.default.lines"


def _create(w: WorkspaceClient) -> None:
    ok(
        w,
        f"CREATE TABLE {TABLE} (id BIGINT NOT NULL COMMENT 'Zeilennummer', "
        "note STRING COMMENT 'it\\'s; free', "
        "CONSTRAINT lines_pk PRIMARY KEY (id) RELY) USING DELTA CLUSTER BY (id) "
        "COMMENT 'Singer stream lines' TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')",
    )


def test_create_table_records_what_unity_catalog_shows(sp_client: WorkspaceClient) -> None:
    _create(sp_client)
    info = sp_client.tables.get(TABLE)
    assert info.comment == "Singer stream lines"
    assert [(c.name, c.comment, c.nullable) for c in info.columns or []] == [
        ("id", "Zeilennummer", False),
        ("note", "it's; free", True),
    ]
    keys = [c.primary_key_constraint for c in info.table_constraints or []]
    assert [(k.name, k.child_columns, k.rely) for k in keys if k] == [("lines_pk", ["id"], True)]
    assert (info.properties or {})["delta.enableChangeDataFeed"] == "true"
    assert (info.properties or {})["clusteringColumns"] == '[["id"]]'
    described = ok(sp_client, f"DESCRIBE TABLE EXTENDED {TABLE}")
    assert described[:2] == [["id", "bigint", "Zeilennummer"], ["note", "string", "it's; free"]]
    assert ["Comment", "Singer stream lines", ""] in described
    assert ["lines_pk", "PRIMARY KEY (`id`) RELY", ""] in described
    assert ["# Clustering Information", "", ""] in described
    columns = ok(
        sp_client,
        "SELECT column_name, comment FROM main.information_schema.columns WHERE table_name = 'lines' "
        "ORDER BY ordinal_position",
    )
    assert columns == [["id", "Zeilennummer"], ["note", "it's; free"]]


def test_alter_forms_change_comments_keys_and_clustering(sp_client: WorkspaceClient) -> None:
    ok(sp_client, f"CREATE TABLE {TABLE} (id BIGINT, note STRING) USING DELTA")
    ok(sp_client, f"INSERT INTO {TABLE} VALUES (1, 'a')")
    ok(sp_client, f"ALTER TABLE {TABLE} ALTER COLUMN note COMMENT 'Buchungstext'")
    ok(sp_client, f"COMMENT ON TABLE {TABLE} IS 'lines of tap-datev'")
    # A primary key needs NOT NULL columns; SET NOT NULL checks the rows already there.
    assert failed(sp_client, f"ALTER TABLE {TABLE} ADD CONSTRAINT lines_pk PRIMARY KEY (id)").startswith(
        "[DELTA_NULLABLE_PRIMARY_KEY_COLUMN]"
    )
    ok(sp_client, f"ALTER TABLE {TABLE} ALTER COLUMN id SET NOT NULL")
    ok(sp_client, f"ALTER TABLE {TABLE} ADD CONSTRAINT lines_pk PRIMARY KEY (id) RELY")
    assert failed(sp_client, f"ALTER TABLE {TABLE} ADD CONSTRAINT other_pk PRIMARY KEY (id)").startswith(
        "[DELTA_MULTIPLE_PRIMARY_KEYS]"
    )
    assert failed(sp_client, f"INSERT INTO {TABLE} VALUES (NULL, 'b')").startswith(
        "[DELTA_NOT_NULL_CONSTRAINT_VIOLATED]"
    )
    ok(sp_client, f"OPTIMIZE {TABLE} ZORDER BY (id)")  # not clustered yet: Z-order is allowed
    ok(sp_client, f"ALTER TABLE {TABLE} CLUSTER BY (id, note)")
    assert failed(sp_client, f"OPTIMIZE {TABLE} ZORDER BY (id)").startswith(
        "[DELTA_CLUSTERING_WITH_ZORDER_BY]"
    )
    info = sp_client.tables.get(TABLE)
    assert info.comment == "lines of tap-datev"
    assert [c.comment for c in info.columns or []] == [None, "Buchungstext"]
    assert (info.properties or {})["clusteringColumns"] == '[["id"],["note"]]'
    ok(sp_client, f"ALTER TABLE {TABLE} CLUSTER BY NONE")
    assert "clusteringColumns" not in (sp_client.tables.get(TABLE).properties or {})


def test_rejected_like_databricks(sp_client: WorkspaceClient) -> None:
    assert failed(
        sp_client, "CREATE TABLE main.default.t (id BIGINT, CONSTRAINT t_pk PRIMARY KEY (id)) USING DELTA"
    ).startswith("[DELTA_NULLABLE_PRIMARY_KEY_COLUMN]")
    assert failed(
        sp_client,
        "CREATE TABLE main.default.t (a INT, b INT, c INT, d INT, e INT) USING DELTA "
        "CLUSTER BY (a, b, c, d, e)",
    ).startswith("[DELTA_CLUSTER_BY_INVALID_NUM_COLUMNS]")
    assert failed(sp_client, "CREATE TABLE main.default.t (a INT) USING DELTA CLUSTER BY (nope)").startswith(
        "[DELTA_COLUMN_NOT_FOUND_IN_SCHEMA]"
    )
    assert not sp_client.tables.exists("main.default.t").table_exists


def test_replacing_a_table_forgets_its_metadata(sp_client: WorkspaceClient) -> None:
    _create(sp_client)
    ok(sp_client, f"CREATE OR REPLACE TABLE {TABLE} USING DELTA AS SELECT * FROM {TABLE}")
    info = sp_client.tables.get(TABLE)
    assert info.comment is None and not info.table_constraints
    assert [c.comment for c in info.columns or []] == [None, None]

"""SQL scripting through the Statement Execution API: a `BEGIN … END` compound statement is one
statement of a request, its statements run in order (each committed on its own), and what Databricks'
parser refuses is refused before any of it runs."""

from __future__ import annotations

from databricks.sdk import WorkspaceClient
from dbx_emu_helpers import failed, ok

from databricks_emulator.server import RunningEmulator

TABLE = "main.default.t"


def _tables(w: WorkspaceClient) -> list[str]:
    return sorted(str(row[1]) for row in ok(w, "SHOW TABLES IN main.default"))


def test_a_script_runs_its_statements_in_order_as_one_statement(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    emulator.control.reset_counters()
    rows = ok(
        sp_client,
        f"BEGIN\nCREATE TABLE {TABLE} USING DELTA AS SELECT * FROM VALUES (1, 'a'), (2, 'b') AS v(id, s);\n"
        f"CREATE OR REPLACE VIEW main.default.v AS SELECT id FROM {TABLE} WHERE s = 'b';\nEND",
    )
    assert rows == []  # no statement of it was a query
    assert emulator.control.sql_statements_executed() == 1
    assert emulator.control.count("statements.execute") == 1
    assert ok(sp_client, "SELECT * FROM main.default.v") == [["2"]]
    # A script answers with the result of its last query.
    assert ok(
        sp_client, f"BEGIN INSERT INTO {TABLE} VALUES (3, 'c'); SELECT count(*) AS n FROM {TABLE}; END;"
    ) == [["3"]]


def test_a_failing_statement_ends_the_script_with_its_own_error(sp_client: WorkspaceClient) -> None:
    ok(sp_client, f"CREATE TABLE {TABLE} (id INT) USING DELTA")
    message = failed(
        sp_client,
        "BEGIN CREATE TABLE main.default.first (id INT) USING DELTA;\n"
        f"CREATE TABLE {TABLE} (id INT) USING DELTA;\n"
        "CREATE TABLE main.default.never (id INT) USING DELTA; END",
    )
    assert message.startswith("[TABLE_OR_VIEW_ALREADY_EXISTS]")
    # NOT ATOMIC: what ran before the failure stays, what follows it never runs.
    assert _tables(sp_client) == ["first", "t"]


def test_what_the_parser_refuses_runs_nothing(sp_client: WorkspaceClient) -> None:
    create = f"CREATE TABLE {TABLE} (id INT) USING DELTA"
    for refused in (
        f"BEGIN {create}; END; SELECT 1",  # a compound mixed with another statement
        f"SELECT 1; BEGIN {create}; END",
        f"BEGIN {create} END",  # a statement in a compound ends with ;
        f"BEGIN {create};",  # no END
        f"BEGIN {create}; SELEC 1; END",  # the whole script is parsed before it runs
    ):
        assert failed(sp_client, refused).startswith("[PARSE_SYNTAX_ERROR]"), refused
    assert _tables(sp_client) == []
    assert ok(sp_client, "BEGIN END") == []  # an empty compound is one


def test_a_warehouse_without_scripting_refuses_begin(
    emulator: RunningEmulator, sp_client: WorkspaceClient
) -> None:
    emulator.control.set_sql_scripting(False)
    message = failed(sp_client, f"BEGIN CREATE TABLE {TABLE} (id INT) USING DELTA; END")
    assert message.startswith("[PARSE_SYNTAX_ERROR]") and "'BEGIN'" in message
    assert _tables(sp_client) == []
    emulator.control.set_sql_scripting(True)
    ok(sp_client, f"BEGIN CREATE TABLE {TABLE} (id INT) USING DELTA; END")
    assert _tables(sp_client) == ["t"]

"""PostgreSQL queries on the real server: results, the row limit pushed to the server, server-side timeout, cancel
from another thread, the read-only guarantees, and connections that are always given back."""

from __future__ import annotations

import csv
import sqlite3
import threading
import time
from collections import Counter
from typing import Any, Iterator

import psycopg
import pytest
import sqlglot
from sqlglot import exp

from connectors import (
    CatalogFilters,
    ConnectorError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    connect,
)
from connectors.credentials import PostgresCredentials
from connectors.postgres import PostgresConnector
from connectors.postgres.connection import plan_row_limit
from tests.connectors.spider_loader import SPIDER_DEV_DIR
from tests.connectors.postgres_fixtures import (  # noqa: F401  (fixtures)
    SLOW_PG_QUERY,
    admin_connection,
    backends,
    pg_admin,
    pg_connector,
    pg_credentials,
    spider_pg,
    unique_app_name,
    wait_for_backends,
)

pytestmark = pytest.mark.postgres


def test_query_returns_typed_columns_and_rows(pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    result = pg_connector.query(
        'SELECT "StuID", "LName", "Age" FROM cpg_pets_1."Student" WHERE "Age" > %s ORDER BY "StuID"', [19], max_rows=3
    )
    assert [(c.name, c.type) for c in result.columns] == [("StuID", "int4"), ("LName", "varchar(12)"), ("Age", "int4")]
    source = sqlite3.connect(SPIDER_DEV_DIR / "sqlite" / "pets_1.sqlite")
    expected = source.execute("SELECT StuID, LName, Age FROM Student WHERE Age > 19 ORDER BY StuID LIMIT 3").fetchall()
    source.close()
    assert result.rows == [list(r) for r in expected]
    assert result.row_count == 3 and result.truncated is True
    assert result.elapsed_ms > 0


def test_result_types_are_named_even_for_enums(pg_connector: PostgresConnector, postgres_url: str) -> None:
    with admin_connection(postgres_url) as admin:
        admin.execute("DROP TYPE IF EXISTS public.cpg_mood")
        admin.execute("CREATE TYPE public.cpg_mood AS ENUM ('sad', 'happy')")
    try:
        result = pg_connector.query("SELECT 'happy'::public.cpg_mood AS mood, ARRAY[1, 2] AS nums, %(x)s::int AS x", {"x": 7})
        assert [(c.name, c.type) for c in result.columns] == [("mood", "cpg_mood"), ("nums", "int4[]"), ("x", "int4")]
        assert result.rows == [["happy", [1, 2], 7]]
    finally:
        with admin_connection(postgres_url) as admin:
            admin.execute("DROP TYPE IF EXISTS public.cpg_mood")


def test_not_truncated_when_everything_fits(pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    result = pg_connector.query('SELECT count(*) AS n FROM cpg_pets_1."Pets"', max_rows=1)
    assert result.rows == [[3]] and result.truncated is False
    exact = pg_connector.query('SELECT "PetID" FROM cpg_pets_1."Pets"', max_rows=3)
    assert exact.row_count == 3 and exact.truncated is False
    zero = pg_connector.query('SELECT "PetID" FROM cpg_pets_1."Pets"', max_rows=0)
    assert zero.rows == [] and zero.truncated is True


def test_row_limit_is_pushed_to_the_server(pg_connector: PostgresConnector) -> None:
    # Row 100,000 divides by zero: only a server that stops after max_rows+1 rows can answer without an error.
    sql = "SELECT 1 / (g - 100000) AS x FROM generate_series(1, 200000) AS g"
    result = pg_connector.query(sql, max_rows=10)
    assert result.row_count == 10 and result.truncated is True
    # With a LIMIT of its own (kept as written) the server-side cursor still fetches only max_rows+1 rows.
    limited = pg_connector.query(sql + " LIMIT 150000", max_rows=10)
    assert limited.row_count == 10 and limited.truncated is True
    with pytest.raises(QueryError) as excinfo:
        pg_connector.query(sql, max_rows=150000)
    assert excinfo.value.details["sqlstate"] == "22012"  # division_by_zero: the whole result really was needed


def test_limit_plan_keeps_the_users_text() -> None:
    assert plan_row_limit("SELECT a FROM t;", "postgres", 50) == ("SELECT a FROM t\nLIMIT 51", True)
    assert plan_row_limit("SELECT a FROM t -- note", "postgres", 5) == ("SELECT a FROM t -- note\nLIMIT 6", True)
    assert plan_row_limit("SELECT a FROM t ORDER BY a OFFSET 3", "postgres", 5)[0].endswith("OFFSET 3\nLIMIT 6")
    assert plan_row_limit("SELECT a FROM t LIMIT 10", "postgres", 5) == ("SELECT a FROM t LIMIT 10", True)
    assert plan_row_limit("SELECT a FROM t FETCH FIRST 3 ROWS ONLY", "postgres", 5)[0].endswith("ONLY")
    assert plan_row_limit("SHOW search_path", "postgres", 5) == ("SHOW search_path", False)
    assert plan_row_limit("EXPLAIN SELECT 1", "postgres", 5) == ("EXPLAIN SELECT 1", False)
    assert plan_row_limit("VALUES (1), (2)", "postgres", 5) == ("VALUES (1), (2)", True)


def test_trailing_semicolon_and_comment_run(pg_connector: PostgresConnector) -> None:
    assert pg_connector.query("SELECT 1 AS one;").rows == [[1]]
    assert pg_connector.query("SELECT 2 AS two -- trailing comment").rows == [[2]]
    assert pg_connector.query("SELECT 'a%' LIKE 'a%' AS literal_percent").rows == [[True]]


def test_values_list_is_limited_too(pg_connector: PostgresConnector) -> None:
    result = pg_connector.query("VALUES (1), (2), (3)", max_rows=2)
    assert result.rows == [[1], [2]] and result.truncated


def test_show_and_explain_run_outside_a_cursor(pg_connector: PostgresConnector) -> None:
    assert pg_connector.query("SHOW default_transaction_read_only").rows == [["on"]]
    plan = pg_connector.query("EXPLAIN SELECT * FROM generate_series(1, 10)")
    assert "Function Scan" in plan.rows[0][0]


def test_timeout_stops_the_query_on_the_server(pg_connector: PostgresConnector, pg_admin: psycopg.Connection[Any]) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError) as excinfo:
        pg_connector.query(SLOW_PG_QUERY, timeout=1)
    assert time.monotonic() - started < 3
    assert excinfo.value.retryable is False and excinfo.value.details["sqlstate"] == "57014"
    assert wait_for_backends(pg_admin, pg_connector.application_name, 0, active_only=True) == 0
    leftover = pg_admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
        ["%generate_series(1, 100000) b%"],
    ).fetchone()
    assert leftover == (0,)
    assert pg_connector.query("SELECT 'still usable' AS s").rows == [["still usable"]]


def test_cancel_from_another_thread(pg_connector: PostgresConnector, pg_admin: psycopg.Connection[Any]) -> None:
    pg_connector.test_connection()
    canceller = threading.Timer(0.5, pg_connector.cancel)
    canceller.start()
    started = time.monotonic()
    with pytest.raises(QueryCanceledError) as excinfo:
        pg_connector.query("SELECT pg_sleep(30)", timeout=60)
    assert time.monotonic() - started < 3
    assert excinfo.value.code == "query_canceled"
    assert not isinstance(excinfo.value, QueryTimeoutError)
    assert wait_for_backends(pg_admin, pg_connector.application_name, 0, active_only=True) == 0
    assert pg_connector.query("SELECT 1 AS again").rows == [[1]]


def test_cancel_with_nothing_running_is_harmless(pg_credentials: PostgresCredentials) -> None:
    connector = PostgresConnector(pg_credentials, application_name=unique_app_name("idle_cancel"))
    connector.cancel()  # not even connected
    assert connector.query("SELECT 1 AS ok").rows == [[1]]
    connector.cancel()  # connected, idle
    assert connector.query("SELECT 2 AS ok").rows == [[2]]  # a stale cancel must not hit the next query
    connector.close()


@pytest.fixture
def probe_table(postgres_url: str) -> Iterator[str]:
    admin = admin_connection(postgres_url)
    admin.execute("DROP TABLE IF EXISTS public.cpg_guard_probe")
    admin.execute("CREATE TABLE public.cpg_guard_probe (n int)")
    admin.execute("INSERT INTO public.cpg_guard_probe VALUES (1), (2), (3)")
    try:
        yield "public.cpg_guard_probe"
    finally:
        admin.execute("DROP TABLE IF EXISTS public.cpg_guard_probe")
        admin.close()


def _probe_rows(postgres_url: str) -> list[tuple[Any, ...]]:
    with admin_connection(postgres_url) as admin:
        return admin.execute("SELECT n FROM public.cpg_guard_probe ORDER BY n").fetchall()


REFUSED = [
    "WITH gone AS (DELETE FROM public.cpg_guard_probe RETURNING n) SELECT * FROM gone",
    "DROP TABLE public.cpg_guard_probe",
    "UPDATE public.cpg_guard_probe SET n = n + 1",
    "INSERT INTO public.cpg_guard_probe VALUES (4)",
    "TRUNCATE public.cpg_guard_probe",
    "SELECT * INTO public.cpg_guard_copy FROM public.cpg_guard_probe",
    "SELECT n FROM public.cpg_guard_probe FOR UPDATE",
    "SELECT 1; DELETE FROM public.cpg_guard_probe",
    "COPY public.cpg_guard_probe FROM PROGRAM 'true'",
    "SET default_transaction_read_only = off",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_refused_statement_never_reaches_the_server(
    sql: str, probe_table: str, pg_credentials: PostgresCredentials, pg_admin: psycopg.Connection[Any], postgres_url: str
) -> None:
    app = unique_app_name("guard")
    connector = PostgresConnector(pg_credentials, application_name=app)
    try:
        with pytest.raises(ReadOnlyViolation):
            connector.query(sql)
        # the connector is lazy: had anything been sent, a session would exist
        assert backends(pg_admin, app) == 0
    finally:
        connector.close()
    assert _probe_rows(postgres_url) == [(1,), (2,), (3,)]


class _UnguardedConnector(PostgresConnector):
    """Skips the SQL guard, to prove the walls behind it stand on their own."""

    def guard(self, sql: str, timeout: float | None = None) -> str:
        return sql


@pytest.fixture
def writing_function(probe_table: str, postgres_url: str) -> Iterator[str]:
    """A user-defined function that writes: no deny-list can know it, so the guard lets a call through."""
    admin = admin_connection(postgres_url)
    admin.execute(
        "CREATE OR REPLACE FUNCTION public.cpg_write_probe() RETURNS int LANGUAGE sql VOLATILE AS"
        " $$ DELETE FROM public.cpg_guard_probe RETURNING 1 $$"
    )
    try:
        yield "public.cpg_write_probe"
    finally:
        admin.execute("DROP FUNCTION IF EXISTS public.cpg_write_probe()")
        admin.close()


def test_read_only_session_stops_writes_the_guard_cannot_see(
    writing_function: str, pg_connector: PostgresConnector, postgres_url: str
) -> None:
    # The guard refuses a user-defined function it does not know...
    with pytest.raises(ReadOnlyViolation) as refused:
        pg_connector.query("SELECT public.cpg_write_probe()")
    assert refused.value.construct == "public.cpg_write_probe" and "sqlstate" not in refused.value.details
    # ...and when a source wrongly lists a writing function as its own read-only one, the session still stops it.
    trusting = pg_connector.credentials.model_copy(update={"allowed_functions": ("public.cpg_write_probe",)})
    with PostgresConnector(trusting, application_name=unique_app_name("trusting")) as connector:
        with pytest.raises(ReadOnlyViolation) as excinfo:
            connector.query("SELECT public.cpg_write_probe()")
        assert excinfo.value.details["sqlstate"] == "25006"  # read_only_sql_transaction
        assert connector.query("SHOW transaction_read_only").rows == [["on"]]  # and it stays read-only
    assert _probe_rows(postgres_url) == [(1,), (2,), (3,)]


@pytest.mark.parametrize(
    ("sql", "sqlstate"),
    [
        ("DELETE FROM public.cpg_guard_probe", "42601"),  # DECLARE ... CURSOR FOR <DML> is not even valid syntax
        ("CREATE TABLE public.cpg_guard_new (a int)", "42601"),
        ("WITH gone AS (DELETE FROM public.cpg_guard_probe RETURNING n) SELECT * FROM gone", "0A000"),
    ],
)
def test_server_cursor_refuses_writes_even_without_the_guard(
    sql: str, sqlstate: str, probe_table: str, pg_credentials: PostgresCredentials, postgres_url: str
) -> None:
    with _UnguardedConnector(pg_credentials, application_name=unique_app_name("unguarded")) as connector:
        with pytest.raises(QueryError) as excinfo:
            connector.query(sql)
        assert excinfo.value.details["sqlstate"] == sqlstate
    assert _probe_rows(postgres_url) == [(1,), (2,), (3,)]


def test_connections_are_always_given_back(pg_credentials: PostgresCredentials, pg_admin: psycopg.Connection[Any]) -> None:
    app = unique_app_name("cleanup")

    def run(action) -> None:  # type: ignore[no-untyped-def]
        with PostgresConnector(pg_credentials, application_name=app) as connector:
            try:
                action(connector)
            except ConnectorError:
                pass
        assert wait_for_backends(pg_admin, app, 0) == 0

    assert backends(pg_admin, app) == 0
    run(lambda c: c.query("SELECT 1"))  # success
    run(lambda c: c.query("SELECT * FROM cpg_no_such_table"))  # error
    run(lambda c: c.query(SLOW_PG_QUERY, timeout=0.5))  # timeout

    def cancelled(c: PostgresConnector) -> None:
        threading.Timer(0.3, c.cancel).start()
        c.query("SELECT pg_sleep(30)")

    run(cancelled)  # cancel

    with pytest.raises(RuntimeError):  # an exception in the caller's own code
        with PostgresConnector(pg_credentials, application_name=app) as connector:
            connector.query("SELECT 1")
            assert backends(pg_admin, app) == 1
            raise RuntimeError("caller failed")
    assert wait_for_backends(pg_admin, app, 0) == 0


def test_close_from_another_thread_stops_the_running_query(
    pg_credentials: PostgresCredentials, pg_admin: psycopg.Connection[Any]
) -> None:
    app = unique_app_name("close_running")
    connector = PostgresConnector(pg_credentials, application_name=app)
    connector.test_connection()
    threading.Timer(0.3, connector.close).start()
    started = time.monotonic()
    with pytest.raises(ConnectorError):
        connector.query("SELECT pg_sleep(30)")
    assert time.monotonic() - started < 3
    assert wait_for_backends(pg_admin, app, 0) == 0  # no session, so no statement, left on the server


def test_close_is_idempotent_and_final(pg_credentials: PostgresCredentials) -> None:
    connector = connect(pg_credentials)
    assert connector.query("SELECT 1").rows == [[1]]
    connector.close()
    connector.close()
    assert connector.closed
    with pytest.raises(ConnectorError) as excinfo:
        connector.query("SELECT 1")
    assert excinfo.value.code == "connector_closed"


def test_connection_test_reports_version_and_latency(pg_connector: PostgresConnector) -> None:
    result = pg_connector.test_connection()
    assert result.ok and result.error is None
    assert result.server_version and result.server_version[0].isdigit()
    assert result.latency_ms is not None and result.latency_ms > 0


def test_session_settings_are_applied(pg_connector: PostgresConnector, pg_admin: psycopg.Connection[Any]) -> None:
    assert pg_connector.query("SHOW default_transaction_read_only").rows == [["on"]]
    assert pg_connector.query("SHOW transaction_read_only").rows == [["on"]]
    # statement_timeout is local to the query's transaction: the session default is untouched
    assert pg_connector.query("SHOW statement_timeout", timeout=7).rows == [["7s"]]
    row = pg_admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [pg_connector.application_name]
    ).fetchone()
    assert row == (1,)


def test_invalid_arguments_are_typed_errors(pg_connector: PostgresConnector) -> None:
    with pytest.raises(QueryError, match="max_rows"):
        pg_connector.query("SELECT 1", max_rows=-1)
    with pytest.raises(QueryError, match="timeout"):
        pg_connector.query("SELECT 1", timeout=0)


def test_spider_gold_queries_run_through_the_connector(pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    """All 507 spider-dev gold queries (MySQL dialect), transpiled with sqlglot, through guard + cursor + pushed LIMIT.

    MySQL identifiers are case-insensitive and PostgreSQL's quoted ones are not, so every table and column name is
    first mapped to its loaded spelling (from our own catalog) and tables are qualified with their `cpg_` schema.
    None may be refused by the guard or broken by the appended LIMIT (no syntax error); the only failures allowed
    are PostgreSQL's stricter typing of spider's TEXT columns (42883: no `text = integer` operator).
    """
    catalog = pg_connector.introspect(CatalogFilters(include_schemas=["cpg_*"], exclude_schemas=["cpg_bench*"]))
    table_names: dict[tuple[str, str], str] = {}
    column_names: dict[tuple[str, str], str] = {}
    for _, schema, table in catalog.iter_tables():
        table_names[(schema.name, table.name.lower())] = table.name
        for column in table.columns:
            column_names[(schema.name, column.name.lower())] = column.name
    with open(SPIDER_DEV_DIR / "questions.csv", newline="") as handle:
        questions = list(csv.DictReader(handle))
    assert len(questions) == 507
    outcomes: Counter[str] = Counter()
    for question in questions:
        schema = f"cpg_{question['database'].lower()}"
        tree = sqlglot.parse_one(question["sql"], read="mysql")
        for node in tree.find_all(exp.Table):
            if not node.args.get("db"):
                node.set("db", exp.to_identifier(schema, quoted=True))
            node.set("this", exp.to_identifier(table_names.get((schema, node.name.lower()), node.name), quoted=True))
        for node in tree.find_all(exp.Column):
            node.set("this", exp.to_identifier(column_names.get((schema, node.name.lower()), node.name), quoted=True))
        try:
            pg_connector.query(tree.sql("postgres"), timeout=10)
            outcomes["ok"] += 1
        except ReadOnlyViolation as exc:
            pytest.fail(f"guard refused a gold query: {question['sql']} ({exc.message})")
        except QueryError as exc:
            assert exc.details.get("sqlstate") == "42883", (question["sql"], exc.message)
            outcomes[exc.details["sqlstate"]] += 1
    assert outcomes["ok"] >= 480, outcomes

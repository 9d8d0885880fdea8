"""MySQLConnector against the real MariaDB: queries, row limits, timeouts, cancel, read-only, connection hygiene."""

from __future__ import annotations

import threading
from contextlib import nullcontext
import time
from typing import Any

import pymysql
import pytest

from connectors import (
    ConnectorError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    connect,
)
from connectors.mysql import MySQLConnector
from tests.connectors.mysql_support import (  # noqa: F401 - fixtures
    SLOW_MYSQL_QUERY,
    mysql_admin,
    mysql_root_credentials,
    mysql_tester,
    running_statements,
    spider_mysql,
    suite_processes,
    wait_for_connections,
)

pytestmark = pytest.mark.mysql


@pytest.fixture
def conn(mysql_tester: dict[str, Any], spider_mysql: list[str]) -> Any:
    with connect(mysql_tester) as connector:
        yield connector


def _admin_scalar(admin: pymysql.Connection, sql: str) -> Any:
    with admin.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_connect_returns_a_mysql_connector_that_opens_lazily(mysql_tester, mysql_admin, spider_mysql):
    baseline = len(suite_processes(mysql_admin))
    connector = connect(mysql_tester)
    assert isinstance(connector, MySQLConnector)
    assert len(suite_processes(mysql_admin)) == baseline  # nothing opened yet
    with connector:
        assert connector.query("SELECT 1").rows == [[1]]
        assert wait_for_connections(mysql_admin, baseline + 1) == baseline + 1
    assert connector.closed
    assert wait_for_connections(mysql_admin, baseline) == baseline
    connector.close()  # idempotent


def test_test_connection_reports_version_and_flavor(conn):
    result = conn.test_connection()
    assert result.ok, result.error
    assert "MariaDB" in result.server_version and not result.server_version.startswith("5.5.5-")
    assert result.latency_ms is not None and result.latency_ms >= 0
    assert conn.server.flavor == "mariadb" and conn.server.version >= (10, 1, 0)


def test_query_returns_columns_with_source_types_and_rows(conn):
    result = conn.query(
        "SELECT Id, MPG, Edispl, CAST(1.25 AS DECIMAL(5,2)) AS d, DATE '2024-01-02' AS day, x'00ff' AS raw "
        "FROM cars_data WHERE Id = %s",
        params=[1],
    )
    assert [c.name for c in result.columns] == ["Id", "MPG", "Edispl", "d", "day", "raw"]
    assert [c.type for c in result.columns] == ["int", "text", "float", "decimal", "date", "varbinary"]
    assert result.row_count == 1 and not result.truncated
    row = result.rows[0]
    assert row[0] == 1 and row[1] == "18" and str(row[3]) == "1.25" and row[4].isoformat() == "2024-01-02"
    assert row[5] == b"\x00\xff"


def test_max_rows_truncates_and_says_so(conn, mysql_admin):
    total = _admin_scalar(mysql_admin, "SELECT COUNT(*) FROM cmy_car_1.cars_data")
    assert total > 20
    limited = conn.query("SELECT Id FROM cars_data ORDER BY Id", max_rows=10)
    assert limited.row_count == 10 and limited.truncated
    assert [r[0] for r in limited.rows] == list(range(1, 11))
    everything = conn.query("SELECT Id FROM cars_data", max_rows=total)
    assert everything.row_count == total and not everything.truncated
    nothing = conn.query("SELECT Id FROM cars_data", max_rows=0)
    assert nothing.row_count == 0 and nothing.truncated


def test_row_limit_is_pushed_to_the_server_not_sliced(conn, mysql_admin):
    # 5,000,000 rows from MariaDB's sequence engine: reading them all would take seconds.
    started = time.perf_counter()
    result = conn.query("SELECT seq FROM seq_1_to_5000000", max_rows=50)
    assert time.perf_counter() - started < 1.0
    assert result.row_count == 50 and result.truncated
    assert result.rows[-1] == [50]
    assert running_statements(mysql_admin) == []


def test_a_query_with_its_own_large_limit_is_stopped_on_the_server(conn, mysql_admin):
    # The statement's LIMIT exceeds max_rows, so no LIMIT is appended: the stream is cut with KILL QUERY instead.
    started = time.perf_counter()
    result = conn.query("SELECT seq FROM seq_1_to_50000000 LIMIT 40000000", max_rows=5)
    # reading all 40M rows takes far longer; the margin is for a loaded 2-core machine, not a late kill
    assert time.perf_counter() - started < 10.0
    assert result.rows == [[1], [2], [3], [4], [5]] and result.truncated
    assert running_statements(mysql_admin) == []
    assert conn.query("SELECT 2").rows == [[2]]  # the connection survived the kill


def test_show_statements_run_and_are_truncated(conn):
    result = conn.query("SHOW TABLES", max_rows=2)
    assert result.row_count == 2 and result.truncated
    assert all(isinstance(r[0], str) for r in result.rows)


def test_sleep_past_the_timeout_raises_query_timeout_and_leaves_nothing_running(conn, mysql_admin):
    started = time.perf_counter()
    with pytest.raises(QueryTimeoutError) as info:
        conn.query(SLOW_MYSQL_QUERY, timeout=1)
    assert time.perf_counter() - started < 3.0
    assert info.value.details["mysql_errno"] == 1969  # MariaDB's own max_statement_time stopped it
    assert not info.value.retryable
    assert running_statements(mysql_admin) == []
    assert conn.query("SELECT 3").rows == [[3]]


def test_cancel_from_another_thread_stops_the_query_on_the_server(conn, mysql_admin):
    timer = threading.Timer(0.5, conn.cancel)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(QueryCanceledError):
        conn.query("SELECT SLEEP(30)", timeout=60)
    assert time.perf_counter() - started < 3.0
    timer.join()
    assert running_statements(mysql_admin) == []
    assert conn.query("SELECT 4").rows == [[4]]


def test_cancel_with_nothing_running_is_harmless(conn):
    conn.cancel()  # before the connection even exists
    assert conn.query("SELECT 5").rows == [[5]]
    conn.cancel()
    assert conn.query("SELECT 6").rows == [[6]]


def test_client_watchdog_kills_a_statement_the_server_timeout_does_not_cover(conn, monkeypatch):
    """With the server-side limit disabled, the watchdog's KILL QUERY still ends the statement as a timeout."""
    import connectors.mysql.connection as connection_module

    monkeypatch.setattr(connection_module, "WATCHDOG_GRACE_S", 0.0)
    monkeypatch.setattr(connection_module, "with_mariadb_timeout", lambda sql, timeout_s: sql)
    started = time.perf_counter()
    with pytest.raises(QueryTimeoutError) as info:
        conn.query(SLOW_MYSQL_QUERY, timeout=1)
    assert time.perf_counter() - started < 3.0
    assert info.value.details["mysql_errno"] == 1317


def test_refused_statement_never_reaches_the_server(mysql_root_credentials, mysql_admin):
    with mysql_admin.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS cmy_guard")
        cur.execute("CREATE OR REPLACE TABLE cmy_guard.canary (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO cmy_guard.canary VALUES (1), (2), (3)")
    # root may write anything: only the connector stands between these statements and the table
    connector = connect(mysql_root_credentials)
    with connector:
        for sql in (
            "DELETE FROM cmy_guard.canary",
            "DROP TABLE cmy_guard.canary",
            "WITH x AS (SELECT 1) DELETE FROM cmy_guard.canary",
            "SELECT * FROM cmy_guard.canary; DELETE FROM cmy_guard.canary",
            "UPDATE cmy_guard.canary SET id = id + 10",
        ):
            with pytest.raises(ReadOnlyViolation):
                connector.query(sql)
        assert connector._conn is None  # refused before the connection was even opened  # noqa: SLF001
    assert _admin_scalar(mysql_admin, "SELECT COUNT(*) FROM cmy_guard.canary") == 3
    assert _admin_scalar(mysql_admin, "SELECT MAX(id) FROM cmy_guard.canary") == 3


def test_session_refuses_writes_even_when_the_guard_is_bypassed(mysql_root_credentials, mysql_admin, monkeypatch):
    """Second line of defence: the read-only session/transaction, proven by switching the guard off."""
    with mysql_admin.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS cmy_guard")
        cur.execute("CREATE OR REPLACE TABLE cmy_guard.canary2 (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO cmy_guard.canary2 VALUES (1)")
    with connect(mysql_root_credentials) as connector:
        monkeypatch.setattr(connector, "guard", lambda sql, timeout=None: sql)
        for sql in (
            "INSERT INTO cmy_guard.canary2 VALUES (2)",
            "DELETE FROM cmy_guard.canary2",
            "CREATE TABLE cmy_guard.canary3 (id INT)",  # DDL would commit implicitly out of a READ ONLY transaction
        ):
            with pytest.raises(PermissionDeniedError) as info:
                connector.query(sql)
            assert info.value.code == "read_only_session"
    assert _admin_scalar(mysql_admin, "SELECT COUNT(*) FROM cmy_guard.canary2") == 1
    assert _admin_scalar(mysql_admin, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='cmy_guard' AND TABLE_NAME='canary3'") == 0


def test_invalid_arguments_are_typed_errors(conn):
    with pytest.raises(QueryError) as info:
        conn.query("SELECT 1", max_rows=-1)
    assert info.value.code == "invalid_argument"
    with pytest.raises(QueryError):
        conn.query("SELECT 1", timeout=0)


def test_query_errors_keep_the_connection_usable(conn):
    with pytest.raises(QueryError) as info:
        conn.query("SELECT no_such_column FROM cars_data")
    assert info.value.details["mysql_errno"] == 1054
    assert conn.query("SELECT 7").rows == [[7]]


def test_closed_connector_refuses_work(mysql_tester):
    connector = connect(mysql_tester)
    connector.close()
    with pytest.raises(ConnectorError) as info:
        connector.query("SELECT 1")
    assert info.value.code == "connector_closed"


@pytest.mark.parametrize("outcome", ["success", "query_error", "timeout", "cancel"])
def test_connections_are_closed_whatever_happened(outcome, mysql_tester, mysql_admin, spider_mysql):
    baseline = wait_for_connections(mysql_admin, len(suite_processes(mysql_admin)))
    with pytest.raises(Exception) if outcome != "success" else nullcontext():
        with connect(mysql_tester) as connector:
            if outcome == "success":
                connector.query("SELECT 1")
            elif outcome == "query_error":
                connector.query("SELECT * FROM no_such_table")
            elif outcome == "timeout":
                connector.query(SLOW_MYSQL_QUERY, timeout=0.5)
            else:
                threading.Timer(0.3, connector.cancel).start()
                connector.query("SELECT SLEEP(10)")
    assert wait_for_connections(mysql_admin, baseline) == baseline
    assert running_statements(mysql_admin) == []



def test_every_spider_gold_query_runs_through_the_connector_with_the_servers_answer(mysql_tester, mysql_admin, spider_mysql):
    """All 507 gold queries (MySQL dialect) pass the guard, the pushed LIMIT and the read-only transaction, and return
    what the server returns for the bare statement. A query with its own LIMIT may break ties differently between two
    executions (`ORDER BY COUNT(*) DESC LIMIT 1`), so those are compared by row count."""
    import csv

    from tests.connectors.spider_loader import SPIDER_DEV_DIR, schema_name

    with open(SPIDER_DEV_DIR / "questions.csv", newline="") as handle:
        questions = list(csv.DictReader(handle))
    assert len(questions) == 507
    connectors: dict[str, Any] = {}
    mismatches = []
    try:
        for question in questions:
            database = schema_name("cmy_", question["database"])
            conn = connectors.get(database) or connectors.setdefault(database, connect({**mysql_tester, "database": database}))
            ours = conn.query(question["sql"], max_rows=100_000)
            mysql_admin.select_db(database)
            with mysql_admin.cursor() as cur:
                cur.execute(question["sql"])
                direct = [list(row) for row in cur.fetchall()]
            assert not ours.truncated
            if " LIMIT " in question["sql"].upper():
                same = len(ours.rows) == len(direct)
            else:
                same = sorted(map(repr, ours.rows)) == sorted(map(repr, direct))
            if not same:
                mismatches.append(question["sql"])
    finally:
        for conn in connectors.values():
            conn.close()
    assert mismatches == []

"""SQL Server query path at the cursor boundary, against recorded pyodbc behaviour (see sqlserver_support.py).

Proves what the connector sends and how it reads the answer: the guard runs before anything reaches the cursor,
TOP (max_rows+1) lands in the statement and only max_rows+1 rows are fetched, a truncated statement is canceled,
the ODBC query timeout is set, every statement is rolled back and nothing is ever committed, cancel() from another
thread reaches the running cursor, and HYT00/HY008 become QueryTimeoutError/QueryCanceledError.
"""

from __future__ import annotations

import datetime
import decimal
import threading
import time

import pytest

pytest.importorskip("pyodbc")

import sqlglot  # noqa: E402
from sqlglot import exp  # noqa: E402

from connectors import QueryCanceledError, QueryError, QueryTimeoutError, ReadOnlyViolation, connect  # noqa: E402
from connectors.sqlserver.connection import SQLServerConnector  # noqa: E402
from tests.connectors.sqlserver_support import (  # noqa: E402
    CANCELED_ERROR,
    TIMEOUT_ERROR,
    Answer,
    RecordedConnection,
    column,
    odbc_error,
)

SINGERS = [(i, f"singer {i}", decimal.Decimal("1.50") * i, datetime.date(2000, 1, 1)) for i in range(1, 31)]
SINGER_COLUMNS = [column("id", int), column("name", str), column("fee", decimal.Decimal), column("born", datetime.date)]


def _connector(answer=None) -> tuple[SQLServerConnector, RecordedConnection]:
    conn = connect({"type": "sqlserver", "host": "db.example", "database": "spider", "username": "u", "password": "pw"})
    recorded = RecordedConnection(answer or (lambda sql: Answer(description=SINGER_COLUMNS, rows=SINGERS)))
    conn._conn = recorded  # the connection pyodbc would have opened
    return conn, recorded


def test_refused_statement_never_reaches_the_cursor() -> None:
    conn, recorded = _connector()
    for sql in (
        "DELETE FROM singer",
        "SELECT * INTO #copy FROM singer",
        "SELECT 1; DROP TABLE singer",
        "EXEC xp_cmdshell 'dir'",
        "SELECT * FROM singer WITH (UPDLOCK)",
        "WAITFOR DELAY '00:01:00'",
    ):
        with pytest.raises(ReadOnlyViolation):
            conn.query(sql)
    assert recorded.executed == []
    assert recorded.cursors == []


def test_top_is_pushed_and_only_max_rows_plus_one_are_fetched() -> None:
    conn, recorded = _connector()
    result = conn.query("SELECT id, name, fee, born FROM singer ORDER BY id", max_rows=10)
    sent = recorded.statements[-1]
    assert sent == "SELECT TOP (11) id, name, fee, born FROM singer ORDER BY id"
    assert sqlglot.parse_one(sent, read="tsql").args["limit"].expression.name == "11"
    assert recorded.cursors[-1].fetchmany_sizes == [11]
    assert result.row_count == 10 and result.truncated is True
    assert result.rows[0] == [1, "singer 1", decimal.Decimal("1.50"), datetime.date(2000, 1, 1)]
    assert [(c.name, c.type) for c in result.columns] == [
        ("id", "int"), ("name", "nvarchar"), ("fee", "decimal"), ("born", "date"),
    ]
    assert recorded.cursors[-1].cancel_calls == 1  # truncated: the rest of the stream is stopped


def test_complete_result_is_not_truncated_and_not_canceled() -> None:
    conn, recorded = _connector(lambda sql: Answer(description=SINGER_COLUMNS, rows=SINGERS[:3]))
    result = conn.query("SELECT TOP 3 id, name, fee, born FROM singer", max_rows=10)
    assert recorded.statements[-1] == "SELECT TOP 3 id, name, fee, born FROM singer"  # its own TOP is kept
    assert result.row_count == 3 and result.truncated is False
    assert recorded.cursors[-1].cancel_calls == 0


def test_every_statement_is_rolled_back_and_never_committed() -> None:
    conn, recorded = _connector()
    conn.query("SELECT id FROM singer", max_rows=5)
    conn.query("SELECT name FROM singer", max_rows=5)
    assert recorded.rollbacks >= 2
    assert recorded.commits == 0


def test_query_timeout_is_set_on_the_connection_in_whole_seconds() -> None:
    conn, recorded = _connector()
    conn.query("SELECT id FROM singer", timeout=2.2)
    assert recorded.timeouts[-1] == 3
    conn.query("SELECT id FROM singer", timeout=0.1)
    assert recorded.timeouts[-1] == 1


def test_positional_parameters_reach_the_cursor() -> None:
    conn, recorded = _connector()
    conn.query("SELECT id FROM singer WHERE name = ? AND id > ?", params=["x", 3])
    sql, params = recorded.executed[-1]
    assert sql == "SELECT TOP (5001) id FROM singer WHERE name = ? AND id > ?"
    assert params == ("x", 3)
    with pytest.raises(QueryError, match="positional"):
        conn.query("SELECT id FROM singer WHERE name = ?", params={"name": "x"})


def test_driver_timeout_becomes_query_timeout_error() -> None:
    cls, state, text, native = TIMEOUT_ERROR
    conn, recorded = _connector(lambda sql: Answer(error=odbc_error(cls, state, text, native)))
    with pytest.raises(QueryTimeoutError) as info:
        conn.query("SELECT COUNT_BIG(*) FROM sys.all_objects a CROSS JOIN sys.all_objects b", timeout=1)
    assert info.value.details["sqlstate"] == "HYT00"
    assert recorded.rollbacks >= 1


def test_cancel_from_another_thread_reaches_the_running_cursor() -> None:
    cls, state, text, native = CANCELED_ERROR
    conn, recorded = _connector(lambda sql: Answer(block_until_cancel=odbc_error(cls, state, text, native)))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            conn.query("SELECT COUNT_BIG(*) FROM sys.all_objects a CROSS JOIN sys.all_objects b", timeout=30)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert recorded.running.wait(5)
    start = time.monotonic()
    conn.cancel()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - start < 2
    assert len(errors) == 1 and isinstance(errors[0], QueryCanceledError)
    assert recorded.cancels == 1


def test_cancel_when_nothing_runs_is_harmless() -> None:
    conn, recorded = _connector()
    conn.cancel()
    assert recorded.cancels == 0


def test_watchdog_cancels_when_the_driver_ignores_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import connectors.sqlserver.connection as connection

    monkeypatch.setattr(connection, "WATCHDOG_GRACE_S", 0.2)
    cls, state, text, native = CANCELED_ERROR
    conn, recorded = _connector(lambda sql: Answer(block_until_cancel=odbc_error(cls, state, text, native)))
    start = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        conn.query("SELECT COUNT_BIG(*) FROM sys.all_objects", timeout=0.3)
    assert time.monotonic() - start < 3
    assert recorded.cancels == 1


def test_lost_connection_is_dropped_and_reopened_next_time() -> None:
    import pyodbc

    def answer(sql: str) -> Answer:
        return Answer(error=odbc_error(pyodbc.OperationalError, "08S01", "Communication link failure", 0))

    conn, recorded = _connector(answer)

    def broken_rollback() -> None:
        raise pyodbc.OperationalError("08S01", "[08S01] [FreeTDS][SQL Server]Communication link failure (0) (SQLEndTran)")

    recorded.rollback = broken_rollback  # type: ignore[method-assign]
    from connectors import NetworkError

    with pytest.raises(NetworkError):
        conn.query("SELECT 1")
    assert conn._conn is None and recorded.closed


def test_profile_statements_pass_the_guard_and_are_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    """profile() uses the shared profiler through query(): its T-SQL passes the guard and carries a row limit."""
    from connectors.catalog import Column, Table

    table = Table(
        name="singer",
        columns=[
            Column(ordinal=1, name="id", data_type="int", normalized_type="integer", nullable=False),
            Column(ordinal=2, name="name", data_type="nvarchar(50)", normalized_type="string"),
        ],
        primary_key=["id"],
        row_count=30,
    )

    def answer(sql: str) -> Answer:
        tree = sqlglot.parse_one(sql, read="tsql")
        names = [s.alias_or_name for s in tree.selects]
        if "c0_nn" in names:  # the statistics statement
            return Answer(description=[column(n, int) for n in names], rows=[tuple(30 if n == "n" else 30 for n in names)])
        return Answer(description=[column("i", int), column("v", str), column("c", int)], rows=[(0, 7, 1)])

    conn, recorded = _connector(answer)
    import connectors.sqlserver.profile as profile_module

    monkeypatch.setattr(profile_module, "find_table", lambda connector, ref: ("dbo", table))
    profile = conn.profile("dbo.singer")
    assert profile.table == "singer" and profile.sampled_rows == 30
    assert len(recorded.statements) == 2
    for sent in recorded.statements:
        tree = sqlglot.parse_one(sent, read="tsql")
        assert isinstance(tree, exp.Query)


def test_introspect_runs_the_bulk_catalog_queries_on_the_connection() -> None:
    from tests.connectors.test_sqlserver_errors_catalog import RECORDED
    from connectors.sqlserver.connection import SERVER_VERSION_SQL

    def answer(sql: str) -> Answer:
        if sql == SERVER_VERSION_SQL:
            return Answer(description=[column("v", str)], rows=[("16.0.1000.6",)])
        return Answer(description=[column("x", str)], rows=RECORDED[sql])

    conn, recorded = _connector(answer)
    catalog = conn.introspect()
    assert catalog.round_trips == 5 and catalog.server_version == "16.0.1000.6"
    assert catalog.table_count == 6
    assert recorded.statements[0] == SERVER_VERSION_SQL and len(recorded.statements) == 6
    assert recorded.commits == 0 and recorded.rollbacks >= 1
    assert set(recorded.timeouts) == {300}  # every catalog statement has the catalog query timeout

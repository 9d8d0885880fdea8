"""The SQL Server connector (pyodbc over Microsoft's ODBC driver or FreeTDS), in the PostgreSQL connector's shape.

What it guarantees, and how:
- lazy open: nothing touches the network until the first call that needs the server;
- read-only twice over: every statement passes the SQL guard (T-SQL dialect), and every statement runs inside a
  transaction that is always rolled back (pyodbc's autocommit off = implicit transactions; SQL Server DDL is
  transactional too), at READ COMMITTED, with `ApplicationIntent=ReadOnly` so availability groups route the
  session to a readable secondary when one exists;
- the row limit is pushed to the server: `TOP (max_rows+1)` (or OFFSET/FETCH) is put into the user's text where
  sqlglot's AST shows it is safe (see `statements.py`), the cursor fetches max_rows+1 rows, and a truncated
  statement is canceled so the server stops sending;
- the timeout: SQL Server has no per-statement server timeout setting, so the ODBC query timeout
  (SQL_ATTR_QUERY_TIMEOUT, pyodbc's `Connection.timeout`) makes the driver send an attention that stops the statement
  on the server; a client watchdog calls `cursor.cancel()` a little later in case the driver never does;
- `cancel()` from any thread calls `SQLCancel` on the running cursor (pyodbc `Cursor.cancel()`);
- errors are mapped by SQLSTATE and SQL Server's error number (see `errors.py`); the password is only ever inside
  the rendered ODBC connection string and never in a message, repr or log;
- `close()` closes the connection whatever happened before.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, ClassVar, Sequence

import pyodbc

from connectors.base import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    Connector,
    ProgressCallback,
    check_query_limits,
    close_quietly,
    finished_query,
    log_introspected,
    run_connection_test,
)
from connectors.capabilities import RoleCapabilities
from connectors.catalog import Catalog, CatalogFilters, TableProfile, TableRef
from connectors.credentials import SQLServerCredentials
from connectors.deadline import RunningCursor, watchdog
from connectors.errors import QueryError
from connectors.results import ConnectionTest, QueryResult, ResultColumn
from connectors.sqlserver.catalog import SQLServerCatalogReader
from connectors.sqlserver.errors import map_error
from connectors.sqlserver.odbc import ConnectionString, build_connection_string, choose_driver
from connectors.sqlserver.role import PERMISSIONS_SQL, WRITABLE_SQL, read_role
from connectors.sqlserver.statements import push_row_limit
from connectors.sqlserver.types import result_type_name

log = logging.getLogger("connectors.sqlserver")

#: how long after the ODBC query timeout the client cancels the statement itself
WATCHDOG_GRACE_S = 2.0
#: ODBC query timeout for each catalog statement (introspection must not hang on a blocked catalog)
CATALOG_TIMEOUT_S = 300
SESSION_SETUP = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
SERVER_VERSION_SQL = "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128))"


class SQLServerConnector(Connector):
    """Read-only SQL Server / Azure SQL connector over pyodbc."""

    source_type: ClassVar[str] = "sqlserver"
    dialect: ClassVar[str] = "tsql"

    def __init__(self, credentials: SQLServerCredentials) -> None:
        super().__init__(credentials)
        self.credentials: SQLServerCredentials = credentials
        self._conn: Any = None  # pyodbc.Connection
        self._open_lock = threading.Lock()
        self._running_cursor = RunningCursor(log, self.source_type)
        self._cancel_requested = threading.Event()
        self._timed_out = threading.Event()
        self._server_version: str | None = None

    # -- connection ------------------------------------------------------------------------------------------------
    @property
    def _secrets(self) -> list[str]:
        return self.credentials.secret_values()

    def connection_string(self) -> ConnectionString:
        """The ODBC connection string for the best installed driver (its repr and `redacted()` hide the password)."""
        return build_connection_string(self.credentials, choose_driver(pyodbc.drivers(), self.credentials.driver))

    def _connection(self) -> Any:
        self._ensure_open()
        with self._open_lock:
            if self._conn is not None:
                return self._conn
            conn_str = self.connection_string()
            if not conn_str.tls_verified and self.credentials.encrypt:
                log.info(
                    "server certificate not verified by this driver",
                    extra={"source": self.source_type, "driver": conn_str.driver},
                )
            try:
                conn = pyodbc.connect(conn_str.render(), autocommit=False, timeout=self.credentials.connect_timeout)
            except pyodbc.Error as exc:
                raise map_error(exc, secrets=self._secrets, connecting=True) from None
            try:
                conn.execute(SESSION_SETUP)
                conn.rollback()
            except pyodbc.Error as exc:
                conn.close()
                raise map_error(exc, secrets=self._secrets) from None
            self._conn = conn
            log.info("connection opened", extra={"source": self.source_type, "host": self.credentials.host})
            return conn

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly(conn)

    def _close(self) -> None:
        self._discard_connection()

    def _rollback_quietly(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.rollback()
        except pyodbc.Error:
            self._discard_connection()

    # -- the interface -----------------------------------------------------------------------------------------------
    def test_connection(self) -> ConnectionTest:
        return run_connection_test(self._round_trip, self.role_capabilities)

    def role_capabilities(self) -> RoleCapabilities:
        """Two permission-check statements (see `role.py`) in a transaction that is rolled back."""
        conn = self._connection()
        conn.timeout = CATALOG_TIMEOUT_S
        try:
            permissions = _dict_rows(conn.execute(PERMISSIONS_SQL))
            writable = _dict_rows(conn.execute(WRITABLE_SQL))
        except pyodbc.Error as exc:
            error = map_error(exc, secrets=self._secrets)
            self._after_failure()
            raise error from None
        self._rollback_quietly()
        return read_role(permissions[0] if permissions else None, writable)

    def _round_trip(self) -> str:
        """The server's product version, read on the (opened if needed) connection."""
        conn = self._connection()
        try:
            version = conn.execute(SERVER_VERSION_SQL).fetchone()[0]
            conn.rollback()
        except pyodbc.Error as exc:
            self._after_failure()
            raise map_error(exc, secrets=self._secrets) from None
        self._server_version = version
        return version

    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        check_query_limits(max_rows, timeout)
        if isinstance(params, dict):
            raise QueryError("SQL Server queries take positional parameters (? markers), not a dict", code="invalid_argument")
        checked = self.guard(sql, timeout)  # raises ReadOnlyViolation before anything reaches the server
        statement = push_row_limit(checked, max_rows)
        conn = self._connection()
        start = time.perf_counter()
        try:
            columns, rows, truncated = self._run(conn, statement, params, max_rows, timeout)
        except pyodbc.Error as exc:
            error = map_error(
                exc,
                secrets=self._secrets,
                canceled=self._cancel_requested.is_set(),
                timed_out=self._timed_out.is_set(),
                timeout_s=timeout,
            )
            self._after_failure()
            log.info("query failed", extra={"source": self.source_type, "code": error.code})
            raise error from None
        self._rollback_quietly()  # read-only: nothing a statement did survives it
        return finished_query(log, self.source_type, columns, rows, truncated, start)

    def _run(
        self, conn: Any, statement: str, params: Sequence[Any] | None, max_rows: int, timeout: float
    ) -> tuple[list[ResultColumn], list[list[Any]], bool]:
        """Execute on a fresh cursor with the ODBC query timeout and a watchdog; fetch at most max_rows+1 rows."""
        self._cancel_requested.clear()
        self._timed_out.clear()
        conn.timeout = max(1, math.ceil(timeout))  # SQL_ATTR_QUERY_TIMEOUT, whole seconds
        with (
            self._running_cursor.track(conn.cursor()) as cursor,
            watchdog(timeout + WATCHDOG_GRACE_S, self._watchdog_fired),
        ):
            cursor.execute(statement, *(list(params) if params else []))
            if cursor.description is None:
                return [], [], False
            columns = [ResultColumn(name=d[0], type=result_type_name(d[1])) for d in cursor.description]
            fetched = cursor.fetchmany(max_rows + 1)
            truncated = len(fetched) > max_rows
            if truncated:
                self._running_cursor.cancel_cursor(cursor)  # the server may still be streaming rows nobody will read
            return columns, [list(r) for r in fetched[:max_rows]], truncated

    def _after_failure(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            conn.rollback()
        except pyodbc.Error:  # the connection is gone (network, killed session): open a fresh one next time
            self._discard_connection()

    def _watchdog_fired(self) -> None:
        self._timed_out.set()
        log.warning("driver did not honour the query timeout; canceling", extra={"source": self.source_type})
        self._running_cursor.cancel()

    def cancel(self) -> None:
        self._cancel_requested.set()
        self._running_cursor.cancel()

    # -- catalog and profiles ---------------------------------------------------------------------------------------
    def introspect(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        conn = self._connection()
        start = time.perf_counter()

        def run(sql: str) -> list[Any]:
            cursor = conn.cursor()
            try:
                return cursor.execute(sql).fetchall()
            finally:
                cursor.close()

        conn.timeout = CATALOG_TIMEOUT_S  # applies to the cursors opened below
        try:
            if self._server_version is None:
                self._server_version = conn.execute(SERVER_VERSION_SQL).fetchone()[0]
            reader = SQLServerCatalogReader(run=run, database=self.credentials.database, server_version=self._server_version)
            catalog = reader.read(filters, progress)
        except pyodbc.Error as exc:
            error = map_error(exc, secrets=self._secrets)
            self._after_failure()
            raise error from None
        finally:
            self._rollback_quietly()
        log_introspected(log, self.source_type, catalog, start)
        return catalog

    def profile(self, table: TableRef | str, sample_size: int = 10_000) -> TableProfile:
        from connectors.sqlserver.profile import profile_sqlserver_table

        return profile_sqlserver_table(self, table, sample_size)


def _dict_rows(cursor: Any) -> list[dict[str, Any]]:
    """A finished cursor's rows keyed by column name."""
    names = [d[0] for d in cursor.description or ()]
    try:
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        cursor.close()

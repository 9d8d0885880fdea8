"""The Databricks connector (databricks-sql-connector), in the PostgreSQL connector's shape.

What it guarantees, and how:
- lazy open: nothing touches the network until the first call that needs the warehouse;
- authentication by personal access token or OAuth machine-to-machine (service principal) - see `auth.py`;
- read-only: every statement passes the SQL guard (Databricks dialect). Databricks has no read-only session mode, so
  the guard is the protection on this source; give the principal SELECT-only grants as well;
- the row limit is pushed: `LIMIT max_rows+1` is appended when the query has none (see `statements.py`), the cursor
  is opened with `row_limit=max_rows+1` and fetches only that many rows;
- the timeout is the warehouse's: `SET STATEMENT_TIMEOUT = n` on the session (Databricks SQL stops the statement on
  the server) when it differs from the session's current value; a client timer cancels the statement a little later
  in case the server never does. All-purpose clusters do not enforce STATEMENT_TIMEOUT: when the SET is refused, the
  timer fires at the timeout itself and is the only limit (client-side, documented);
- `cancel()` from any thread calls the cursor's `cancel()`, which the connector documents as thread-safe and which
  sends CancelOperation to the server;
- errors are mapped from the connector's exception classes, HTTP codes and Databricks error classes (`errors.py`);
  the token and the client secret are only ever passed to `databricks.sql.connect()`;
- `close()` closes the session whatever happened before.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, ClassVar, Sequence

from databricks import sql as dbsql
from databricks.sql import exc as dbx

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
from connectors.credentials import DatabricksCredentials
from connectors.databricks.auth import connect_kwargs
from connectors.databricks.catalog import DatabricksCatalogReader
from connectors.databricks.errors import error_class, map_error
from connectors.databricks.role import GRANTS_SQL, PRINCIPAL_SQL, read_role
from connectors.databricks.statements import push_row_limit, statement_timeout_seconds, statement_timeout_sql
from connectors.deadline import RunningCursor, watchdog
from connectors.errors import ConnectorError
from connectors.results import ConnectionTest, QueryResult, ResultColumn

log = logging.getLogger("connectors.databricks")

WATCHDOG_GRACE_S = 2.0
#: server-side STATEMENT_TIMEOUT for each catalog statement
CATALOG_TIMEOUT_S = 300
VERSION_SQL = "SELECT version()"
#: error classes meaning "this workspace has no Unity Catalog information_schema": read hive_metastore instead
UNITY_UNAVAILABLE = {"TABLE_OR_VIEW_NOT_FOUND", "NO_SUCH_CATALOG_EXCEPTION", "CATALOG_NOT_FOUND", "UC_NOT_ENABLED", "SCHEMA_NOT_FOUND"}


class DatabricksConnector(Connector):
    """Read-only Databricks SQL warehouse / cluster connector."""

    source_type: ClassVar[str] = "databricks"
    dialect: ClassVar[str] = "databricks"

    def __init__(self, credentials: DatabricksCredentials, *, driver_options: dict[str, Any] | None = None) -> None:
        """`driver_options` are extra `databricks.sql.connect()` arguments (tests: `_port`, `_tls_no_verify`, retry
        limits); credentials never go there."""
        super().__init__(credentials)
        self.credentials: DatabricksCredentials = credentials
        self._driver_options = dict(driver_options or {})
        self._conn: Any = None
        self._open_lock = threading.Lock()
        self._running_cursor = RunningCursor(log, self.source_type)
        self._cancel_requested = threading.Event()
        self._timed_out = threading.Event()
        self._session_timeout_s: int | None = None
        self._server_timeout_supported = True
        self._server_version: str | None = None

    # -- connection ------------------------------------------------------------------------------------------------
    @property
    def _secrets(self) -> list[str]:
        return self.credentials.secret_values()

    def _connection(self) -> Any:
        self._ensure_open()
        with self._open_lock:
            if self._conn is not None:
                return self._conn
            try:
                conn = dbsql.connect(**connect_kwargs(self.credentials), **self._driver_options)
            except ConnectorError:
                raise
            except Exception as exc:  # the connector, the SDK's OAuth flow or the socket layer
                raise map_error(exc, secrets=self._secrets, connecting=True) from None
            self._conn = conn
            self._session_timeout_s = None
            log.info("session opened", extra={"source": self.source_type, "host": self.credentials.server_hostname})
            return conn

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly(conn)

    def _close(self) -> None:
        self._discard_connection()

    # -- the interface -----------------------------------------------------------------------------------------------
    def test_connection(self) -> ConnectionTest:
        return run_connection_test(self._version, self.role_capabilities)

    def role_capabilities(self) -> RoleCapabilities:
        """The principal, whether it is a workspace admin, and its Unity Catalog grants (see `role.py`). A statement
        the warehouse refuses (no Unity Catalog, no is_member) leaves its part unknown."""
        conn = self._connection()
        try:
            try:
                principal, admin = self._fetch_all(conn, PRINCIPAL_SQL)[0]
            except dbx.ServerOperationError:
                principal, admin = self._fetch_all(conn, "SELECT current_user()")[0][0], None
            try:
                grants: list[Any] | None = self._fetch_all(conn, GRANTS_SQL)
                unavailable = None
            except dbx.ServerOperationError as exc:
                grants, unavailable = None, f"system.information_schema refused ({error_class(str(exc)) or 'error'})"
        except dbx.Error as exc:
            raise self._failure(exc) from None
        return read_role(principal, admin, grants, unavailable=unavailable)

    @staticmethod
    def _fetch_all(conn: Any, sql: str) -> list[Any]:
        cursor = conn.cursor()
        try:
            cursor.execute(sql)
            return [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    def _version(self) -> str | None:
        conn = self._connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(VERSION_SQL)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except dbx.Error as exc:
            raise self._failure(exc) from None
        self._server_version = str(row[0]) if row else None
        return self._server_version

    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        check_query_limits(max_rows, timeout)
        checked = self.guard(sql, timeout)  # raises ReadOnlyViolation before anything reaches the warehouse
        statement = push_row_limit(checked, max_rows)
        conn = self._connection()
        start = time.perf_counter()
        try:
            self._apply_statement_timeout(conn, timeout)
            columns, rows, truncated = self._run(conn, statement, params, max_rows, timeout)
        except dbx.Error as exc:
            error = self._failure(exc, timeout_s=timeout)
            log.info("query failed", extra={"source": self.source_type, "code": error.code})
            raise error from None
        return finished_query(log, self.source_type, columns, rows, truncated, start)

    def _apply_statement_timeout(self, conn: Any, timeout: float) -> None:
        seconds = statement_timeout_seconds(timeout)
        if not self._server_timeout_supported or self._session_timeout_s == seconds:
            return
        cursor = conn.cursor()
        try:
            cursor.execute(statement_timeout_sql(seconds))
            self._session_timeout_s = seconds
        except dbx.ServerOperationError:
            # an all-purpose cluster: no server-side statement timeout, the client timer is the limit
            self._server_timeout_supported = False
            log.info("STATEMENT_TIMEOUT not supported; using the client timer", extra={"source": self.source_type})
        finally:
            cursor.close()

    def _run(
        self, conn: Any, statement: str, params: Any, max_rows: int, timeout: float
    ) -> tuple[list[ResultColumn], list[list[Any]], bool]:
        self._cancel_requested.clear()
        self._timed_out.clear()
        grace = WATCHDOG_GRACE_S if self._server_timeout_supported else 0.0
        with (
            self._running_cursor.track(conn.cursor(row_limit=max_rows + 1)) as cursor,
            watchdog(timeout + grace, self._timer_fired),
        ):
            if params is None:
                cursor.execute(statement)
            else:
                cursor.execute(statement, params)
            description = cursor.description
            if description is None:
                return [], [], False
            columns = [ResultColumn(name=d[0], type=str(d[1])) for d in description]
            fetched = cursor.fetchmany(max_rows + 1)
            truncated = len(fetched) > max_rows
            return columns, [list(r) for r in fetched[:max_rows]], truncated

    def _failure(self, exc: BaseException, *, timeout_s: float | None = None) -> ConnectorError:
        error = map_error(
            exc,
            secrets=self._secrets,
            canceled=self._cancel_requested.is_set(),
            timed_out=self._timed_out.is_set(),
            timeout_s=timeout_s,
        )
        if isinstance(exc, (dbx.RequestError, dbx.InterfaceError)) and not error.code.startswith("query_"):
            self._discard_connection()  # a broken session: open a fresh one next time
        return error

    def _timer_fired(self) -> None:
        self._timed_out.set()
        log.warning("statement ran past its timeout; canceling", extra={"source": self.source_type})
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
                cursor.execute(sql)
                return [tuple(r) for r in cursor.fetchall()]
            finally:
                cursor.close()

        reader = DatabricksCatalogReader(run=run, default_catalog=self.credentials.catalog, server_version=self._server_version)
        try:
            self._apply_statement_timeout(conn, CATALOG_TIMEOUT_S)
            try:
                catalog = reader.read(filters, progress, unity=True)
            except dbx.ServerOperationError as exc:
                if error_class(str(exc)) not in UNITY_UNAVAILABLE:
                    raise
                log.info("no Unity Catalog information_schema; reading hive_metastore", extra={"source": self.source_type})
                catalog = reader.read(filters, progress, unity=False)
        except dbx.Error as exc:
            raise self._failure(exc) from None
        log_introspected(log, self.source_type, catalog, start)
        return catalog

    def profile(self, table: TableRef | str, sample_size: int = 10_000) -> TableProfile:
        from connectors.databricks.profile import profile_databricks_table

        return profile_databricks_table(self, table, sample_size)

"""The DuckDB connector: a local database file (and Parquet/CSV/JSON files) as a read-only source.

What it guarantees, and how:
- lazy open: nothing is opened until the first call that needs the database;
- read-only three times over: every statement passes the SQL guard (DuckDB dialect); the database file is attached
  READ_ONLY, so DuckDB itself refuses writes; and the connection cannot reach any other file, the network or an
  extension, nor change its own settings (`sandbox.py`);
- the row limit is pushed: `LIMIT max_rows+1` is appended when the query has none (`statements.py`), and only
  max_rows+1 rows are fetched from DuckDB's streamed result;
- the timeout is a watchdog: DuckDB has no statement timeout, so a timer calls `interrupt()` on the connection when
  the statement outlives it, and DuckDB stops the query at its next check (milliseconds);
- `cancel()` from any thread calls the same `interrupt()`;
- errors are mapped from the driver's exception classes (`errors.py`); there are no secrets to scrub;
- `close()` interrupts a statement still running, waits for it to return, then closes the connection, which
  releases the database file.

One statement runs at a time: the driver's connection is not meant to be used from two threads at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, ClassVar, Sequence, TypeVar

import duckdb

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
from connectors.catalog import Catalog, CatalogFilters, TableProfile, TableRef
from connectors.credentials import DuckDBCredentials
from connectors.deadline import watchdog
from connectors.duckdb.catalog import DuckDBCatalogReader
from connectors.duckdb.errors import map_error
from connectors.duckdb.sandbox import Sandbox, open_sandbox
from connectors.duckdb.statements import push_row_limit
from connectors.errors import ConnectorError
from connectors.results import ConnectionTest, QueryResult, ResultColumn

log = logging.getLogger("connectors.duckdb")

T = TypeVar("T")

#: how long close() waits for an interrupted statement to return before closing the connection under it
CLOSE_WAIT_S = 5.0


class DuckDBConnector(Connector):
    """Read-only DuckDB connector over the `duckdb` Python package."""

    source_type: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"

    def __init__(self, credentials: DuckDBCredentials) -> None:
        super().__init__(credentials)
        self.credentials: DuckDBCredentials = credentials
        self._sandbox: Sandbox | None = None
        self._open_lock = threading.Lock()
        self._query_lock = threading.Lock()  # one statement at a time on the connection
        self._state_lock = threading.Lock()  # guards _running, which cancel() and the timer read
        self._running = False
        self._cancel_requested = threading.Event()
        self._timed_out = threading.Event()

    # -- connection ------------------------------------------------------------------------------------------------
    def _connection(self) -> Sandbox:
        self._ensure_open()
        with self._open_lock:
            if self._sandbox is None:
                self._sandbox = open_sandbox(self.credentials)
            return self._sandbox

    @property
    def database(self) -> str | None:
        """The catalog name the database file is attached as (its file name's stem); None for a files-only source."""
        return self._connection().database

    def _close(self) -> None:
        self.cancel()  # a no-op when nothing runs
        finished = self._query_lock.acquire(timeout=CLOSE_WAIT_S)
        try:
            with self._open_lock:
                sandbox, self._sandbox = self._sandbox, None
            if sandbox is not None:
                close_quietly(sandbox.connection)
        finally:
            if finished:
                self._query_lock.release()

    def _run_exclusive(self, work: Callable[[duckdb.DuckDBPyConnection], T], *, timeout: float | None = None) -> T:
        """`work(connection)` as the one running statement: cancel() and the timeout (a watchdog calling interrupt())
        reach it; duckdb errors come out mapped."""
        sandbox = self._connection()
        with self._query_lock:
            self._ensure_open()  # closed while this call waited for the lock
            with self._state_lock:
                self._running = True
                self._cancel_requested.clear()
                self._timed_out.clear()
            try:
                with watchdog(timeout, self._timer_fired):
                    return work(sandbox.connection)
            except duckdb.Error as exc:
                raise map_error(
                    exc,
                    canceled=self._cancel_requested.is_set(),
                    timed_out=self._timed_out.is_set(),
                    timeout_s=timeout,
                ) from None
            finally:
                with self._state_lock:
                    self._running = False

    def _interrupt(self) -> bool:
        """Interrupt the running statement, if any; whether one was running."""
        with self._state_lock:
            if not self._running or self._sandbox is None:
                return False
            self._sandbox.connection.interrupt()
            return True

    def _timer_fired(self) -> None:
        self._timed_out.set()
        if self._interrupt():
            log.warning("query ran past its timeout; interrupted", extra={"source": self.source_type})

    # -- the interface -----------------------------------------------------------------------------------------------
    def test_connection(self) -> ConnectionTest:
        return run_connection_test(self._round_trip)

    def _round_trip(self) -> str:
        self._run_exclusive(lambda conn: conn.execute("SELECT 1").fetchall())
        return duckdb.__version__

    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        check_query_limits(max_rows, timeout)
        checked = self.guard(sql, timeout)  # raises ReadOnlyViolation before anything reaches DuckDB
        statement = push_row_limit(checked, max_rows)
        start = time.perf_counter()

        def run(conn: duckdb.DuckDBPyConnection) -> tuple[list[ResultColumn], list[list[Any]], bool]:
            cursor = conn.execute(statement) if params is None else conn.execute(statement, params)
            if cursor.description is None:
                return [], [], False
            columns = [ResultColumn(name=d[0], type=str(d[1])) for d in cursor.description]
            fetched = cursor.fetchmany(max_rows + 1)
            return columns, [list(row) for row in fetched[:max_rows]], len(fetched) > max_rows

        try:
            columns, rows, truncated = self._run_exclusive(run, timeout=timeout)
        except ConnectorError as exc:
            log.info("query failed", extra={"source": self.source_type, "code": exc.code})
            raise
        return finished_query(log, self.source_type, columns, rows, truncated, start)

    def cancel(self) -> None:
        self._cancel_requested.set()
        if self._interrupt():
            log.info("query interrupted on request", extra={"source": self.source_type})

    # -- catalog and profiles ---------------------------------------------------------------------------------------
    def introspect(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        sandbox = self._connection()
        start = time.perf_counter()

        def read(conn: duckdb.DuckDBPyConnection) -> Catalog:
            def run(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
                return (conn.execute(sql, params) if params else conn.execute(sql)).fetchall()

            reader = DuckDBCatalogReader(
                run=run,
                databases=sandbox.catalogs,
                file_views=frozenset(sandbox.files),
                server_version=duckdb.__version__,
            )
            return reader.read(filters, progress)

        catalog = self._run_exclusive(read)
        log_introspected(log, self.source_type, catalog, start)
        return catalog

    def profile(self, table: TableRef | str, sample_size: int = 10_000) -> TableProfile:
        from connectors.duckdb.profile import profile_duckdb_table

        return profile_duckdb_table(self, table, sample_size)

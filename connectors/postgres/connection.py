"""The PostgreSQL connector (psycopg 3): the model every server source copies.

What it guarantees, and how:
- lazy open: nothing touches the network until the first call that needs the server;
- read-only twice over: every statement passes the SQL guard, and the session itself is read-only
  (`default_transaction_read_only=on` at login, `BEGIN READ ONLY` for every transaction);
- the row limit is pushed to the server: a SELECT runs in a named (server-side) cursor that fetches max_rows+1
  rows, and when the statement has no LIMIT of its own one is appended so the planner can choose a top-N plan;
- the timeout is the server's: `statement_timeout` set locally in the query's transaction (a client watchdog sends a
  cancel request a little later in case the server never answers);
- `cancel()` from any thread sends a PostgreSQL cancel request on a separate socket;
- errors are mapped by SQLSTATE (see `errors.py`) and never carry the password;
- `close()` cancels a statement still running on the server, then closes the connection, whatever happened before.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, ClassVar, Iterator, Sequence

import psycopg
import sqlglot
from psycopg.rows import dict_row
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

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
from connectors.catalog import Catalog, CatalogFilters, Table, TableProfile, TableRef
from connectors.credentials import PostgresCredentials, RedshiftCredentials
from connectors.deadline import watchdog
from connectors.errors import ConnectorError
from connectors.postgres.catalog import CatalogQuery, CatalogStream, PostgresCatalogReader
from connectors.postgres.errors import map_connect_error, map_query_error
from connectors.profiling import GeneratedQuery, check_generated, with_row_limit
from connectors.postgres.role import read_role, role_params, role_sql
from connectors.results import ConnectionTest, QueryResult, ResultColumn

log = logging.getLogger("connectors.postgres")

DEFAULT_APPLICATION_NAME = "analyst-taskpack"
#: how long after the server-side timeout the client sends its own cancel request (a server that never answers)
WATCHDOG_GRACE_S = 2.0
#: rows per chunk of the streamed catalog details statement: big enough that the per-chunk cost vanishes, small
#: enough that Python starts on the first columns while the server is still scanning
CATALOG_STREAM_CHUNK = 1000

_cursor_names = itertools.count(1)
#: statements PostgreSQL cannot wrap in DECLARE ... CURSOR (sqlglot keeps SHOW and EXPLAIN as opaque commands)
_NOT_DECLARABLE = (exp.Command, exp.Describe, exp.Show)


def plan_row_limit(sql: str, dialect: str, max_rows: int) -> tuple[str, bool]:
    """(SQL to send, whether to run it in a server-side cursor) for a guarded statement.

    SHOW / EXPLAIN / DESCRIBE cannot be DECLAREd as a cursor and run in a plain one (their results are small);
    everything else the guard lets through is a query and runs in a server-side cursor. A query without LIMIT/FETCH
    of its own gets `LIMIT max_rows+1` appended so the planner can pick a top-N plan; appending (rather than
    re-generating the SQL from sqlglot's tree) keeps the user's text byte for byte, and a trailing semicolon is cut
    so the clause lands inside the statement.
    """
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return sql, True
    if isinstance(tree, _NOT_DECLARABLE):
        return sql, False
    if not isinstance(tree, exp.Query):  # e.g. VALUES: a cursor still bounds the fetch
        return sql, True
    if tree.args.get("limit") or tree.args.get("fetch") or tree.args.get("locks"):
        return sql, True
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    if tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        sql = sql[: tokens[-1].start]
    return f"{sql}\nLIMIT {max_rows + 1}", True


def chunked_streaming_available() -> bool:
    """Whether psycopg can stream a result in chunks (psycopg 3.2+ on libpq 17+)."""
    capabilities = getattr(psycopg, "capabilities", None)  # psycopg 3.1 has no capabilities object
    return bool(capabilities is not None and capabilities.has_stream_chunked())


class PostgresConnector(Connector):
    """Read-only PostgreSQL connector over psycopg 3."""

    source_type: ClassVar[str] = "postgres"
    dialect: ClassVar[str] = "postgres"
    #: the name errors use for this source
    source_label: ClassVar[str] = "PostgreSQL"

    def __init__(
        self,
        credentials: PostgresCredentials | RedshiftCredentials,
        *,
        application_name: str = DEFAULT_APPLICATION_NAME,
    ) -> None:
        super().__init__(credentials)
        self.credentials: PostgresCredentials | RedshiftCredentials = credentials
        self.application_name = application_name
        self._conn: psycopg.Connection[Any] | None = None
        self._open_lock = threading.Lock()
        self._cancel_requested = threading.Event()
        self._timed_out = threading.Event()
        self._running = threading.Event()  # a statement is on the server: close() must cancel it first
        self._type_names: dict[int, str] = {}  # result type OIDs psycopg does not know -> format_type()

    # -- connection ------------------------------------------------------------------------------------------------
    @property
    def _secrets(self) -> list[str]:
        return self.credentials.secret_values()

    def _connect_kwargs(self) -> dict[str, Any]:
        c = self.credentials
        kwargs: dict[str, Any] = {
            "host": c.host,
            "port": c.port,
            "dbname": c.database,
            "user": c.username,
            "sslmode": c.ssl_mode,
            "connect_timeout": c.connect_timeout,
            "application_name": self.application_name,
            # read-only from the first statement on, even for SQL that bypasses BEGIN READ ONLY
            "options": "-c default_transaction_read_only=on",
        }
        if c.password is not None:
            kwargs["password"] = c.password.get_secret_value()
        return kwargs

    def _on_connect(self, conn: psycopg.Connection[Any]) -> None:
        """Session setup after login, for subclasses: runs in the first (read-only) transaction, which is committed
        so a `SET` made here lasts for the session."""

    def _connection(self) -> psycopg.Connection[Any]:
        self._ensure_open()
        with self._open_lock:
            if self._conn is not None and not self._conn.closed and not self._conn.broken:
                return self._conn
            if self._conn is not None:  # broken: drop it and open a fresh one
                self._discard_connection()
            try:
                conn = psycopg.connect(**self._connect_kwargs())
            except psycopg.Error as exc:
                raise map_connect_error(exc, source=self.source_label, secrets=self._secrets) from None
            try:
                conn.read_only = True  # every transaction psycopg opens is BEGIN READ ONLY
                self._on_connect(conn)
                conn.commit()  # keeps any session SET done in _on_connect (a rollback would undo it)
            except psycopg.Error as exc:
                conn.close()
                raise map_query_error(exc, source=self.source_label, secrets=self._secrets) from None
            self._conn = conn
            log.info("connection opened", extra={"source": self.source_type, "host": self.credentials.host})
            return conn

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly(conn)

    def _close(self) -> None:
        if self._running.is_set():  # closing the socket alone would leave the statement running on the server
            self.cancel()
        self._discard_connection()

    # -- the interface -----------------------------------------------------------------------------------------------
    def test_connection(self) -> ConnectionTest:
        return run_connection_test(self._round_trip, self.role_capabilities)

    def _round_trip(self) -> str | None:
        """`SELECT 1` on the (opened if needed) connection; the server version the login reported."""
        conn = self._connection()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
            conn.rollback()
        except psycopg.Error as exc:
            self._rollback_quietly()
            raise map_query_error(exc, source=self.source_label, secrets=self._secrets) from None
        return conn.info.parameter_status("server_version")

    def role_capabilities(self) -> RoleCapabilities:
        """One catalog statement (see `role.py`) in the connector's read-only transaction, then rolled back."""
        conn = self._connection()
        try:
            with conn.cursor(row_factory=dict_row) as cur:
                cur.execute(role_sql(conn.info.server_version), role_params())
                row = cur.fetchone()
            conn.rollback()
        except psycopg.Error as exc:
            error = map_query_error(exc, source=self.source_label, secrets=self._secrets)
            self._after_failure(error)
            raise error from None
        return read_role(row)

    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        check_query_limits(max_rows, timeout)
        checked = self.guard(sql, timeout)  # raises ReadOnlyViolation before anything reaches the server
        return self._run(*plan_row_limit(checked, self.dialect, max_rows), params, max_rows, timeout)

    def run_generated(self, statement: GeneratedQuery, max_rows: int, timeout: float) -> QueryResult:
        """Run a statement the profiler built itself (`connectors.profiling.GeneratedQuery`: a sqlglot tree of
        catalog identifiers it quoted, never outside text) without the guard's parse; its row limit goes on the tree.
        Anything else is refused (TypeError): outside SQL only ever runs through `query()`. The session stays
        read-only as for every statement (`BEGIN READ ONLY`, `default_transaction_read_only`)."""
        tree = check_generated(statement)
        check_query_limits(max_rows, timeout)
        # a client-side cursor: the LIMIT bounds what comes back, and a named cursor's DECLARE/FETCH/CLOSE would add
        # round trips to each of a profile's statements
        return self._run(with_row_limit(tree, max_rows).sql(dialect=self.dialect), False, None, max_rows, timeout)

    def _run(
        self,
        sql: str,
        use_server_cursor: bool,
        params: Sequence[Any] | dict[str, Any] | None,
        max_rows: int,
        timeout: float,
    ) -> QueryResult:
        """Execute a checked statement: the server-side timeout, the client watchdog, errors mapped, the read-only
        transaction rolled back."""
        conn = self._connection()
        start = time.perf_counter()
        self._cancel_requested.clear()
        self._timed_out.clear()
        self._running.set()
        try:
            self._set_statement_timeout(conn, timeout)
            with watchdog(timeout + WATCHDOG_GRACE_S, self._watchdog_fired):
                columns, rows, truncated = self._execute(conn, sql, use_server_cursor, params, max_rows)
        except psycopg.Error as exc:
            error = map_query_error(
                exc,
                source=self.source_label,
                secrets=self._secrets,
                canceled=self._cancel_requested.is_set() and not self._timed_out.is_set(),
                timeout_s=timeout,
            )
            self._after_failure(error)
            log.info("query failed", extra={"source": self.source_type, "code": error.code})
            raise error from None
        finally:
            self._running.clear()
        self._rollback_quietly()
        return finished_query(log, self.source_type, columns, rows, truncated, start)

    def _set_statement_timeout(self, conn: psycopg.Connection[Any], timeout: float) -> None:
        # set_config(..., is_local => true): lives only as long as this query's (read-only) transaction. A bare number
        # of milliseconds, the one spelling both PostgreSQL and Redshift accept.
        conn.execute("SELECT set_config('statement_timeout', %s, true)", [str(max(1, int(timeout * 1000)))])

    def _execute(
        self, conn: psycopg.Connection[Any], sql: str, use_server_cursor: bool, params: Any, max_rows: int
    ) -> tuple[list[ResultColumn], list[list[Any]], bool]:
        cursor: psycopg.Cursor[Any] = (
            conn.cursor(name=f"taskpack_q{next(_cursor_names)}") if use_server_cursor else conn.cursor()
        )
        with cursor as cur:
            cur.execute(sql, params)
            if cur.description is None:
                return [], [], False
            columns = self._result_columns(conn, cur.description)
            fetched = cur.fetchmany(max_rows + 1)
        truncated = len(fetched) > max_rows
        return columns, [list(r) for r in fetched[:max_rows]], truncated

    def _result_columns(self, conn: psycopg.Connection[Any], description: Sequence[Any]) -> list[ResultColumn]:
        """Column names and type names; types psycopg does not know (enums, domains, extension types) would show as
        a bare OID, so their names are looked up once per connection (one extra statement, only when needed)."""
        unknown = [d.type_code for d in description if conn.adapters.types.get(d.type_code) is None]
        missing = [oid for oid in unknown if oid not in self._type_names]
        if missing:
            with conn.cursor() as cur:
                cur.execute("SELECT oid::int, format_type(oid, NULL) FROM pg_type WHERE oid = ANY (%s)", [missing])
                self._type_names.update(dict(cur.fetchall()))
        return [
            ResultColumn(
                name=d.name,
                type=self._type_names.get(d.type_code, d.type_display) if d.type_code in unknown else d.type_display,
            )
            for d in description
        ]

    def _after_failure(self, error: ConnectorError) -> None:
        if self._conn is not None and (self._conn.broken or self._conn.closed):
            self._discard_connection()
        else:
            self._rollback_quietly()

    def _rollback_quietly(self) -> None:
        conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            conn.rollback()
        except psycopg.Error:
            self._discard_connection()

    def _watchdog_fired(self) -> None:
        self._timed_out.set()
        log.warning("server did not honour statement_timeout; sending a cancel request", extra={"source": self.source_type})
        self._send_cancel()

    def cancel(self) -> None:
        self._cancel_requested.set()
        self._send_cancel()

    def _send_cancel(self) -> None:
        conn = self._conn
        if conn is None or conn.closed:
            return
        try:
            conn.cancel_safe(timeout=5.0)
            log.info("cancel request sent", extra={"source": self.source_type})
        except Exception as exc:  # nothing running, or the server is gone: cancel stays best effort
            log.warning("cancel request failed", extra={"source": self.source_type, "error": type(exc).__name__})

    # -- catalog and profiles ---------------------------------------------------------------------------------------
    def _catalog_query(self, conn: psycopg.Connection[Any]) -> CatalogQuery:
        def run(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            with conn.cursor() as cur:
                cur.execute(sql, params or None)  # no params: the SQL is sent as written, '%' untouched
                return cur.fetchall()

        return run

    def _catalog_stream(self, conn: psycopg.Connection[Any]) -> CatalogStream | None:
        """Chunked rows, one statement and one round trip; None (read whole) where the libpq under psycopg is older
        than 17: row-by-row streaming would cost more than it overlaps."""
        if not chunked_streaming_available():
            return None

        def stream(sql: str, params: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
            # binary results: integers, booleans and oids arrive ready to use, a third less parsing than text
            with conn.cursor(binary=True) as cur:
                yield from cur.stream(sql, params or None, size=CATALOG_STREAM_CHUNK)

        return stream

    def _catalog_reader(self, conn: psycopg.Connection[Any]) -> PostgresCatalogReader:
        return PostgresCatalogReader(
            run=self._catalog_query(conn),
            stream=self._catalog_stream(conn),
            database=self.credentials.database,
            source_type=self.source_type,
            server_version=conn.info.parameter_status("server_version"),
        )

    def introspect(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        conn = self._connection()
        start = time.perf_counter()
        try:
            # one REPEATABLE READ snapshot so the two catalog statements agree with each other
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            catalog = self._catalog_reader(conn).read(filters, progress)
        except psycopg.Error as exc:
            error = map_query_error(exc, source=self.source_label, secrets=self._secrets)
            self._after_failure(error)
            raise error from None
        finally:
            self._rollback_quietly()
            if self._conn is not None and not self._conn.closed:
                self._conn.isolation_level = None
        log_introspected(log, self.source_type, catalog, start)
        return catalog

    def profile(self, table: TableRef | str, sample_size: int = 10_000) -> TableProfile:
        from connectors.postgres.profile import profile_postgres_table

        return profile_postgres_table(self, table, sample_size)

    def profile_entry(self, table: TableRef, entry: Table, sample_size: int = 10_000) -> TableProfile:
        """`profile()` of a table whose entry this connector's `introspect()` returned (see
        `connectors.profiling.profile_catalog_entry`): no catalog lookup."""
        from connectors.postgres.profile import profile_postgres_entry

        return profile_postgres_entry(self, table, entry, sample_size)

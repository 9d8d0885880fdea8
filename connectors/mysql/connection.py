"""MySQL / MariaDB connector over PyMySQL: lazy open, read-only session, server-side timeouts, pushed row limits.

Read-only, twice over: the session is opened with `SET SESSION TRANSACTION READ ONLY` (which also refuses DDL, which
would otherwise commit implicitly and escape a read-only transaction) and every statement runs inside
`START TRANSACTION READ ONLY ... ROLLBACK`, after the SQL guard has accepted it.

One statement runs at a time per connector. `cancel()` may be called from any thread: it opens a second, short-lived
connection and sends `KILL QUERY <connection id>`, which is how MySQL stops a statement (there is no protocol-level
cancel request as in PostgreSQL).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from typing import Any, ContextManager, Sequence

import pymysql
import pymysql.cursors

from connectors.base import (
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT_S,
    Connector,
    ProgressCallback,
    close_quietly,
    run_connection_test,
)
from connectors.capabilities import RoleCapabilities
from connectors.catalog import Catalog, CatalogFilters, TableProfile, TableRef
from connectors.credentials import MySQLCredentials
from connectors.deadline import watchdog
from connectors.errors import NetworkError, QueryError
from connectors.mysql.errors import CONNECTION_BROKEN, ER_QUERY_INTERRUPTED, error_number, map_error
from connectors.mysql.role import (
    CURRENT_USER_SQL,
    MAX_ROLES,
    SHOW_GRANTS_SQL,
    VARIABLES_SQL,
    granted_roles,
    is_superuser,
    parse_grant,
    read_role,
    set_role_sql,
    show_grants_using_sql,
)
from connectors.mysql.statements import ServerInfo, mysql_execution_time_ms, push_row_limit, with_mariadb_timeout
from connectors.mysql.types import result_type_name
from connectors.results import ConnectionTest, QueryResult, ResultColumn

log = logging.getLogger("connectors.mysql")

#: The client watchdog fires this long after the server-side timeout should have.
WATCHDOG_GRACE_S = 2.0
#: how long close() waits for a statement it has just killed to return before dropping the socket
CLOSE_WAIT_S = 5.0
_TLS_MODES = {"required", "verify_ca", "verify_identity"}
_READ_ONLY_SESSION = "SET SESSION TRANSACTION READ ONLY"


def _ssl_options(mode: str) -> dict[str, Any]:
    """PyMySQL TLS arguments for an `ssl_mode` (the names MySQL's own clients use)."""
    if mode == "disabled":
        return {"ssl_disabled": True}
    if mode == "preferred":
        return {}  # PyMySQL's default: TLS when the server offers it, plain otherwise
    context = ssl.create_default_context()
    if mode == "required":  # encrypted, certificate not checked
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif mode == "verify_ca":
        context.check_hostname = False
    return {"ssl": context}  # an SSLContext makes PyMySQL refuse a server without TLS


class MySQLConnector(Connector):
    """MySQL 5.7+/8 and MariaDB 10.x/11.x. The catalog's one database is named after the host; MySQL databases are
    its schemas (see `connectors.mysql.catalog`)."""

    source_type = "mysql"
    dialect = "mysql"

    def __init__(self, credentials: MySQLCredentials) -> None:
        super().__init__(credentials)
        self.credentials: MySQLCredentials = credentials
        self._conn: pymysql.Connection | None = None
        self._server: ServerInfo | None = None
        self._open_lock = threading.Lock()
        self._query_lock = threading.Lock()  # one statement at a time on the connection
        self._state_lock = threading.Lock()  # guards the running-statement fields cancel() reads
        self._running_thread_id: int | None = None
        self._cancel_requested = False
        self._watchdog_fired = False
        self._session_execution_time_ms: int | None = None

    # -- connection ------------------------------------------------------------------------------------------------
    def _secrets(self) -> list[str]:
        return self.credentials.secret_values()

    def _connect_kwargs(self, *, with_database: bool = True) -> dict[str, Any]:
        creds = self.credentials
        return {
            "host": creds.host,
            "port": creds.port,
            "user": creds.username,
            "password": creds.password.get_secret_value() if creds.password is not None else "",
            "database": creds.database if with_database else None,
            "connect_timeout": creds.connect_timeout,
            "charset": "utf8mb4",
            "autocommit": True,
            "local_infile": False,
            "program_name": "analyst-taskpack",
            **_ssl_options(creds.ssl_mode),
        }

    def _connection(self) -> pymysql.Connection:
        """The open connection, opening it on first use (and again after a dropped connection)."""
        self._ensure_open()
        with self._open_lock:
            if self._conn is not None:
                return self._conn
            started = time.perf_counter()
            try:
                conn = pymysql.connect(**self._connect_kwargs(), init_command=_READ_ONLY_SESSION)
            except pymysql.MySQLError as exc:
                error = map_error(exc, secrets=self._secrets(), context={"host": self.credentials.host})
                log.warning("mysql connect failed", extra={"error_code": error.code, "host": self.credentials.host})
                raise error from None
            if self.credentials.ssl_mode in _TLS_MODES:
                self._require_tls(conn)
            self._server = ServerInfo.parse(conn.get_server_info())
            self._session_execution_time_ms = None
            self._conn = conn
            log.info(
                "mysql connected",
                extra={
                    "host": self.credentials.host,
                    "flavor": self._server.flavor,
                    "server_version": self._server.version_string,
                    "connect_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return conn

    def _require_tls(self, conn: pymysql.Connection) -> None:
        """Belt and braces for the TLS modes: older PyMySQL releases fell back to plain text when the server had no
        TLS; the session's own `Ssl_cipher` says whether this connection is encrypted."""
        try:
            with conn.cursor() as cursor:
                cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
                row = cursor.fetchone()
        except pymysql.MySQLError as exc:
            conn.close()
            raise map_error(exc, secrets=self._secrets()) from None
        if not row or not row[1]:
            conn.close()
            raise NetworkError(
                f"ssl_mode={self.credentials.ssl_mode} but the connection to the server is not encrypted",
                code="ssl_error",
                retryable=False,
                details={"host": self.credentials.host, "ssl_mode": self.credentials.ssl_mode},
            )

    @property
    def server(self) -> ServerInfo:
        """Flavor and version of the server (opens the connection if needed)."""
        self._connection()
        assert self._server is not None
        return self._server

    def _drop_connection(self) -> None:
        with self._open_lock:
            conn, self._conn = self._conn, None
        close_quietly(conn)  # already broken; the socket is gone either way

    def _close(self) -> None:
        # Closed from another thread while a statement runs: stop it on the server first (a closed socket alone does
        # not end a running MySQL statement), then let the query thread finish with the connection before closing.
        with self._state_lock:
            running = self._running_thread_id
            if running is not None:
                self._cancel_requested = True
        if running is not None:
            self._kill_query(running)
        finished = self._query_lock.acquire(timeout=CLOSE_WAIT_S)
        try:
            with self._open_lock:
                conn, self._conn = self._conn, None
            if conn is None:
                return
            if not finished:
                conn._force_close()  # noqa: SLF001 - the query thread still holds it; drop the socket
                return
            try:
                conn.close()  # sends COM_QUIT so the server frees the thread at once
            except Exception:
                conn._force_close()  # noqa: SLF001 - the socket must not outlive the connector
        finally:
            if finished:
                self._query_lock.release()

    # -- interface -------------------------------------------------------------------------------------------------
    def test_connection(self) -> ConnectionTest:
        return run_connection_test(self._round_trip, self.role_capabilities)

    def _round_trip(self) -> str:
        """A ping on the (opened if needed) connection; the version the server announced at login."""
        conn = self._connection()
        try:
            with self._query_lock:
                conn.ping(reconnect=False)
        except pymysql.MySQLError as exc:
            error = map_error(exc, secrets=self._secrets())
            self._drop_connection()
            raise error from None
        return self.server.version_string

    def role_capabilities(self) -> RoleCapabilities:
        """SHOW GRANTS for the account and each of its roles (see `role.py`), plus the session's read-only state."""
        conn = self._connection()
        server = self.server
        with self._query_lock:
            try:
                with conn.cursor() as cursor:
                    cursor.execute(CURRENT_USER_SQL)
                    principal = cursor.fetchone()[0]
                    cursor.execute(SHOW_GRANTS_SQL)
                    lines = [row[0] for row in cursor.fetchall()]
                    cursor.execute(VARIABLES_SQL)
                    variables = {name.lower(): value for name, value in cursor.fetchall()}
                    grants = [g for g in map(parse_grant, lines) if g is not None]
                    roles = [] if any(map(is_superuser, grants)) else granted_roles(grants)
                    unread = [name for name, _ in roles[MAX_ROLES:]]
                    roles = roles[:MAX_ROLES]
                    if roles and server.flavor == "mysql":
                        cursor.execute(show_grants_using_sql(roles))
                        lines += [row[0] for row in cursor.fetchall()]
            except pymysql.MySQLError as exc:
                if error_number(exc) in CONNECTION_BROKEN:
                    self._drop_connection()
                raise map_error(exc, secrets=self._secrets()) from None
        if roles and server.flavor == "mariadb":
            role_lines, unread_here = self._mariadb_role_grants(roles)
            lines += role_lines
            unread += unread_here
        return read_role(principal, lines, variables, unread_roles=unread)

    def _mariadb_role_grants(self, roles: list[tuple[str, str | None]]) -> tuple[list[str], list[str]]:
        """(SHOW GRANTS lines with each role active, roles that could not be read), on a short-lived second
        connection: MariaDB shows a role's grants only while it is the active role, and SET ROLE must not touch the
        connector's own session."""
        lines: list[str] = []
        unread: list[str] = []
        try:
            probe = pymysql.connect(**self._connect_kwargs(), init_command=_READ_ONLY_SESSION)
        except pymysql.MySQLError as exc:
            log.warning("mysql role probe could not connect", extra={"mysql_errno": error_number(exc)})
            return [], [name for name, _ in roles]
        try:
            with probe.cursor() as cursor:
                for role in roles:
                    try:
                        cursor.execute(set_role_sql(role))
                        cursor.execute(SHOW_GRANTS_SQL)
                        lines += [row[0] for row in cursor.fetchall()]
                    except pymysql.MySQLError as exc:
                        log.info("mysql role grants unreadable", extra={"mysql_errno": error_number(exc)})
                        unread.append(role[0])
        finally:
            close_quietly(probe)
        return lines, unread

    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        if max_rows < 0:
            raise QueryError(f"max_rows must be >= 0, got {max_rows}", code="invalid_argument")
        if timeout is not None and timeout <= 0:
            raise QueryError(f"timeout must be > 0 seconds, got {timeout}", code="invalid_argument")
        if params is None:
            # refused before the connection is even opened
            checked = self.guard(sql, timeout)
            conn = self._connection()
        else:
            # PyMySQL binds parameters on the client (`sql % escaped(params)`); the guard checks that final text,
            # which is exactly what the server will receive, and it is then sent without parameters.
            conn = self._connection()
            checked = self.guard(self._bind(conn, sql, params), timeout)
        statement, limit_pushed = push_row_limit(checked, max_rows + 1)
        server = self.server
        if timeout and server.flavor == "mariadb" and server.has_statement_timeout:
            statement = with_mariadb_timeout(statement, timeout)
        with self._query_lock:
            return self._run(conn, server, statement, max_rows, timeout, limit_pushed)

    @staticmethod
    def _bind(conn: pymysql.Connection, sql: str, params: Sequence[Any] | dict[str, Any]) -> str:
        """The statement with its parameters bound as SQL literals, escaped by the connection's own rules."""
        try:
            with conn.cursor() as cursor:
                return cursor.mogrify(sql, params)
        except (TypeError, ValueError, KeyError) as exc:
            raise QueryError(
                f"parameters do not match the statement's placeholders (%s or %(name)s): {type(exc).__name__}",
                code="invalid_parameters",
            ) from None

    def _run(
        self,
        conn: pymysql.Connection,
        server: ServerInfo,
        statement: str,
        max_rows: int,
        timeout: float | None,
        limit_pushed: bool,
    ) -> QueryResult:
        started = time.perf_counter()
        with self._state_lock:
            self._running_thread_id = conn.thread_id()
            self._cancel_requested = False
            self._watchdog_fired = False
        stopped_stream = False
        try:
            with self._watchdog(timeout):
                with conn.cursor() as setup:
                    if server.flavor == "mysql" and server.has_statement_timeout:
                        wanted = mysql_execution_time_ms(timeout)
                        if wanted != self._session_execution_time_ms:
                            setup.execute(f"SET SESSION max_execution_time = {wanted:d}")
                            self._session_execution_time_ms = wanted
                    setup.execute("START TRANSACTION READ ONLY")
                cursor = conn.cursor(pymysql.cursors.SSCursor)
                try:
                    cursor.execute(statement)
                    rows = cursor.fetchmany(max_rows + 1)
                    columns = self._result_columns(cursor)
                    truncated = len(rows) > max_rows
                    if truncated and not limit_pushed:
                        # Rows are still streaming: stop the statement on the server rather than read them all.
                        stopped_stream = True
                        self._kill_query(conn.thread_id())
                finally:
                    self._close_cursor(cursor, expect_interrupt=stopped_stream)
        except pymysql.MySQLError as exc:
            with self._state_lock:
                canceled, timed_out = self._cancel_requested, self._watchdog_fired
            error = map_error(exc, secrets=self._secrets(), canceled=canceled, timed_out=timed_out, timeout_s=timeout)
            log.info("mysql query failed", extra={"error_code": error.code, "mysql_errno": error_number(exc)})
            if error_number(exc) in CONNECTION_BROKEN:
                self._drop_connection()
            else:
                self._rollback(conn)
            raise error from None
        except UnicodeDecodeError as exc:
            self._drop_connection()  # the result was abandoned mid-stream
            raise QueryError(
                f"mysql returned text that is not valid {exc.encoding}; CAST the column to BINARY to read its bytes",
                code="decode_error",
            ) from None
        except BaseException:
            self._drop_connection()  # unknown failure mid-protocol: never reuse this connection
            raise
        finally:
            with self._state_lock:
                self._running_thread_id = None
        self._rollback(conn)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        result_rows = [list(row) for row in rows[:max_rows]]
        log.info(
            "mysql query finished",
            extra={"rows": len(result_rows), "truncated": truncated, "limit_pushed": limit_pushed, "elapsed_ms": elapsed_ms},
        )
        return QueryResult(
            columns=columns, rows=result_rows, row_count=len(result_rows), truncated=truncated, elapsed_ms=elapsed_ms
        )

    @staticmethod
    def _result_columns(cursor: pymysql.cursors.SSCursor) -> list[ResultColumn]:
        fields = getattr(getattr(cursor, "_result", None), "fields", None) or []
        charsets = [getattr(f, "charsetnr", None) for f in fields]
        description = cursor.description or ()
        return [
            ResultColumn(name=d[0], type=result_type_name(d[1], charsets[i] if i < len(charsets) else None))
            for i, d in enumerate(description)
        ]

    def _close_cursor(self, cursor: pymysql.cursors.SSCursor, *, expect_interrupt: bool) -> None:
        """Close an unbuffered cursor; after a KILL QUERY the rest of the stream ends in ER_QUERY_INTERRUPTED."""
        try:
            cursor.close()
        except pymysql.MySQLError as exc:
            if not (expect_interrupt and error_number(exc) == ER_QUERY_INTERRUPTED):
                raise

    def _rollback(self, conn: pymysql.Connection) -> None:
        """End the read-only transaction; a failure here means the connection is unusable, so drop it."""
        try:
            with conn.cursor() as cursor:
                cursor.execute("ROLLBACK")
        except pymysql.MySQLError:
            self._drop_connection()

    def _watchdog(self, timeout: float | None) -> ContextManager[None]:
        """KILL QUERY when the statement outlives its timeout by WATCHDOG_GRACE_S (no timeout: no watchdog)."""

        def fire() -> None:
            with self._state_lock:
                thread_id = self._running_thread_id
                if thread_id is None:
                    return
                self._watchdog_fired = True
            log.warning("mysql query outlived its timeout; killing it", extra={"timeout_s": timeout})
            self._kill_query(thread_id)

        return watchdog(timeout + WATCHDOG_GRACE_S if timeout else None, fire)

    def cancel(self) -> None:
        with self._state_lock:
            thread_id = self._running_thread_id
            if thread_id is None:
                return
            self._cancel_requested = True
        self._kill_query(thread_id)

    def _kill_query(self, thread_id: int) -> None:
        """`KILL QUERY` on a short-lived second connection (a user may always kill its own statements)."""
        try:
            killer = pymysql.connect(**self._connect_kwargs(with_database=False))
        except pymysql.MySQLError as exc:
            error = map_error(exc, secrets=self._secrets())
            log.warning("mysql cancel could not connect", extra={"error_code": error.code})
            return
        try:
            with killer.cursor() as cursor:
                cursor.execute("KILL QUERY %s", (int(thread_id),))
            log.info("mysql query killed", extra={"connection_id": thread_id})
        except pymysql.MySQLError as exc:
            if error_number(exc) != 1094:  # ER_NO_SUCH_THREAD: it already finished
                log.warning("mysql kill query failed", extra={"mysql_errno": error_number(exc)})
        finally:
            killer.close()

    def introspect(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        from connectors.mysql.catalog import read_catalog

        conn = self._connection()
        with self._query_lock:
            try:
                return read_catalog(
                    conn, self.server, database_name=self.credentials.host, filters=filters or CatalogFilters(), progress=progress
                )
            except pymysql.MySQLError as exc:
                if error_number(exc) in CONNECTION_BROKEN:
                    self._drop_connection()
                raise map_error(exc, secrets=self._secrets()) from None

    def profile(self, table: TableRef | str, sample_size: int = 10_000) -> TableProfile:
        from connectors.mysql.profile import profile_mysql_table

        return profile_mysql_table(self, table, sample_size)

"""The Snowflake connector (snowflake-connector-python).

What it guarantees, and how:
- lazy open, and a *warm* session: the first call that needs Snowflake takes a session from the process-wide pool
  (`pool.py`: same account+user+warehouse+role+secret, health-checked) or logs in; `close()` hands a healthy session
  back instead of logging out, and discards one that is broken or may still be running a statement;
- read-only: every statement passes the SQL guard (Snowflake has no read-only session switch; the role's grants are
  the second line of defence);
- the row limit is pushed: `LIMIT max_rows+1` is appended when the query has none, and the cursor reads at most
  max_rows+1 rows with `fetchmany` (result chunks are downloaded lazily, so the rest is never fetched);
- the timeout is the server's: `STATEMENT_TIMEOUT_IN_SECONDS` as a statement parameter (error 000630), plus the
  driver's own `timeout=` timer that aborts the request; a client deadline (timeout + grace) covers a server that
  never answers — the session is then abandoned (discarded, not pooled) and QueryTimeoutError raised;
- `cancel()` from any thread runs `SYSTEM$CANCEL_ALL_QUERIES(<session id>)` on the session (Snowflake's documented
  SQL cancel; our session runs one statement at a time), and the waiting `query()` gives up after a short grace
  even when the server does not confirm, raising QueryCanceledError;
- parameters are bound on the server (`?`/`:1` with a sequence, `:name` with a dict), never pasted into SQL text;
- errors are mapped by errno/SQLSTATE (`errors.py`) and never carry a secret.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, ClassVar, Sequence, TypeVar

import snowflake.connector
from snowflake.connector.constants import FIELD_ID_TO_NAME

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
from connectors.capabilities import RoleCapabilities, refused
from connectors.deadline import Abandoned, run_with_deadline
from connectors.catalog import Catalog, CatalogFilters, TableProfile, TableRef
from connectors.credentials import SnowflakeCredentials
from connectors.errors import ConnectorError, NetworkError, QueryCanceledError, QueryError, QueryTimeoutError
from connectors.results import ConnectionTest, QueryResult, ResultColumn
from connectors.snowflake.auth import connect_kwargs, pool_key
from connectors.snowflake.catalog import SnowflakeCatalogReader
from connectors.snowflake.errors import map_error
from connectors.snowflake.pool import POOL, WarmPool
from connectors.snowflake.role import SESSION_SQL, read_grants, read_role
from connectors.snowflake.statements import bind_named_parameters, with_row_limit

log = logging.getLogger("connectors.snowflake")

T = TypeVar("T")

#: how long past the timeout the client waits for Snowflake's own timeout before abandoning the session
DEADLINE_GRACE_S = 1.0
#: how long after cancel() the client waits for the server to confirm before abandoning the session
CANCEL_GRACE_S = 1.0


class SnowflakeConnector(Connector):
    """Read-only Snowflake connector with a warm session pool."""

    source_type: ClassVar[str] = "snowflake"
    dialect: ClassVar[str] = "snowflake"

    def __init__(self, credentials: SnowflakeCredentials, *, pool: WarmPool | None = POOL) -> None:
        super().__init__(credentials)
        self.credentials: SnowflakeCredentials = credentials
        self._pool = pool
        self._pool_key = pool_key(credentials)
        self._conn: Any = None
        self._reusable = True
        self._open_lock = threading.Lock()
        self._cancel_requested = threading.Event()
        self._running = threading.Event()

    # -- connection ------------------------------------------------------------------------------------------------
    @property
    def _secrets(self) -> list[str]:
        return self.credentials.secret_values()

    def _login(self) -> Any:
        kwargs = connect_kwargs(self.credentials)  # raises AuthError for an unusable private key
        try:
            conn = snowflake.connector.connect(**kwargs)
        except Exception as exc:
            raise map_error(exc, secrets=self._secrets) from None
        log.info("snowflake session opened", extra={"account": self.credentials.account})
        return conn

    def _connection(self) -> Any:
        self._ensure_open()
        with self._open_lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            self._conn = None
            self._conn = self._pool.acquire(self._pool_key, self._login) if self._pool else self._login()
            self._reusable = True
            return self._conn

    def _abandon(self) -> None:
        """Drop the current session for good (a statement may still run on it, or it is broken)."""
        with self._open_lock:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        # logging out of a session that is still busy can itself wait on the server: do it off the caller's thread
        discard = self._pool.discard if self._pool is not None else close_quietly
        threading.Thread(target=discard, args=(conn,), name="snowflake-abandon", daemon=True).start()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._pool is not None and self._reusable and not self._running.is_set():
            self._pool.release(self._pool_key, conn)
        elif self._pool is not None:
            self._pool.discard(conn)
        else:
            close_quietly(conn)

    # -- running statements -----------------------------------------------------------------------------------------
    def _watch(self, work: Callable[[], T], *, deadline_s: float) -> T:
        """Run `work` on a helper thread; `Abandoned` at the deadline or shortly after cancel()."""
        self._running.set()
        try:
            result = run_with_deadline(
                work,
                deadline_s=deadline_s,
                cancel_requested=self._cancel_requested,
                cancel_grace_s=CANCEL_GRACE_S,
                thread_name="snowflake-statement",
            )
        except Abandoned:
            raise  # the statement may still run on the session: `_running` stays set until it is abandoned
        except BaseException:
            self._running.clear()
            raise
        self._running.clear()
        return result

    def _run_statement(
        self, sql: str, params: Any, *, max_rows: int, timeout: float
    ) -> tuple[list[ResultColumn], list[list[Any]], bool]:
        conn = self._connection()
        seconds = max(1, math.ceil(timeout))

        def work() -> tuple[list[ResultColumn], list[list[Any]], bool]:
            with conn.cursor() as cur:
                cur.execute(
                    sql,
                    params,
                    timeout=seconds,
                    _statement_params={"STATEMENT_TIMEOUT_IN_SECONDS": seconds},
                )
                if cur.description is None:
                    return [], [], False
                columns = [ResultColumn(name=d.name, type=FIELD_ID_TO_NAME.get(d.type_code, str(d.type_code))) for d in cur.description]
                fetched = cur.fetchmany(max_rows + 1)
            return columns, [list(r) for r in fetched[:max_rows]], len(fetched) > max_rows

        start = time.monotonic()
        try:
            return self._watch(work, deadline_s=timeout + DEADLINE_GRACE_S)
        except Abandoned:
            self._abandon()
            self._running.clear()
            if self._cancel_requested.is_set():
                raise QueryCanceledError("Snowflake query canceled on request (session abandoned)") from None
            raise QueryTimeoutError(
                f"Snowflake query did not finish within the timeout of {timeout:g} s (session abandoned)",
                details={"timeout_s": timeout},
            ) from None
        except ConnectorError:
            raise
        except Exception as exc:
            error = map_error(
                exc,
                secrets=self._secrets,
                canceled=self._cancel_requested.is_set(),
                timed_out=time.monotonic() - start >= timeout,
                timeout_s=timeout,
            )
            if isinstance(error, (NetworkError, QueryTimeoutError, QueryCanceledError)):
                self._abandon()
            raise error from None

    # -- the interface -----------------------------------------------------------------------------------------------
    def test_connection(self) -> ConnectionTest:
        return run_connection_test(self._version, self.role_capabilities)

    def role_capabilities(self) -> RoleCapabilities:
        """SHOW GRANTS over the user's roles (see `role.py`), on the session's internal path like the catalog."""
        self._cancel_requested.clear()
        rows = self._catalog_run(SESSION_SQL)
        user = str(rows[0]["user_name"]) if rows and rows[0].get("user_name") else None
        role = str(rows[0]["role_name"]) if rows and rows[0].get("role_name") else None
        try:
            grants, unread = read_grants(self._catalog_run, user, role)
        except ConnectorError as exc:
            if not refused(exc):
                raise
            unknown = RoleCapabilities.not_reported(f"SHOW GRANTS refused ({exc.code}): {exc.message}", principal=user)
            return unknown.model_copy(update={"read_only_session": False})
        return read_role(user, grants, unread)

    def _version(self) -> str | None:
        """CURRENT_VERSION() on the session (taken from the pool or logged in if needed)."""
        try:
            _, rows, _ = self._run_statement("SELECT CURRENT_VERSION()", None, max_rows=1, timeout=30)
            return str(rows[0][0]) if rows else None
        except QueryError:  # stand-ins without CURRENT_VERSION(): a plain round trip proves the session
            self._run_statement("SELECT 1", None, max_rows=1, timeout=30)
            return None

    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        check_query_limits(max_rows, timeout)
        checked = self.guard(sql, timeout)  # ReadOnlyViolation before anything reaches Snowflake
        if isinstance(params, dict):
            checked, params = bind_named_parameters(checked, params, self.dialect)
        self._cancel_requested.clear()
        start = time.perf_counter()
        columns, rows, truncated = self._run_statement(
            with_row_limit(checked, max_rows, self.dialect), params, max_rows=max_rows, timeout=timeout
        )
        return finished_query(log, self.source_type, columns, rows, truncated, start)

    def cancel(self) -> None:
        self._cancel_requested.set()
        conn = self._conn
        if conn is None or not self._running.is_set():
            return
        session_id = getattr(conn, "session_id", None)
        if session_id is None:
            log.warning("snowflake session has no id; the waiting query gives up without a server cancel")
            return
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT SYSTEM$CANCEL_ALL_QUERIES(%s)", (session_id,), timeout=10)
            log.info("snowflake cancel sent", extra={"source": self.source_type})
        except Exception as exc:  # best effort: the waiting query abandons the session anyway
            log.warning("snowflake cancel failed", extra={"source": self.source_type, "error": type(exc).__name__})

    def _catalog_run(self, sql: str) -> list[dict[str, Any]]:
        conn = self._connection()

        def work() -> list[dict[str, Any]]:
            with conn.cursor(snowflake.connector.DictCursor) as cur:
                cur.execute(sql, timeout=300)
                return [{k.lower(): v for k, v in row.items()} for row in cur.fetchall()]

        try:
            return self._watch(work, deadline_s=300 + DEADLINE_GRACE_S)
        except Abandoned:
            self._abandon()
            self._running.clear()
            raise QueryTimeoutError("Snowflake catalog query did not finish in time") from None
        except ConnectorError:
            raise
        except Exception as exc:
            error = map_error(exc, secrets=self._secrets)
            if isinstance(error, NetworkError):
                self._abandon()
            raise error from None

    def introspect(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        self._cancel_requested.clear()
        start = time.perf_counter()
        reader = SnowflakeCatalogReader(self._catalog_run, default_database=self.credentials.database)
        catalog = reader.read(filters, progress)
        log_introspected(log, self.source_type, catalog, start)
        return catalog

    def profile(self, table: TableRef | str, sample_size: int = 10_000) -> TableProfile:
        from connectors.snowflake.profile import profile_snowflake_table

        return profile_snowflake_table(self, table, sample_size)

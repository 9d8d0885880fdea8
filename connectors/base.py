"""The interface every source implements.

One shape for every source (as SQLAlchemy keeps one dialect shape): a connector is opened lazily, used as a
context manager, and always closes what it opened, whatever happened. Every query passes the SQL guard first.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, Sequence

from connectors.capabilities import RoleCapabilities
from connectors.catalog import Catalog, CatalogFilters, TableProfile, TableRef
from connectors.credentials import _Credentials
from connectors.errors import ConnectorError, QueryError
from connectors.results import ConnectionTest, QueryResult, ResultColumn
from connectors.tracing import generated_sql, traced_query

log = logging.getLogger("connectors")

# progress(stage, fields): e.g. progress("tables", {"done": 120, "total": 2000, "schema": "public"})
ProgressCallback = Callable[[str, dict[str, Any]], None]

DEFAULT_MAX_ROWS = 5000
DEFAULT_TIMEOUT_S = 60.0


class Connector(ABC):
    """A live, read-only handle on one data source."""

    source_type: ClassVar[str]
    #: sqlglot dialect name used by the SQL guard and for transpiling.
    dialect: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "query" in cls.__dict__:  # every source's query() gets its span here, not in each source (connectors/tracing.py)
            cls.query = traced_query(cls.__dict__["query"])  # type: ignore[method-assign]
        if "run_generated" in cls.__dict__:  # the profiler's own statements, which skip the guard, are traced alike
            cls.run_generated = traced_query(cls.__dict__["run_generated"], sql_of=generated_sql)  # type: ignore[attr-defined]

    def __init__(self, credentials: _Credentials) -> None:
        self.credentials = credentials
        self._closed = False
        self._close_lock = threading.Lock()
        self._cleanups: list[Callable[[], None]] = []

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def __enter__(self) -> "Connector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Register a cleanup hook (temp objects, warm-pool release); runs once at close, even after errors."""
        self._cleanups.append(callback)

    def close(self) -> None:
        """Close everything this connector opened. Idempotent, thread-safe, never raises."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        for callback in reversed(self._cleanups):
            try:
                callback()
            except Exception as exc:  # a failing hook must not keep the connection open
                log.warning("connector cleanup hook failed: %s", type(exc).__name__)
        try:
            self._close()
        except Exception as exc:
            log.warning("connector close failed: %s", type(exc).__name__)

    @property
    def closed(self) -> bool:
        return self._closed

    def _ensure_open(self) -> None:
        """ConnectorError `connector_closed` once close() has run: a closed connector never opens a connection again."""
        if self._closed:
            raise ConnectorError("the connector is closed", code="connector_closed")

    @abstractmethod
    def _close(self) -> None:
        """Release driver resources (connections, cursors, sessions)."""

    # -- the interface -----------------------------------------------------------------------------------------------
    @abstractmethod
    def test_connection(self) -> ConnectionTest:
        """Open (if needed) and round-trip once. Never raises for source failures: they land in `.error`."""

    @abstractmethod
    def query(
        self,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> QueryResult:
        """Run one read-only statement (checked by the SQL guard) with the row limit pushed to the source."""

    @abstractmethod
    def cancel(self) -> None:
        """Stop the running query on the server. Safe to call from another thread, and when nothing runs."""

    @abstractmethod
    def introspect(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        """Bulk catalog read: round trips do not grow with the number of tables."""

    @abstractmethod
    def profile(self, table: TableRef | str, sample_size: int = 10_000) -> TableProfile:
        """Column statistics on a sample of the table (whole table when small)."""

    def role_capabilities(self) -> RoleCapabilities:
        """What the connected role may do beyond reading, read from the source's own catalog (opens the connection if
        needed). Sources override this; the catalog statements run on the connector's internal path, not through
        `query()`, like introspection. Raises ConnectorError when the source cannot be asked."""
        return RoleCapabilities.not_reported(f"the {self.source_type} connector does not report its role's privileges")

    def guard(self, sql: str, timeout: float | None = None) -> str:
        """The SQL to run after the read-only check for this source's dialect (raises ReadOnlyViolation): with the
        query's `timeout`, so a sleep must fit in it, and the source's own `allowed_functions`."""
        from connectors.sql_guard import check_read_only

        allowed = getattr(self.credentials, "allowed_functions", None) or ()
        return check_read_only(sql, self.dialect, timeout=timeout, allowed_functions=allowed)


# -- mechanics every source shares ----------------------------------------------------------------------------------
def elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (a `time.perf_counter()` reading), as results and logs report them."""
    return round((time.perf_counter() - started) * 1000, 3)


def check_query_limits(max_rows: int, timeout: float) -> None:
    """A QueryError `invalid_argument` for a negative row limit or a timeout that is not positive, before anything
    reaches the source."""
    if max_rows < 0:
        raise QueryError(f"max_rows must be >= 0, got {max_rows}", code="invalid_argument")
    if timeout <= 0:
        raise QueryError(f"timeout must be > 0 seconds, got {timeout}", code="invalid_argument")


def run_connection_test(
    round_trip: Callable[[], str | None], role: Callable[[], RoleCapabilities] | None = None
) -> ConnectionTest:
    """`test_connection()` for every source: time one `round_trip()` (which opens the connection if needed and
    returns the server version, or None when the source has none to tell), then ask `role()` what the connected role
    may do. A ConnectorError from the round trip becomes `ok=False` with the error, so a test never raises for source
    failures; one from `role()` leaves the connection ok with every capability unknown and the reason in findings.
    The source maps its driver's errors."""
    started = time.perf_counter()
    try:
        version = round_trip()
    except ConnectorError as exc:
        return ConnectionTest(ok=False, error=exc.to_dict())
    latency = elapsed_ms(started)
    return ConnectionTest(ok=True, latency_ms=latency, server_version=version, role=probe_role(role))


def probe_role(role: Callable[[], RoleCapabilities] | None) -> RoleCapabilities:
    """The role's capabilities, or all unknown with the reason when the source could not be asked."""
    if role is None:
        return RoleCapabilities.not_reported("this connector does not report its role's privileges")
    try:
        return role()
    except ConnectorError as exc:
        log.warning("role privileges unreadable", extra={"code": exc.code, "error": type(exc).__name__})
        return RoleCapabilities.not_reported(f"the role's privileges could not be read ({exc.code}): {exc.message}")


def finished_query(
    logger: logging.Logger,
    source: str,
    columns: list[ResultColumn],
    rows: list[list[Any]],
    truncated: bool,
    started: float,
) -> QueryResult:
    """The QueryResult of a statement that ran since `started`, logged as `query finished` with its size."""
    took = elapsed_ms(started)
    logger.info("query finished", extra={"source": source, "rows": len(rows), "truncated": truncated, "elapsed_ms": took})
    return QueryResult(columns=columns, rows=rows, row_count=len(rows), truncated=truncated, elapsed_ms=took)


def log_introspected(logger: logging.Logger, source: str, catalog: Catalog, started: float, **fields: Any) -> None:
    """Log a finished `introspect()` (`introspected catalog`): tables, round trips, time, and any source fields."""
    logger.info(
        "introspected catalog",
        extra={
            "source": source,
            "tables": catalog.table_count,
            "round_trips": catalog.round_trips,
            **fields,
            "elapsed_ms": elapsed_ms(started),
        },
    )


def close_quietly(resource: Any) -> None:
    """Close a driver connection, session or cursor that is being dropped (broken, abandoned, or the connector is
    closing): it is gone either way, so a failure to close it changes nothing and is not raised."""
    if resource is None:
        return
    try:
        resource.close()
    except Exception:
        pass

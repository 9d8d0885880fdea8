"""Profiling a list of tables on one connector: what `introspect-data` does itself for a few tables, and what each of
its `introspect-data-profile` child runs does for one chunk of a big source.

A table that cannot be profiled (permission, odd type, dropped since the catalog was read) or whose profile takes
longer than the per-table timeout becomes a warning naming it, and the next table goes on. A timeout stops the
table's statement on the server through the connector's own `cancel()`, so a slow table never holds a warehouse
session past its limit. A network error (the connection is gone) or a cancel of the run is not a problem of one
table: it ends the attempt.

Each profile then gets the complete value list of its low-cardinality text columns (column_values.py), which the
analyst agent's catalog search matches question literals against; if that one statement fails, the table keeps its
ordinary profile (five top values per column) and the log says why.

Progress goes to the current run's metadata as each table finishes: `profiled_tables` and `profile_failures`
(counters) and `profile_current` (the table being profiled).
"""

from __future__ import annotations

import itertools
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from connectors import Catalog, Connector, ConnectorError, NetworkError, TableProfile, TableRef
from connectors.catalog import Column, Table
from connectors.deadline import watchdog
from connectors.profiling import profile_catalog_entry
from runtime import TaskContext, logger, metadata
from store import SnapshotWarning
from tasks.introspect_data.column_values import complete_column_values

PROFILABLE_KINDS = ("table", "materialized_view")
PROFILE_FAILED = "profile_failed"
PROFILE_TIMED_OUT = "profile_timed_out"


@dataclass
class ProfiledTables:
    """Profiles in the order the tables were given, and one warning per table that has none."""

    profiles: list[TableProfile] = field(default_factory=list)
    warnings: list[SnapshotWarning] = field(default_factory=list)

    def extend(self, other: "ProfiledTables") -> None:
        self.profiles.extend(other.profiles)
        self.warnings.extend(other.warnings)


def tables_to_profile(catalog: Catalog, *, include_views: bool, limit: int) -> list[TableRef]:
    """The first `limit` profilable tables (and views, when asked) in catalog order."""
    kinds = PROFILABLE_KINDS + (("view",) if include_views else ())
    chosen = (
        TableRef(name=table.name, schema=schema.name, database=database.name)
        for database, schema, table in catalog.iter_tables()
        if table.kind in kinds
    )
    return list(itertools.islice(chosen, limit))


def catalog_entries(catalog: Catalog, tables: Sequence[TableRef], *, max_columns: int | None = None) -> list[Table] | None:
    """The catalog entry of each of `tables` (as `tables_to_profile` named them), trimmed to what profiling reads
    (`profiling_entry`): a profile then needs no catalog lookup of its own (see `profile_catalog_entry`). None when
    one of them is not in `catalog` (a replayed run re-read a catalog that changed) or when they hold more than
    `max_columns` columns in all: each table is then looked up as `profile()` does."""
    wanted = {(ref.database, ref.schema_, ref.name) for ref in tables}
    found = {(d.name, s.name, t.name): t for d, s, t in catalog.iter_tables() if (d.name, s.name, t.name) in wanted}
    if len(found) < len(wanted):
        return None
    chosen = [found[(ref.database, ref.schema_, ref.name)] for ref in tables]
    if max_columns is not None and sum(len(t.columns) for t in chosen) > max_columns:
        return None
    return [profiling_entry(t) for t in chosen]


def profiling_entry(table: Table) -> Table:
    """A catalog entry with only what the profiler reads (columns' names and types, kind, row estimate, primary key):
    what a profiling child run's payload carries for each of its tables."""
    return Table(
        name=table.name,
        kind=table.kind,
        columns=[
            Column(ordinal=c.ordinal, name=c.name, data_type=c.data_type, normalized_type=c.normalized_type)
            for c in table.columns
        ],
        primary_key=table.primary_key,
        row_count=table.row_count,
    )


def qualified_name(ref: TableRef) -> str:
    """`database.schema.table` (the parts a source has), as warnings and snapshot diffs name tables."""
    return ".".join(part for part in (ref.database, ref.schema_, ref.name) if part)


class TableDeadline:
    """Cancels the connector's running statement once one table's profile has taken `seconds`.

    The cancel is sent under a lock that the end of the table also takes, so a late timer can never cancel the next
    table's statement: once `running()` has exited, the timer does nothing.
    """

    def __init__(self, conn: Connector, seconds: float) -> None:
        self._conn = conn
        self.seconds = seconds
        self._lock = threading.Lock()
        self._active = False
        self.expired = False

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self._active, self.expired = True, False
        try:
            with watchdog(self.seconds, self._expire):
                yield
        finally:
            with self._lock:
                self._active = False

    def _expire(self) -> None:
        with self._lock:
            if not self._active:
                return
            self.expired = True
            self._conn.cancel()


def profile_tables(
    conn: Connector,
    tables: list[TableRef],
    *,
    sample_size: int,
    table_timeout: float,
    ctx: TaskContext,
    entries: Sequence[Table] | None = None,
    before_table: Callable[[TableRef], None] | None = None,
    after_table: Callable[[int], None] | None = None,
) -> ProfiledTables:
    """Profile `tables` one after the other on `conn`; see the module docstring.

    `entries`, when given, are the tables' catalog entries (same order) from this source's catalog: each table is
    then profiled without looking it up again. `before_table(ref)` runs before each table (it may raise to stop);
    `after_table(n)` after each, with the number of tables finished so far.
    """
    if entries is not None and len(entries) != len(tables):
        raise ValueError(f"{len(entries)} catalog entries for {len(tables)} tables")
    done = ProfiledTables()
    deadline = TableDeadline(conn, table_timeout)
    for index, ref in enumerate(tables, start=1):
        ctx.raise_if_cancelled()
        if before_table is not None:
            before_table(ref)
        name = qualified_name(ref)
        metadata.set("profile_current", name)
        started = time.perf_counter()
        try:
            with deadline.running():
                if entries is None:
                    profile = conn.profile(ref, sample_size)
                else:
                    profile = profile_catalog_entry(conn, ref, entries[index - 1], sample_size)
        except ConnectorError as exc:
            if ctx.is_cancelled:
                raise  # the run is stopping: the error is the cancel's, not this table's
            if deadline.expired:
                warning = timed_out(name, table_timeout)
            elif isinstance(exc, NetworkError):
                raise  # the connection is gone: not a problem of this one table
            else:
                warning = failed(name, exc)
            done.warnings.append(warning)
            metadata.increment("profile_failures")
            logger.warn(
                "table profile failed" if warning.code == PROFILE_FAILED else "table profile timed out",
                table=name,
                error=type(exc).__name__,
                code=exc.code,
                reason=exc.message,
                elapsed_s=round(time.perf_counter() - started, 3),
            )
        else:
            done.profiles.append(_with_column_values(conn, profile, deadline, sample_size, table_timeout, ctx))
            metadata.increment("profiled_tables")
        if after_table is not None:
            after_table(index)
    metadata.delete("profile_current")
    logger.info("tables profiled", profiled=len(done.profiles), failed=len(done.warnings))
    return done


def _with_column_values(
    conn: Connector, profile: TableProfile, deadline: TableDeadline, sample_size: int, table_timeout: float, ctx: TaskContext
) -> TableProfile:
    """The profile with its low-cardinality text columns' complete values; the profile as it was if that fails."""
    try:
        with deadline.running():
            return complete_column_values(conn, profile, sample_size, table_timeout)
    except ConnectorError as exc:
        if ctx.is_cancelled or isinstance(exc, NetworkError):
            raise
        logger.warn(
            "column values not read: the profile keeps its top values",
            table=".".join(p for p in (profile.database, profile.schema_, profile.table) if p),
            error=type(exc).__name__,
            code=exc.code,
            reason=exc.message,
            timed_out=deadline.expired,
        )
        return profile


def failed(table: str, error: ConnectorError, **details: object) -> SnapshotWarning:
    return SnapshotWarning(
        code=PROFILE_FAILED,
        message=f"table {table} was not profiled: {type(error).__name__}: {error.message}",
        details={"table": table, "error": type(error).__name__, "code": error.code, **details},
    )


def timed_out(table: str, seconds: float) -> SnapshotWarning:
    return SnapshotWarning(
        code=PROFILE_TIMED_OUT,
        message=f"table {table} was not profiled: its profile took longer than {seconds:g} s "
        "(profile_table_timeout); its statement was canceled on the server",
        details={"table": table, "error": "ProfileTimeout", "timeout_s": seconds},
    )

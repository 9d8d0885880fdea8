"""duckdb exceptions -> the connector error hierarchy.

The driver raises one exception class per DuckDB error type (`CatalogException`, `ParserException`,
`PermissionException`, `InterruptException`, ...) and no error codes, so the class decides. Two DuckDB error types
cover cases that need telling apart, and only there is the message read: an `InvalidInputException` says whether a
write hit the read-only database or a SET hit the locked configuration, and an `IOException` while opening says
whether the file is missing, locked by a writer, unreadable, or not a DuckDB database at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from connectors.errors import (
    ConnectorError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    UnsupportedError,
)

SOURCE = "DuckDB"


def _message(exc: BaseException) -> tuple[str, str | None]:
    """(first line, the rest or None): DuckDB puts hints ("Did you mean ...") and the caret under the position on
    the lines after the first."""
    text = str(exc).strip() or type(exc).__name__
    first, _, rest = text.partition("\n")
    rest = "\n".join(line for line in rest.splitlines() if line.strip())
    return first.strip(), rest or None


def _open_error(exc: duckdb.Error, message: str, details: dict[str, Any]) -> ConnectorError:
    """A failure to open the database file (`ATTACH`) or to read a `files` entry."""
    low = message.lower()
    if "does not exist" in low or "no such file" in low or "is a directory" in low:
        return NotFoundError(f"{SOURCE} file not found: {message}", details=details)
    if "could not set lock" in low or "conflicting lock" in low or "already attached" in low:
        return NetworkError(f"{SOURCE} file is locked by another process: {message}", code="database_locked", details=details)
    if "permission denied" in low:
        return PermissionDeniedError(f"{SOURCE} file is not readable: {message}", details=details)
    if "not a valid duckdb database" in low or "version number" in low or "storage version" in low:
        return UnsupportedError(f"not a DuckDB database this version can read: {message}", code="invalid_database_file", details=details)
    return NetworkError(f"could not open the {SOURCE} database: {message}", retryable=False, details=details)


def map_error(
    exc: BaseException,
    *,
    opening: bool = False,
    canceled: bool = False,
    timed_out: bool = False,
    timeout_s: float | None = None,
) -> ConnectorError:
    """Classify a duckdb failure. `opening`: it happened while the connection was being set up. An interrupt is a
    QueryCanceledError when someone called cancel() (and the timer had not fired), otherwise the timeout."""
    if isinstance(exc, ConnectorError):
        return exc
    message, hint = _message(exc)
    details: dict[str, Any] = {"driver_error": type(exc).__name__}
    if hint:
        details["hint"] = hint

    if isinstance(exc, duckdb.InterruptException):
        if canceled and not timed_out:
            return QueryCanceledError(f"{SOURCE} query canceled on request", details=details)
        limit = f" of {timeout_s:g} s" if timeout_s is not None else ""
        return QueryTimeoutError(f"{SOURCE} query interrupted after the timeout{limit}", details=details)
    if isinstance(exc, duckdb.PermissionException):  # a file, the network or an extension: external access is off
        return PermissionDeniedError(f"{SOURCE} refused: {message}", details=details)
    if isinstance(exc, (duckdb.IOException, duckdb.ResourceInUseException)) and opening:
        return _open_error(exc, message, details)
    if isinstance(exc, duckdb.CatalogException):
        return NotFoundError(f"{SOURCE}: {message}", details=details)
    if isinstance(exc, duckdb.InvalidInputException):
        low = message.lower()
        if "read-only mode" in low or "read-only database" in low:
            return ReadOnlyViolation(f"{SOURCE} refused a write to the read-only database: {message}", construct="write", details=details)
        if "configuration has been locked" in low:
            return PermissionDeniedError(f"{SOURCE} configuration is locked: {message}", details=details)
    if isinstance(exc, duckdb.NotImplementedException):
        return UnsupportedError(f"{SOURCE} does not support this: {message}", details=details)
    if isinstance(exc, duckdb.OutOfMemoryException):
        return QueryError(f"{SOURCE} ran out of memory: {message}", code="out_of_memory", details=details)
    if isinstance(exc, duckdb.ConnectionException):
        return NetworkError(f"the {SOURCE} connection is closed: {message}", retryable=False, details=details)
    if isinstance(exc, (duckdb.IOException, duckdb.ResourceInUseException)):
        return QueryError(f"{SOURCE} could not read a file: {message}", details=details)
    return QueryError(f"{SOURCE} query failed: {message}", details=details)


def map_file_error(exc: BaseException, *, view: str, path: Path) -> ConnectorError:
    """A `files` entry DuckDB could not read while its view was created (not Parquet, a CSV it cannot sniff, ...)."""
    if isinstance(exc, ConnectorError):
        return exc
    message, hint = _message(exc)
    details: dict[str, Any] = {"driver_error": type(exc).__name__, "view": view, "path": str(path)}
    if hint:
        details["hint"] = hint
    if isinstance(exc, duckdb.PermissionException) or "permission denied" in message.lower():
        return PermissionDeniedError(f"file for view {view!r} is not readable: {message}", details=details)
    return QueryError(f"file for view {view!r} could not be read as a table: {message}", code="unreadable_file", details=details)


__all__ = ["map_error", "map_file_error"]

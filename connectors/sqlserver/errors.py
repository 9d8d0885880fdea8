"""pyodbc exceptions -> the connector error hierarchy, by SQLSTATE and SQL Server's native error number.

pyodbc raises `pyodbc.Error` subclasses whose `args` are `(sqlstate, message)`. The SQLSTATE is the ODBC code; SQL
Server's own error number (18456 login failed, 4060 cannot open database, 229 permission denied, ...) is only in the
message, which pyodbc formats as `[SQLSTATE] [driver][SQL Server]text (native) (SQLFunction)` for each diagnostic
record, so `native_errors()` reads the `(native) (SQLFunction)` pairs - the one piece of text parsing here, on a
format pyodbc itself produces.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from connectors.errors import (
    AuthError,
    ConnectorError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    UnsupportedError,
    redact_secrets,
)

_NATIVE = re.compile(r"\((-?\d+)\)\s*\(SQL\w+\)")
_DRIVER_PREFIX = re.compile(r"^\[[0-9A-Z]{5}\]\s*|\[[^\]]*\]")

LOGIN_FAILED = {18456, 18452, 18470, 18486, 18487, 18488}  # bad login, untrusted domain, disabled, locked, expired
CANNOT_OPEN_DATABASE = {4060, 911}
PERMISSION_DENIED = {229, 230, 262, 297, 300, 916}
READ_ONLY_DATABASE = {3906, 3908, 3948}
DEADLOCK_OR_BUSY = {1205, 1222, 8645, 701}
TRANSIENT = {40613, 40197, 40501, 49918, 49919, 49920, 4221, 10928, 10929}  # Azure SQL: retry later
TIMEOUT_STATES = {"HYT00", "HYT01"}
CANCELED_STATE = "HY008"


def sqlstate_of(exc: BaseException) -> str | None:
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], str) and re.fullmatch(r"[0-9A-Z]{5}", args[0]):
        return args[0]
    return None


def _raw_message(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[1], str):
        return args[1]
    return str(exc)


def native_errors(exc: BaseException) -> list[int]:
    """SQL Server error numbers in the diagnostic records, in order."""
    return [int(n) for n in _NATIVE.findall(_raw_message(exc))]


def clean_message(exc: BaseException, secrets: Sequence[str]) -> str:
    """The first diagnostic record's text without the `[SQLSTATE] [driver][SQL Server]` prefix and code suffix."""
    first = _raw_message(exc).split("; [", 1)[0]
    text = _DRIVER_PREFIX.sub("", first)
    text = _NATIVE.sub("", text)
    return redact_secrets(" ".join(text.split()) or type(exc).__name__, secrets)


def map_error(
    exc: BaseException,
    *,
    secrets: Sequence[str],
    connecting: bool = False,
    canceled: bool = False,
    timed_out: bool = False,
    timeout_s: float | None = None,
) -> ConnectorError:
    """Classify a pyodbc failure; `connecting` says whether it happened while opening the connection."""
    if isinstance(exc, ConnectorError):
        return exc
    state = sqlstate_of(exc)
    natives = native_errors(exc)
    message = clean_message(exc, secrets)
    details: dict[str, Any] = {"sqlstate": state, "native_error": natives[0] if natives else None, "driver_error": type(exc).__name__}
    native = set(natives)

    # 4060 comes first: SQL Server follows it with an 18456 record ("Cannot open database ... The login failed.")
    if native & CANNOT_OPEN_DATABASE:
        return NotFoundError(f"SQL Server database not found or not accessible: {message}", details=details)
    if native & LOGIN_FAILED or state == "28000":
        return AuthError(f"SQL Server rejected the login: {message}", details=details)
    if native & PERMISSION_DENIED or state == "42501":
        return PermissionDeniedError(f"SQL Server permission denied: {message}", details=details)
    if state == CANCELED_STATE or state in TIMEOUT_STATES:
        if connecting:
            return NetworkError(f"timed out connecting to SQL Server: {message}", details=details)
        if canceled and not timed_out:
            return QueryCanceledError("SQL Server query canceled on request", details=details)
        limit = f" of {timeout_s:g} s" if timeout_s is not None else ""
        return QueryTimeoutError(f"SQL Server query stopped after the timeout{limit}", details=details)
    if native & READ_ONLY_DATABASE:
        return ReadOnlyViolation(f"SQL Server refused a write: {message}", construct="write", details=details)
    if native & TRANSIENT:
        return NetworkError(f"SQL Server is temporarily unavailable: {message}", details=details)
    if state is not None and (state.startswith("08") or state == "HYT00"):
        verb = "connect to" if connecting else "reach"
        return NetworkError(f"could not {verb} SQL Server: {message}", details=details)
    if state == "IM002" or (state == "01000" and "Can't open lib" in _raw_message(exc)):
        return UnsupportedError(f"the ODBC driver could not be loaded: {message}", code="missing_odbc_driver", details=details)
    if native & DEADLOCK_OR_BUSY or state == "40001":
        return QueryError(f"SQL Server is busy, try again: {message}", retryable=True, details=details)
    if connecting:
        return NetworkError(f"could not connect to SQL Server: {message}", details=details)
    return QueryError(f"SQL Server query failed: {message}", details=details)

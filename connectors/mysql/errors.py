"""PyMySQL exceptions -> the connector error hierarchy, by MySQL/MariaDB error number (never by message text).

Server errors carry their number in `exc.args[0]`; client-side failures use the 2000-range CR_* numbers, and a
connection PyMySQL already closed raises `InterfaceError(0, '')`. Messages are the server's own text, which names the
user and host but never the password; `map_error` still removes the password should a message ever contain it.
"""

from __future__ import annotations

from typing import Any

import pymysql

from connectors.errors import (
    AuthError,
    ConnectorError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    redact_secrets,
)

ER_DBACCESS_DENIED = 1044
ER_ACCESS_DENIED = 1045
ER_BAD_DB = 1049
ER_TABLEACCESS_DENIED = 1142
ER_COLUMNACCESS_DENIED = 1143
ER_SPECIFIC_ACCESS_DENIED = 1227
ER_QUERY_INTERRUPTED = 1317
ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION = 1792
ER_OPTION_PREVENTS_STATEMENT = 1290  # e.g. --read-only server
ER_STATEMENT_TIMEOUT = 1969  # MariaDB max_statement_time
ER_QUERY_TIMEOUT = 3024  # MySQL max_execution_time
ER_ACCOUNT_LOCKED = 3118
ER_PASSWORD_EXPIRED = 1820
ER_MUST_CHANGE_PASSWORD_LOGIN = 1862
ER_HOST_NOT_PRIVILEGED = 1130
ER_CON_COUNT = 1040
ER_TOO_MANY_USER_CONNECTIONS = 1203
ER_LOCK_WAIT_TIMEOUT = 1205
ER_LOCK_DEADLOCK = 1213
ER_SERVER_SHUTDOWN = 1053

CR_CONNECTION_ERROR = 2002
CR_CONN_HOST_ERROR = 2003
CR_UNKNOWN_HOST = 2005
CR_SERVER_GONE_ERROR = 2006
CR_SERVER_LOST = 2013
CR_SSL_CONNECTION_ERROR = 2026
CR_SERVER_LOST_EXTENDED = 2055

_AUTH = {ER_ACCESS_DENIED, ER_ACCOUNT_LOCKED, ER_PASSWORD_EXPIRED, ER_MUST_CHANGE_PASSWORD_LOGIN, ER_HOST_NOT_PRIVILEGED}
_NETWORK = {
    CR_CONNECTION_ERROR,
    CR_CONN_HOST_ERROR,
    CR_UNKNOWN_HOST,
    CR_SERVER_GONE_ERROR,
    CR_SERVER_LOST,
    CR_SERVER_LOST_EXTENDED,
    ER_CON_COUNT,
    ER_TOO_MANY_USER_CONNECTIONS,
    ER_SERVER_SHUTDOWN,
}
_PERMISSION = {ER_DBACCESS_DENIED, ER_TABLEACCESS_DENIED, ER_COLUMNACCESS_DENIED, ER_SPECIFIC_ACCESS_DENIED}
_TIMEOUT = {ER_STATEMENT_TIMEOUT, ER_QUERY_TIMEOUT}
_RETRYABLE_QUERY = {ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK}

#: Errors after which the connection cannot be used again (the connector drops it and reopens lazily).
CONNECTION_BROKEN = _NETWORK | {0}


def error_number(exc: BaseException) -> int | None:
    """The MySQL error number of a PyMySQL exception (0 for 'connection already closed'), or None."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def map_error(
    exc: BaseException,
    *,
    secrets: list[str],
    canceled: bool = False,
    timed_out: bool = False,
    timeout_s: float | None = None,
    context: dict[str, Any] | None = None,
) -> ConnectorError:
    """The ConnectorError for a PyMySQL exception.

    `canceled` / `timed_out` say why the connector itself interrupted the statement (cancel(), or the client-side
    watchdog), which is how an ER_QUERY_INTERRUPTED becomes a cancel or a timeout rather than a plain query error.
    """
    number = error_number(exc)
    text = redact_secrets(str(exc.args[1]) if len(getattr(exc, "args", ())) > 1 else str(exc), secrets, mask="***")
    details: dict[str, Any] = {"mysql_errno": number, **(context or {})}
    if isinstance(exc, OSError) and not isinstance(exc, pymysql.MySQLError):
        return NetworkError(f"mysql connection failed: {type(exc).__name__}", details=details)
    if number in _AUTH:
        return AuthError(f"mysql refused the credentials: {text}", details=details)
    if number == CR_SSL_CONNECTION_ERROR:
        return NetworkError(f"mysql TLS failed: {text}", code="ssl_error", retryable=False, details=details)
    if number in _NETWORK:
        return NetworkError(f"mysql connection failed: {text}", details=details)
    if number == 0 and isinstance(exc, pymysql.err.InterfaceError):
        return NetworkError("mysql connection is closed", details=details)
    if number == ER_BAD_DB:
        return NotFoundError(f"mysql database not found: {text}", details=details)
    if number in _PERMISSION:
        return PermissionDeniedError(f"mysql permission denied: {text}", details=details)
    if number in (ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, ER_OPTION_PREVENTS_STATEMENT):
        return PermissionDeniedError(f"mysql refused a write in a read-only session: {text}", code="read_only_session", details=details)
    if number in _TIMEOUT or (number == ER_QUERY_INTERRUPTED and timed_out and not canceled):
        if timeout_s is not None:
            details["timeout_s"] = timeout_s
        return QueryTimeoutError(
            f"mysql query exceeded its timeout{f' of {timeout_s:g} s' if timeout_s is not None else ''}", details=details
        )
    if number == ER_QUERY_INTERRUPTED and canceled:
        return QueryCanceledError("mysql query was canceled", details=details)
    if number == ER_QUERY_INTERRUPTED:
        return QueryError(f"mysql query was interrupted on the server: {text}", code="query_interrupted", details=details)
    if number in _RETRYABLE_QUERY:
        return QueryError(f"mysql query failed: {text}", retryable=True, details=details)
    return QueryError(f"mysql query failed: {text}", details=details)


__all__ = ["CONNECTION_BROKEN", "error_number", "map_error"]

"""psycopg exceptions -> the connector error hierarchy.

Errors the server raises carry a SQLSTATE (`exc.sqlstate`), and those are mapped by code. Errors raised while
*connecting* carry none: libpq reports the server's FATAL message as text only (psycopg/psycopg#1188: the 28P01 on
the wire is not exposed), so connection failures are classified from libpq's message, the one place where string
matching is unavoidable. The patterns are the server's and libpq's English texts; with a localized `lc_messages` on
the server an auth failure falls back to a (retryable) NetworkError rather than being misfiled as something else.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import psycopg

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
    redact_secrets,
)

_AUTH_PATTERNS = re.compile(
    r"password authentication failed|authentication failed for user|no password supplied|"
    r"is not permitted to log in|role \".*\" does not exist|no pg_hba\.conf entry|"
    r"password is required|SCRAM authentication|server requested a (?:cleartext|hashed) password",
    re.IGNORECASE,
)
_MISSING_DATABASE = re.compile(r"database \".*\" does not exist", re.IGNORECASE)
_NO_DATABASE_PRIVILEGE = re.compile(r"permission denied for database", re.IGNORECASE)
_SSL_CONFIG = re.compile(r"SSL was required|sslmode value|root certificate file|certificate verify failed", re.IGNORECASE)


def _connection_message(exc: BaseException) -> str:
    # psycopg: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  <server text>'
    text = str(exc).strip()
    text = re.sub(r"^connection failed:\s*", "", text)
    text = re.sub(r"\s*Multiple connection attempts failed.*", "", text, flags=re.DOTALL)
    return " ".join(text.split())


def map_connect_error(exc: BaseException, *, source: str, secrets: Sequence[str]) -> ConnectorError:
    """Classify a failure to open a connection (no SQLSTATE available, see module docstring)."""
    if isinstance(exc, ConnectorError):
        return exc
    message = redact_secrets(_connection_message(exc), secrets)
    details: dict[str, Any] = {"driver_error": type(exc).__name__}
    if _AUTH_PATTERNS.search(message):
        return AuthError(f"{source} rejected the credentials: {message}", details=details)
    if _MISSING_DATABASE.search(message):
        return NotFoundError(f"{source} database not found: {message}", details=details)
    if _NO_DATABASE_PRIVILEGE.search(message):
        return PermissionDeniedError(f"{source} refused access to the database: {message}", details=details)
    if _SSL_CONFIG.search(message):
        return NetworkError(f"{source} TLS settings do not match the server: {message}", retryable=False, details=details)
    if isinstance(exc, psycopg.ProgrammingError):  # e.g. an invalid connection option
        return QueryError(f"invalid {source} connection settings: {message}", details=details)
    return NetworkError(f"could not connect to {source}: {message}", details=details)


def map_query_error(
    exc: BaseException,
    *,
    source: str,
    secrets: Sequence[str],
    canceled: bool = False,
    timeout_s: float | None = None,
) -> ConnectorError:
    """Classify a failure of a statement by its SQLSTATE. A 57014 (query_canceled) is a QueryCanceledError when
    `canceled` (someone called cancel()), otherwise the server's statement_timeout (or our watchdog) stopped it."""
    if isinstance(exc, ConnectorError):
        return exc
    sqlstate: str | None = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).strip() or type(exc).__name__
    message = redact_secrets(" ".join(primary.split()), secrets)
    details: dict[str, Any] = {"sqlstate": sqlstate, "driver_error": type(exc).__name__}
    for field in ("message_detail", "message_hint"):
        value = getattr(diag, field, None) if diag is not None else None
        if value:
            details[field.removeprefix("message_")] = redact_secrets(str(value), secrets)

    if sqlstate is None:
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            return NetworkError(f"lost the {source} connection: {message}", details=details)
        return QueryError(f"{source} query failed: {message}", details=details)
    if sqlstate == "57014":  # query_canceled: by our cancel() or by statement_timeout
        if canceled:
            return QueryCanceledError(f"{source} query canceled on request", details=details)
        limit = f" of {timeout_s:g} s" if timeout_s is not None else ""
        return QueryTimeoutError(f"{source} query stopped by the server after the timeout{limit}", details=details)
    if sqlstate in ("28P01", "28000"):
        return AuthError(f"{source} rejected the credentials: {message}", details=details)
    if sqlstate == "3D000":
        return NotFoundError(f"{source} database not found: {message}", details=details)
    if sqlstate == "42501":
        return PermissionDeniedError(f"{source} permission denied: {message}", details=details)
    if sqlstate == "25006":  # read_only_sql_transaction: the read-only session caught a write the guard let through
        return ReadOnlyViolation(f"{source} refused a write in the read-only session: {message}", construct="write", details=details)
    if sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03"):
        return NetworkError(f"lost the {source} connection: {message}", details=details)
    if sqlstate.startswith("53") or sqlstate in ("40001", "40P01", "55P03"):
        return QueryError(f"{source} is busy, try again: {message}", retryable=True, details=details)
    return QueryError(f"{source} query failed: {message}", details=details)

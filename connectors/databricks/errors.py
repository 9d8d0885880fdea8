"""databricks-sql-connector exceptions -> the connector error hierarchy.

What the driver gives, in order of trust:
1. the exception class (`databricks.sql.exc`: `RequestError` and its retry subclasses for HTTP/transport failures,
   `ServerOperationError` for a statement the warehouse failed, `InterfaceError` for a closed session);
2. for `RequestError`, the HTTP status in `exc.context["http-code"]` (401 bad token, 403 forbidden, 404 wrong HTTP
   path, 429/503 warehouse busy or starting);
3. for `ServerOperationError`, Databricks' error class and SQLSTATE, which the server puts in a fixed format at the
   start and end of the message (`[TABLE_OR_VIEW_NOT_FOUND] ... SQLSTATE: 42P01`) - documented, stable codes;
4. OAuth M2M failures raised by `databricks-sdk` while fetching a token (`Unauthenticated`, `PermissionDenied`, ...).
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
    redact_secrets,
)

_ERROR_CLASS = re.compile(r"\[([A-Z][A-Z0-9_]*)(?:\.[A-Z0-9_]+)*\]")
_SQLSTATE = re.compile(r"SQLSTATE:\s*([0-9A-Z]{5})")

PERMISSION_CLASSES = {"INSUFFICIENT_PERMISSIONS", "PERMISSION_DENIED", "UNAUTHORIZED_ACCESS"}
NOT_FOUND_CLASSES = {"NO_SUCH_CATALOG_EXCEPTION", "CATALOG_NOT_FOUND", "SCHEMA_NOT_FOUND"}
TIMEOUT_CLASSES = {"QUERY_EXECUTION_TIMEOUT_EXCEEDED"}
TIMEOUT_SQLSTATES = {"57KD0"}
CANCELED_SQLSTATES = {"57014"}


def error_class(message: str) -> str | None:
    match = _ERROR_CLASS.search(message)
    return match.group(1) if match else None


def sqlstate(message: str) -> str | None:
    match = _SQLSTATE.search(message)
    return match.group(1) if match else None


def _http_code(exc: BaseException) -> int | None:
    context = getattr(exc, "context", None)
    code = context.get("http-code") if isinstance(context, dict) else None
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def _message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def map_error(
    exc: BaseException,
    *,
    secrets: Sequence[str],
    connecting: bool = False,
    canceled: bool = False,
    timed_out: bool = False,
    timeout_s: float | None = None,
) -> ConnectorError:
    """Classify a failure; `canceled`/`timed_out` say whether our cancel() or timer stopped the statement."""
    if isinstance(exc, ConnectorError):
        return exc
    from databricks.sql import exc as dbx

    message = redact_secrets(_message(exc), secrets)
    http = _http_code(exc)
    cls = error_class(message)
    state = sqlstate(message)
    details: dict[str, Any] = {"driver_error": type(exc).__name__, "http_code": http, "error_class": cls, "sqlstate": state}
    limit = f" of {timeout_s:g} s" if timeout_s is not None else ""

    if canceled and not timed_out:
        return QueryCanceledError("Databricks statement canceled on request", details=details)
    if timed_out or cls in TIMEOUT_CLASSES or state in TIMEOUT_SQLSTATES:
        return QueryTimeoutError(f"Databricks statement stopped after the timeout{limit}", details=details)
    if state in CANCELED_SQLSTATES:
        return QueryCanceledError(f"Databricks statement canceled: {message}", details=details)

    if isinstance(exc, dbx.RequestError):
        if http == 401:
            return AuthError(f"Databricks rejected the credentials (HTTP 401): {message}", details=details)
        if http == 403:
            if connecting:
                return AuthError(f"Databricks refused the credentials for this workspace (HTTP 403): {message}", details=details)
            return PermissionDeniedError(f"Databricks permission denied (HTTP 403): {message}", details=details)
        if http == 404:
            return NotFoundError(f"Databricks endpoint not found - check server_hostname and http_path (HTTP 404): {message}", details=details)
        return NetworkError(f"could not reach Databricks: {message}", details=details)
    if isinstance(exc, dbx.ServerOperationError) or isinstance(exc, dbx.DatabaseError) and not isinstance(exc, dbx.OperationalError):
        if cls in PERMISSION_CLASSES or state == "42501":
            return PermissionDeniedError(f"Databricks permission denied: {message}", details=details)
        if cls in NOT_FOUND_CLASSES:
            return NotFoundError(f"Databricks object not found: {message}", details=details)
        return QueryError(f"Databricks query failed: {message}", details=details)
    if isinstance(exc, (dbx.OperationalError, dbx.InterfaceError)):
        return NetworkError(f"lost the Databricks session: {message}", details=details)

    sdk_error = _map_sdk_error(exc, message, details)
    if sdk_error is not None:
        return sdk_error
    if connecting or isinstance(exc, OSError):
        return NetworkError(f"could not connect to Databricks: {message}", details=details)
    return QueryError(f"Databricks query failed: {message}", details=details)


def _map_sdk_error(exc: BaseException, message: str, details: dict[str, Any]) -> ConnectorError | None:
    """OAuth M2M token failures come from databricks-sdk, with its own error classes."""
    try:
        from databricks.sdk import errors as sdk
    except ImportError:
        return None
    if isinstance(exc, sdk.Unauthenticated):
        return AuthError(f"Databricks OAuth rejected the service principal: {message}", details=details)
    if isinstance(exc, sdk.PermissionDenied):
        return AuthError(f"Databricks OAuth refused the service principal: {message}", details=details)
    if isinstance(exc, sdk.NotFound):
        return NotFoundError(f"Databricks workspace or OAuth endpoint not found: {message}", details=details)
    if isinstance(exc, (sdk.TemporarilyUnavailable, sdk.TooManyRequests, sdk.DeadlineExceeded)):
        return NetworkError(f"Databricks is temporarily unavailable: {message}", details=details)
    if isinstance(exc, sdk.DatabricksError):
        return AuthError(f"Databricks OAuth failed: {message}", details=details)
    return None

"""snowflake-connector-python exceptions -> the connector error hierarchy, by errno and SQLSTATE.

The driver gives every failure an `errno` (Snowflake's server code, or the driver's own 25xxxx codes) and usually a
`sqlstate`, so classification never reads message text, with one exception documented below. Codes used here
(Snowflake documentation and the driver's `errorcode.py` / `network.py`):

- 390100 incorrect username or password, 390144/3943xx invalid JWT (key-pair), 390303/390318 invalid/expired OAuth
  token, SQLSTATE 28000 (the driver sets it for every credential rejection) -> AuthError;
- 250001 "could not connect" raised as OperationalError (the socket never reached Snowflake), 250003 request failed,
  251011 connection timeout, SQLSTATE 08xxx, and the driver's HTTP 5xx classes -> NetworkError (retryable);
  250001 raised as a plain DatabaseError comes out of the login exchange itself -> AuthError;
- 002003 "does not exist or not authorized", 390201 database/390189 warehouse missing at login -> NotFoundError;
- 003001 insufficient privileges, ForbiddenError (HTTP 403) -> PermissionDeniedError;
- 000630 statement reached its statement or warehouse timeout -> QueryTimeoutError; 000604 "SQL execution canceled"
  -> QueryCanceledError when our cancel() asked for it, else QueryTimeoutError (the driver's own timeout timer
  cancels with the same code);
- anything else from a statement -> QueryError.
"""

from __future__ import annotations

from typing import Any, Sequence

from snowflake.connector import errors as sf_errors

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

SOURCE = "Snowflake"

AUTH_ERRNOS = frozenset(
    {390100, 390144, 390303, 390318, 394300, 394301, 394302, 394303, 394304, 394305, 394306, 390102, 390422}
)
NETWORK_ERRNOS = frozenset({250003, 250005, 251011, 390112, 390114})
NOT_FOUND_ERRNOS = frozenset({2003, 390201, 390189})
PERMISSION_ERRNOS = frozenset({3001, 390186})
STATEMENT_TIMEOUT_ERRNO = 630
CANCELED_ERRNO = 604
FAILED_TO_CONNECT_ERRNO = 250001
INVALID_PRIVATE_KEY_ERRNO = 251008

_NETWORK_CLASSES: tuple[type[BaseException], ...] = (
    sf_errors.ServiceUnavailableError,
    sf_errors.GatewayTimeoutError,
    sf_errors.BadGatewayError,
    sf_errors.InternalServerError,
    sf_errors.RequestTimeoutError,
    sf_errors.OtherHTTPRetryableError,
    sf_errors.TooManyRequests,
    sf_errors.RequestExceedMaxRetryError,
)


def _message(exc: BaseException) -> str:
    msg = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return " ".join(str(msg).split())


def map_error(
    exc: BaseException,
    *,
    secrets: Sequence[str],
    canceled: bool = False,
    timed_out: bool = False,
    timeout_s: float | None = None,
) -> ConnectorError:
    """Classify a driver exception; `canceled`/`timed_out` say who stopped a statement that ended with 000604."""
    if isinstance(exc, ConnectorError):
        return exc
    errno: int | None = getattr(exc, "errno", None)
    if errno is not None and errno < 0:
        errno = None
    sqlstate: str | None = getattr(exc, "sqlstate", None)
    if sqlstate in ("n/a", ""):
        sqlstate = None
    message = redact_secrets(_message(exc), secrets)
    details: dict[str, Any] = {"errno": errno, "sqlstate": sqlstate, "driver_error": type(exc).__name__}
    sfqid = getattr(exc, "sfqid", None)
    if sfqid:
        details["query_id"] = sfqid

    if errno == STATEMENT_TIMEOUT_ERRNO:
        limit = f" of {timeout_s:g} s" if timeout_s is not None else ""
        return QueryTimeoutError(f"{SOURCE} stopped the statement at its timeout{limit}: {message}", details=details)
    if errno == CANCELED_ERRNO:
        if canceled and not timed_out:
            return QueryCanceledError(f"{SOURCE} query canceled on request", details=details)
        limit = f" of {timeout_s:g} s" if timeout_s is not None else ""
        return QueryTimeoutError(f"{SOURCE} query canceled at the timeout{limit}", details=details)
    if errno in AUTH_ERRNOS or sqlstate == "28000":
        return AuthError(f"{SOURCE} rejected the credentials: {message}", details=details)
    if errno == INVALID_PRIVATE_KEY_ERRNO:
        return AuthError(f"{SOURCE} private key is not usable: {message}", details=details)
    if errno == FAILED_TO_CONNECT_ERRNO:
        if isinstance(exc, sf_errors.OperationalError):
            return NetworkError(f"could not reach {SOURCE}: {message}", details=details)
        return AuthError(f"{SOURCE} login failed: {message}", details=details)
    if isinstance(exc, sf_errors.ForbiddenError) or errno in PERMISSION_ERRNOS:
        return PermissionDeniedError(f"{SOURCE} permission denied: {message}", details=details)
    if errno in NOT_FOUND_ERRNOS:
        return NotFoundError(f"{SOURCE} object not found: {message}", details=details)
    if errno in NETWORK_ERRNOS or isinstance(exc, _NETWORK_CLASSES) or (sqlstate or "").startswith("08"):
        return NetworkError(f"lost the {SOURCE} connection: {message}", details=details)
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        return NetworkError(f"could not reach {SOURCE}: {message}", details=details)
    return QueryError(f"{SOURCE} query failed: {message}", details=details)

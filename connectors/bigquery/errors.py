"""google-cloud-bigquery / google-auth exceptions -> the connector error hierarchy.

google.api_core maps HTTP statuses to exception classes, and BigQuery adds a `reason` to each error
(`exc.errors[0]["reason"]`, documented in BigQuery's error-message reference); both are codes, so nothing here reads
message text:
- Unauthorized (401), google.auth RefreshError (`invalid_grant`, revoked key), DefaultCredentialsError -> AuthError;
- Forbidden (403) with reason accessDenied (and any other 403 but quota/rate limits) -> PermissionDeniedError;
  quotaExceeded / rateLimitExceeded -> retryable QueryError;
- NotFound (404) -> NotFoundError;
- reason `timeout` / `jobTimeout`, DeadlineExceeded, GatewayTimeout, a client-side wait timeout -> QueryTimeoutError;
- reason `stopped` (job canceled) -> QueryCanceledError when our cancel() asked for it;
- reason `bytesBilledLimitExceeded` -> QueryError with code `bytes_limit_exceeded` (the maximum_bytes_billed guard);
- ServiceUnavailable, InternalServerError, BadGateway, requests ConnectionError, RetryError -> NetworkError;
- BadRequest and everything else -> QueryError.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any, Sequence

import requests
from google.api_core import exceptions as api
from google.auth import exceptions as auth_exc

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

SOURCE = "BigQuery"
TIMEOUT_REASONS = frozenset({"timeout", "jobTimeout"})
RETRYABLE_REASONS = frozenset({"quotaExceeded", "rateLimitExceeded", "backendError", "jobRateLimitExceeded"})


def reason_of(exc: BaseException) -> str | None:
    """BigQuery's error reason (`accessDenied`, `notFound`, `timeout`, ...) when the exception carries one."""
    errors = getattr(exc, "errors", None) or []
    for error in errors:
        if isinstance(error, dict) and error.get("reason"):
            return str(error["reason"])
    return None


def _message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    # api_core appends "Location: ... Job ID: ..." lines; those go to details
    return " ".join(str(text).split("\n\nLocation:")[0].split())


def map_error(
    exc: BaseException,
    *,
    secrets: Sequence[str] = (),
    canceled: bool = False,
    timeout_s: float | None = None,
) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    reason = reason_of(exc)
    message = redact_secrets(_message(exc), secrets)
    details: dict[str, Any] = {"driver_error": type(exc).__name__, "reason": reason}
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        details["status"] = code
    job_id = getattr(exc, "job_id", None) or getattr(getattr(exc, "response", None), "job_id", None)
    if job_id:
        details["job_id"] = job_id
    limit = f" of {timeout_s:g} s" if timeout_s is not None else ""

    if reason == "stopped":
        if canceled:
            return QueryCanceledError(f"{SOURCE} job canceled on request", details=details)
        return QueryTimeoutError(f"{SOURCE} job stopped at the timeout{limit}", details=details)
    if reason in TIMEOUT_REASONS or isinstance(
        exc, (api.DeadlineExceeded, api.GatewayTimeout, concurrent.futures.TimeoutError, TimeoutError, requests.Timeout)
    ):
        return QueryTimeoutError(f"{SOURCE} job did not finish within the timeout{limit}: {message}", details=details)
    if isinstance(exc, (auth_exc.RefreshError, auth_exc.DefaultCredentialsError, api.Unauthorized)):
        return AuthError(f"{SOURCE} rejected the credentials: {message}", details=details)
    if isinstance(exc, auth_exc.TransportError):
        return NetworkError(f"could not reach Google's token endpoint: {message}", details=details)
    if reason == "bytesBilledLimitExceeded":
        return QueryError(f"{SOURCE} refused the query: it would bill more than maximum_bytes_billed ({message})",
                          code="bytes_limit_exceeded", details=details)
    if reason in RETRYABLE_REASONS or isinstance(exc, api.TooManyRequests):
        return QueryError(f"{SOURCE} is rate limiting, try again: {message}", retryable=True, details=details)
    if isinstance(exc, api.Forbidden) or reason == "accessDenied":
        return PermissionDeniedError(f"{SOURCE} permission denied: {message}", details=details)
    if isinstance(exc, api.NotFound) or reason == "notFound":
        return NotFoundError(f"{SOURCE} object not found: {message}", details=details)
    if isinstance(exc, (api.ServiceUnavailable, api.InternalServerError, api.BadGateway, api.RetryError,
                        requests.ConnectionError, ConnectionError)):
        return NetworkError(f"could not reach {SOURCE}: {message}", details=details)
    return QueryError(f"{SOURCE} query failed: {message}", details=details)

"""One error hierarchy for every source.

Drivers raise their own exception zoo; tasks and the agent need to know one thing about a failure: what kind it is
and whether trying again can help. Every connector maps its driver's exceptions (by error code where the driver
gives one) onto these classes, and never puts a secret into `message` or `details`.
"""

from __future__ import annotations

from typing import Any, Sequence

#: what a secret is replaced with in any text a connector passes on
SECRET_MASK = "**********"


def redact_secrets(text: str, secrets: Sequence[str], mask: str = SECRET_MASK) -> str:
    """`text` with every secret replaced by `mask`: driver messages are scrubbed before they become an error's message
    or details, in case a driver ever echoes a password or token (never expected, always checked)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask)
    return text


class ConnectorError(Exception):
    """Base of every connector failure: a stable `code`, a human `message`, `retryable`, structured `details`."""

    code: str = "connector_error"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable
        self.details: dict[str, Any] = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "details": self.details,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, retryable={self.retryable})"


class AuthError(ConnectorError):
    """The source refused the credentials (wrong password, expired token, unknown user)."""

    code = "auth_failed"
    retryable = False


class NetworkError(ConnectorError):
    """The source could not be reached or the connection dropped; often passes."""

    code = "network_error"
    retryable = True


class NotFoundError(ConnectorError):
    """A database, schema, table or account named by the caller does not exist (or is invisible)."""

    code = "not_found"
    retryable = False


class PermissionDeniedError(ConnectorError):
    """Authenticated, but not allowed to read this object or run this statement."""

    code = "permission_denied"
    retryable = False


class QueryTimeoutError(ConnectorError):
    """The statement ran past its timeout and was stopped on the server."""

    code = "query_timeout"
    retryable = False


class QueryError(ConnectorError):
    """The source rejected or failed the statement (syntax, unknown column, division by zero, ...)."""

    code = "query_error"
    retryable = False


class QueryCanceledError(QueryError):
    """The statement was canceled on request (`Connector.cancel()` or the run being canceled)."""

    code = "query_canceled"
    retryable = False


class ReadOnlyViolation(ConnectorError):
    """The SQL guard refused a statement that could change data or have side effects; it never reached the source."""

    code = "read_only_violation"
    retryable = False

    def __init__(self, message: str, *, construct: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details={"construct": construct, **(details or {})})
        self.construct = construct


class UnsupportedError(ConnectorError):
    """The source or its driver cannot do what was asked."""

    code = "unsupported"
    retryable = False


class MissingDriverError(UnsupportedError):
    """The source's driver is not installed; the message names the extra that installs it."""

    code = "missing_driver"

    def __init__(self, source: str, extra: str, module: str) -> None:
        super().__init__(
            f"the {source} connector needs the '{module}' package: pip install 'analyst-taskpack[{extra}]'",
            details={"source": source, "extra": extra, "module": module},
        )
        self.extra = extra


__all__ = [
    "AuthError",
    "ConnectorError",
    "MissingDriverError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryCanceledError",
    "QueryError",
    "QueryTimeoutError",
    "ReadOnlyViolation",
    "SECRET_MASK",
    "UnsupportedError",
    "redact_secrets",
]

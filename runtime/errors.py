"""Errors the runtime raises, and the structured form a failed run keeps."""

from __future__ import annotations

import traceback
from typing import Any

from pydantic import BaseModel

from runtime.redaction import RunSecrets, redact, redact_text


class TaskpackError(Exception):
    """Base of the runtime's own errors."""


class InputError(TaskpackError, ValueError):
    """Input refused at the door (CLI, Python API, HTTP API) before anything was stored.

    `field` names what was wrong ("payload.credentials.port", "delay", "tags[2]"); the message starts with it and
    never repeats the refused value, which may be a secret or a megabyte of text.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TriggerOptionsError(InputError):
    """A trigger option (delay, ttl, tags, idempotency key, ...) or the task id is invalid."""


class PayloadError(InputError):
    """A run's payload cannot be accepted: too big, too deep, not JSON-safe, or invalid for the task's schema.

    `errors` lists each problem as {"field", "message"} when there are several (schema validation).
    """

    def __init__(self, message: str, *, field: str | None = None, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(message, field=field)
        self.errors = errors or ([{"field": field, "message": message}] if field else [])


class SecretKeyError(TaskpackError, RuntimeError):
    """The encryption key is missing, malformed or kept in an unsafe file (runtime.secret_key).

    `message` is one line fit for a user: it names the variable or the file, never a key or a secret.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SecretDecryptError(SecretKeyError):
    """A stored token cannot be read with the current key nor with any of TASKPACK_SECRET_KEY_PREVIOUS."""


class AbortTaskRunError(Exception):
    """Raise inside a task to fail the run at once: no further attempts."""


class UnknownTaskError(TaskpackError, LookupError):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task with id {task_id!r} is defined in this process or registered by a worker")
        self.task_id = task_id


class RunNotFoundError(TaskpackError, LookupError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}")
        self.run_id = run_id


class MetadataTooLargeError(TaskpackError, ValueError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"run metadata would be {size} bytes, over the {limit} byte limit; store large data elsewhere")
        self.size = size
        self.limit = limit


class OutsideRunError(TaskpackError, RuntimeError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} can only be used while a task run is executing")


class TaskCancelledError(BaseException):
    """Raised into task code (at step boundaries) once its attempt was canceled or timed out.

    A BaseException, like asyncio.CancelledError, so a broad `except Exception` in task code cannot swallow it.
    """

    def __init__(self, reason: str = "canceled") -> None:
        super().__init__(reason)
        self.reason = reason


class RunError(BaseModel):
    """How a failure is stored with its run: data, not a formatted string (and never a secret)."""

    type: str
    message: str
    code: str | None = None
    retryable: bool | None = None
    details: dict[str, Any] | None = None
    stack: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException, *, code: str | None = None, secrets: RunSecrets | None = None) -> "RunError":
        """The stored form of `exc`, masked with `secrets` (default: the executing run's own)."""
        details = None
        retryable = None
        to_dict = getattr(exc, "to_dict", None)
        if callable(to_dict):
            try:
                info = to_dict()
                code = code or info.get("code")
                retryable = info.get("retryable")
                details = info.get("details")
            except Exception:
                pass
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(
            type=type(exc).__name__,
            message=redact_text(str(exc), secrets) or type(exc).__name__,
            code=code,
            retryable=retryable,
            details=redact(details, secrets=secrets) if details else None,
            stack=redact_text(stack, secrets)[-20_000:],
        )


class RunFailed(Exception):
    """Ends a run's workflow with a terminal outcome other than COMPLETED (FAILED, TIMED_OUT, EXPIRED).

    Pickled into the workflow's error column; `status` says which terminal state, `error` the RunError as a dict.
    """

    def __init__(self, status: str, error: dict[str, Any], attempts: int) -> None:
        super().__init__(status, error, attempts)
        self.status = status
        self.error = error
        self.attempts = attempts

    def __str__(self) -> str:
        return f"{self.status}: {self.error.get('type')}: {self.error.get('message')}"

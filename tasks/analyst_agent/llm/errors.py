"""One error hierarchy for every model endpoint.

The agent needs to know two things about a failed model call: whether trying again can help (`retryable`), and what
to tell the user. The `openai` client's exception zoo (and the local server's start-up failures) are mapped onto
these classes; `message` is fit to show a user and never holds an API key (see `scrub`).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

#: what a secret is replaced with in any text the model layer passes on
SECRET_MASK = "**********"
# Key-shaped tokens ("sk-...", "Bearer ...") are masked even when we do not know the key: an endpoint may echo a
# different key than ours (a proxy's), and a message must never carry one.
_KEY_SHAPED = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6,256}|Bearer\s+[A-Za-z0-9_\-\.=:+/]{6,512})")


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every known secret and every key-shaped token masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, SECRET_MASK)
    return _KEY_SHAPED.sub(SECRET_MASK, text)


class ModelError(Exception):
    """Base of every model-layer failure: a stable `code`, a user-fit `message`, `retryable`, structured `details`."""

    code: str = "model_error"
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


# -- talking to an endpoint -------------------------------------------------------------------------------------------
class ModelConfigError(ModelError):
    """The endpoint settings are unusable (no model name for a custom endpoint, a malformed URL)."""

    code = "model_config_invalid"


class ModelAuthError(ModelError):
    """The endpoint refused the API key (401) or the key may not use this model (403)."""

    code = "model_auth_failed"


class ModelRequestError(ModelError):
    """The endpoint rejected the request itself (400, 404 unknown model, 422): resending it cannot help."""

    code = "model_bad_request"


class ModelRateLimitError(ModelError):
    """The endpoint said slow down (429), still so after the client's own bounded retries."""

    code = "model_rate_limited"
    retryable = True


class ModelUnavailableError(ModelError):
    """The endpoint failed (5xx) or could not be reached, still so after the client's own bounded retries."""

    code = "model_unavailable"
    retryable = True


class ModelTimeoutError(ModelError):
    """A model call ran past its timeout, every time the client tried."""

    code = "model_timeout"
    retryable = True


class ModelCancelledError(ModelError):
    """The run was canceled while the client waited to retry or was about to call the model."""

    code = "model_call_cancelled"


class InvalidModelOutputError(ModelError):
    """The model's reply did not fit what was asked (JSON schema, tool arguments) even after being re-asked."""

    code = "invalid_model_output"


# -- the offline model --------------------------------------------------------------------------------------------
class LocalModelError(ModelError):
    """Base of failures preparing or running the offline model."""

    code = "local_model_error"


class LocalExtraMissingError(LocalModelError):
    """The `local` extra (llama-cpp-python and the model part wheels) is not installed."""

    code = "local_extra_missing"


class ModelFilesMissingError(LocalModelError):
    """A model part wheel is not installed, or its data file is missing."""

    code = "model_files_missing"


class ModelChecksumError(LocalModelError):
    """The assembled model file does not have the pinned size or sha256."""

    code = "model_checksum_mismatch"


class LocalServerError(LocalModelError):
    """The local model server did not start, died, or did not become healthy in time."""

    code = "local_server_failed"

"""The `openai` client's exceptions -> `ModelError`s that say whether retrying helps and what to tell the user.

Endpoints differ in how they fail: OpenAI puts `code` in its error body, llama-cpp-python answers a request its
pydantic models refuse with HTTP 500 and the validation error as text. Every quoted endpoint message is scrubbed of the
API key and anything key-shaped, and cut to a readable length.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import openai

from tasks.analyst_agent.llm.endpoint import Endpoint
from tasks.analyst_agent.llm.errors import (
    ModelAuthError,
    ModelError,
    ModelRateLimitError,
    ModelRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
    scrub,
)

#: how much of an endpoint's error text goes into a message or details
MAX_QUOTED_CHARS = 400


class MalformedCompletion(Exception):
    """A 200 answer that is not a usable chat completion (a broken proxy, a server bug): retried like a 5xx."""


def quote(text: str, secret: str | None) -> str:
    text = scrub(" ".join(text.split()), [secret])
    return text if len(text) <= MAX_QUOTED_CHARS else text[: MAX_QUOTED_CHARS - 1] + "…"


def model_error_from(exc: Exception, endpoint: Endpoint, secret: str | None) -> ModelError:
    """The typed error for a failed request (`openai.APIError`, an undecodable body, a `MalformedCompletion`)."""
    where = endpoint.host
    details: dict[str, Any] = {"host": where, "model": endpoint.model}
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeoutError(f"The model at {where} did not answer in time.", details=details)
    if isinstance(exc, openai.APIConnectionError):
        return ModelUnavailableError(f"The model at {where} could not be reached.", details=details)
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc, where, quote(_server_message(exc), secret), details)
    details["problem"] = quote(str(exc), secret)  # response validation, an undecodable or shapeless body
    return ModelUnavailableError(f"The model at {where} sent a malformed response.", details=details)


def _from_status(exc: openai.APIStatusError, where: str, said: str, details: dict[str, Any]) -> ModelError:
    status = exc.response.status_code
    details.update(status=status, endpoint_code=exc.code, endpoint_message=said)
    if status == 429:
        if exc.code == "insufficient_quota":
            return ModelRateLimitError(
                f"The model account at {where} has no quota left (HTTP 429): {said}", retryable=False, details=details
            )
        return ModelRateLimitError(f"The model at {where} is rate limiting requests (HTTP 429).", details=details)
    if status in (401, 403):
        return ModelAuthError(
            f"The model endpoint at {where} refused the API key (HTTP {status}): {said}. "
            "Check OPENAI_API_KEY and the model name.",
            details=details,
        )
    if status >= 500 and _is_request_validation_error(said):
        # llama-cpp-python answers a request its pydantic models refuse with HTTP 500: resending cannot help
        return ModelRequestError(f"The model at {where} rejected the request (HTTP {status}): {said}", details=details)
    if status in (408, 409) or status >= 500:
        return ModelUnavailableError(f"The model at {where} failed (HTTP {status}): {said}", details=details)
    code = "model_context_too_long" if _is_context_overflow(exc.code, said) else None
    return ModelRequestError(
        f"The model at {where} rejected the request (HTTP {status}): {said}", code=code, details=details
    )


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        return json.dumps(body, default=str)
    if isinstance(body, str) and body.strip():
        return body
    return exc.message


def _is_request_validation_error(message: str) -> bool:
    return "validation error" in message and "'body'" in message


def _is_context_overflow(code: str | None, message: str) -> bool:
    if code == "context_length_exceeded":
        return True
    lowered = message.lower()
    return "context" in lowered and ("exceed" in lowered or "too long" in lowered or "maximum" in lowered)

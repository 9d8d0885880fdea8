"""The model layer of the analyst agent: one client for any OpenAI-compatible endpoint, and the offline model.

    from tasks.analyst_agent.llm import ModelClient, resolve_endpoint

    with ModelClient(resolve_endpoint(), cancel_event=ctx.cancel_event) as model:
        reply = model.chat(messages, response_format=Plan)      # reply.parsed is a validated Plan
        metadata.set("usage", model.usage.snapshot())

Nothing heavy is imported here: the offline server (`local_server`) loads only when it is needed.
"""

from tasks.analyst_agent.llm.backoff import RetryPolicy
from tasks.analyst_agent.llm.client import ModelClient
from tasks.analyst_agent.llm.endpoint import Endpoint, resolve_endpoint, uses_remote_endpoint
from tasks.analyst_agent.llm.errors import (
    InvalidModelOutputError,
    LocalExtraMissingError,
    LocalModelError,
    LocalServerError,
    ModelAuthError,
    ModelCancelledError,
    ModelChecksumError,
    ModelConfigError,
    ModelError,
    ModelFilesMissingError,
    ModelRateLimitError,
    ModelRequestError,
    ModelTimeoutError,
    ModelUnavailableError,
)
from tasks.analyst_agent.llm.replies import ModelReply, ToolCall
from tasks.analyst_agent.llm.structured import response_format_for
from tasks.analyst_agent.llm.usage import ModelUsage

__all__ = [
    "Endpoint",
    "InvalidModelOutputError",
    "LocalExtraMissingError",
    "LocalModelError",
    "LocalServerError",
    "ModelAuthError",
    "ModelCancelledError",
    "ModelChecksumError",
    "ModelClient",
    "ModelConfigError",
    "ModelError",
    "ModelFilesMissingError",
    "ModelRateLimitError",
    "ModelReply",
    "ModelRequestError",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "ModelUsage",
    "RetryPolicy",
    "ToolCall",
    "resolve_endpoint",
    "response_format_for",
    "uses_remote_endpoint",
]

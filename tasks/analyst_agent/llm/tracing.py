"""The span of one request to the model, with OpenTelemetry's `gen_ai.*` attributes (model, tokens, finish reasons).

Through the runtime's tracing (runtime/tracing.py), so it is there exactly when runs are traced and costs nothing
otherwise. Prompts and replies are not attached: they hold the user's question and the source's data.
"""

from __future__ import annotations

from typing import Any, Mapping

from runtime import tracing

#: the API the client speaks (any OpenAI-compatible endpoint, the local llama-cpp-python server included)
GEN_AI_SYSTEM = "openai"
OPERATION = "chat"


def model_call_span(model: str, host: str, request: Mapping[str, Any]) -> Any:
    """A context manager around one HTTP request to the model; yields the span (None when tracing is off)."""
    if not tracing.enabled():
        return tracing.span(OPERATION)  # the shared no-op
    address, _, port = host.rpartition(":") if ":" in host else (host, "", "")
    attributes = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.system": GEN_AI_SYSTEM,
        "gen_ai.request.model": model,
        "gen_ai.request.temperature": request.get("temperature"),
        "gen_ai.request.max_tokens": request.get("max_tokens"),
        "gen_ai.request.seed": request.get("seed"),
        "server.address": address,
        "server.port": int(port) if port.isdigit() else None,
    }
    # describe_errors=False: an endpoint's error text can quote the request; the error's type says enough
    return tracing.span(f"{OPERATION} {model}", kind="CLIENT", attributes=attributes, describe_errors=False)


def record_completion(span: Any, completion: Any) -> None:
    """The response's model, id, finish reasons and token counts on the span."""
    if span is None:
        return
    usage = getattr(completion, "usage", None)
    values = {
        "gen_ai.response.model": getattr(completion, "model", None),
        "gen_ai.response.id": getattr(completion, "id", None),
        "gen_ai.usage.input_tokens": getattr(usage, "prompt_tokens", None),
        "gen_ai.usage.output_tokens": getattr(usage, "completion_tokens", None),
    }
    for key, value in values.items():
        if value is not None:
            span.set_attribute(key, value)
    reasons = [choice.finish_reason for choice in getattr(completion, "choices", None) or () if choice.finish_reason]
    if reasons:
        span.set_attribute("gen_ai.response.finish_reasons", reasons)

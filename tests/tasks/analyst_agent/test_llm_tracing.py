"""A span per request to the model (issue 13 §2), with the `gen_ai.*` attributes, against the scripted model server:
model, tokens, finish reasons; a failed request is its own error span; no prompt, reply or API key in any span."""

from __future__ import annotations

import json

from opentelemetry.trace import SpanKind, StatusCode

from tasks.analyst_agent.llm import ModelClient, RetryPolicy
from tests.tasks.analyst_agent.scripted_model import Error, Reply, ScriptedModel
from tests.tracing_support import Spans, spans  # noqa: F401 - fixture

API_KEY = "sk-test-TRACEKEY-0987654321fedcba"
QUESTION = "Which channel brought the most revenue in ZQ-PRIVATE-REGION?"
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02)


def _everything(span) -> str:
    return json.dumps({"attributes": dict(span.attributes), "events": [dict(e.attributes) for e in span.events], "status": span.status.description}, default=str)


def test_a_model_call_span_carries_gen_ai_attributes(spans: Spans, scripted_model: ScriptedModel) -> None:
    scripted_model.add(Reply(content="Paid search.", prompt_tokens=120, completion_tokens=9))
    with ModelClient(scripted_model.endpoint(api_key=API_KEY), retry=FAST) as client:
        client.chat([{"role": "user", "content": QUESTION}], temperature=0.2, max_tokens=64)
    (span,) = spans.all()
    assert span.name == "chat scripted-model"
    assert span.kind is SpanKind.CLIENT
    attributes = span.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.system"] == "openai"
    assert attributes["gen_ai.request.model"] == "scripted-model"
    assert attributes["gen_ai.response.model"] == "scripted-model"
    assert attributes["gen_ai.usage.input_tokens"] == 120
    assert attributes["gen_ai.usage.output_tokens"] == 9
    assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert (attributes["gen_ai.request.temperature"], attributes["gen_ai.request.max_tokens"]) == (0.2, 64)
    assert attributes["server.address"] == "127.0.0.1" and attributes["server.port"] == scripted_model.port
    assert span.status.status_code is not StatusCode.ERROR
    assert QUESTION not in _everything(span) and "Paid search" not in _everything(span) and API_KEY not in _everything(span)


def test_a_retried_model_call_gives_an_error_span_then_a_good_one(spans: Spans, scripted_model: ScriptedModel) -> None:
    scripted_model.add(Error(503, message=f"upstream down, key {API_KEY}"), Reply(content="ok", prompt_tokens=5, completion_tokens=1))
    with ModelClient(scripted_model.endpoint(api_key=API_KEY), retry=FAST) as client:
        client.chat([{"role": "user", "content": QUESTION}])
    failed, succeeded = sorted(spans.all(), key=lambda s: s.start_time)
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "InternalServerError"
    assert "gen_ai.usage.input_tokens" not in failed.attributes
    assert succeeded.attributes["gen_ai.usage.input_tokens"] == 5
    assert API_KEY not in _everything(failed) + _everything(succeeded)


def test_untraced_model_calls_make_no_spans(scripted_model: ScriptedModel) -> None:
    from tests.tracing_support import _EXPORTER, provider

    provider()
    scripted_model.add(Reply(content="ok"))
    with ModelClient(scripted_model.endpoint(api_key=API_KEY), retry=FAST) as client:
        assert client.chat([{"role": "user", "content": QUESTION}]).content == "ok"
    assert _EXPORTER.get_finished_spans() == ()

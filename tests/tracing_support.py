"""One in-memory OpenTelemetry set-up for every tracing test of the session, switched on per test by `spans`.

OpenTelemetry lets a process set its global provider once, so this module sets it the first time a test asks, with a
sampler that drops everything unless a test is recording: the other tests keep running untraced in the same process.
The runtime is pointed at the same provider by `runtime.tracing.use_tracer_provider`; the connectors find it through
the API's global provider, as they do in production.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Sequence

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

from runtime import tracing


class _Switch(Sampler):
    """Records while `on` (a test holds the `spans` fixture), drops otherwise."""

    on = False

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None, attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE if self.on else Decision.DROP, attributes)

    def get_description(self) -> str:
        return "tests.tracing_support switch"


_SWITCH = _Switch()
_EXPORTER = InMemorySpanExporter()
_PROVIDER: TracerProvider | None = None


def provider() -> TracerProvider:
    global _PROVIDER
    if _PROVIDER is None:
        _PROVIDER = TracerProvider(sampler=_SWITCH)
        _PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(_PROVIDER)
    return _PROVIDER


class Spans:
    """The finished spans of the running test."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> Sequence[ReadableSpan]:
        return self.exporter.get_finished_spans()

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.all() if span.name == name]

    def wait_for(self, found: Callable[[Sequence[ReadableSpan]], bool], timeout: float = 10.0) -> Sequence[ReadableSpan]:
        """The spans once `found(spans)` holds (a worker thread may still be ending its spans when a run is final)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.all()
            if found(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.02)

    def children_of(self, parent: ReadableSpan) -> list[ReadableSpan]:
        return [span for span in self.all() if span.parent is not None and span.parent.span_id == parent.context.span_id]


@pytest.fixture
def spans() -> Iterator[Spans]:
    """Tracing on (runtime and connectors) for this test, every finished span kept in memory."""
    tracing.use_tracer_provider(provider())
    _EXPORTER.clear()
    _SWITCH.on = True
    try:
        yield Spans(_EXPORTER)
    finally:
        _SWITCH.on = False
        tracing.disable()
        _EXPORTER.clear()


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")

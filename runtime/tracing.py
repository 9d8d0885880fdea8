"""OpenTelemetry traces of runs (run > attempt > step spans), off unless the standard `OTEL_*` variables ask for them.

Why a module of its own: every `ctx.step` and every log line passes through here, so when tracing is off that must
cost nothing. The decision is taken once, at import, from the environment; while it is off no OpenTelemetry package is
imported and every function below returns a shared constant (`None`, or one reused `nullcontext`). Only when it is on
does this module import the SDK and the OTLP/HTTP exporter (the `otel` extra).

It is on when `OTEL_TRACES_EXPORTER` names `otlp` or `console`, or when an OTLP endpoint is set
(`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `OTEL_SDK_DISABLED=true` or
`OTEL_TRACES_EXPORTER=none` keep it off. Everything else (headers, sampler, batch sizes, resource attributes, service
name) is read by the SDK from its own standard variables. A process that set up OpenTelemetry itself hands its
provider over with `use_tracer_provider`.

Span attributes never carry a secret: errors are described by their type and by a message redacted with the run's
secrets (the same text the run stores), and payloads, outputs and log text are not attached at all.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from types import SimpleNamespace
from typing import Any, Literal, Mapping

from runtime.redaction import redact_text

log = logging.getLogger("taskpack")

TRACER_NAME = "taskpack.runtime"
DEFAULT_SERVICE_NAME = "taskpack"
#: the run option in which a trigger hands the caller's W3C trace context (traceparent, tracestate) to the worker
TRACE_CONTEXT_OPTION = "trace_context"
_W3C_HEADERS = ("traceparent", "tracestate")
MAX_ERROR_MESSAGE_CHARS = 500
SUPPORTED_EXPORTERS = ("otlp", "console")

# Entering it allocates nothing, so a `with` on the off path costs two method calls.
_OFF = contextlib.nullcontext()

# While tracing is on: the Tracer, and the opentelemetry modules the hot path needs (imported once, at set-up).
_tracer: Any = None
_otel: Any = None


class TracingConfigError(ValueError):
    """The OTEL_* variables ask for something this process cannot do (an unknown exporter, a missing package)."""


# -- configuration -----------------------------------------------------------------------------------------------------
def exporters_from_env(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The span exporters the environment asks for; () means tracing stays off. Raises TracingConfigError."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named:
        exporters = tuple(dict.fromkeys(part.strip() for part in named.split(",") if part.strip()))
        if exporters == ("none",):
            return ()
        unknown = [name for name in exporters if name not in SUPPORTED_EXPORTERS]
        if unknown:
            raise TracingConfigError(
                f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not supported here (use {' or '.join(SUPPORTED_EXPORTERS)}, or none)"
            )
        return exporters
    if environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return ("otlp",)
    return ()


def _otlp_exporter(environ: Mapping[str, str]) -> Any:
    protocol = (environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip()
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, timeout, compression: from the OTEL_EXPORTER_OTLP_* variables
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        except ImportError:
            raise TracingConfigError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc; the otel extra ships http/protobuf"
            ) from None
        return GrpcExporter()
    raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported (use http/protobuf or grpc)")


def configure_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on as the OTEL_* variables say (True if it is now on). Raises TracingConfigError."""
    environ = os.environ if environ is None else environ
    exporters = exporters_from_env(environ)
    if not exporters:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as exc:
        raise TracingConfigError(
            f"the OTEL_* variables ask for traces but OpenTelemetry is not installed ({exc.name}): "
            "install analyst-taskpack[otel]"
        ) from None
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        # the process set up OpenTelemetry itself (an application embedding the runtime): use its provider
        use_tracer_provider(trace.get_tracer_provider())
        return True
    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # sampler from OTEL_TRACES_SAMPLER; shut down (flushed) at exit
    for name in exporters:
        exporter = _otlp_exporter(environ) if name == "otlp" else ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))  # OTEL_BSP_* tune it
    trace.set_tracer_provider(provider)
    use_tracer_provider(provider)
    return True


def use_tracer_provider(provider: Any = None) -> None:
    """Trace runs with `provider` (an opentelemetry TracerProvider; None: the global one), whatever the environment
    says: for applications and tests that set up OpenTelemetry themselves."""
    global _tracer, _otel
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if provider is None:
        provider = trace.get_tracer_provider()
    _otel = SimpleNamespace(trace=trace, context=context, w3c=TraceContextTextMapPropagator())
    _tracer = provider.get_tracer(TRACER_NAME)


def disable() -> None:
    """Stop tracing in this process (spans already started still end)."""
    global _tracer
    _tracer = None


def enabled() -> bool:
    return _tracer is not None


# -- spans -------------------------------------------------------------------------------------------------------------
class _Scope:
    """A started span made current until the `with` ends; an exception marks it ERROR by type (and, when
    `describe_errors`, the message redacted with the run's secrets), never with a stack or unredacted text."""

    __slots__ = ("span", "_token", "_describe")

    def __init__(self, span: Any, describe_errors: bool) -> None:
        self.span = span
        self._describe = describe_errors
        self._token: Any = None

    def __enter__(self) -> Any:
        self._token = _otel.context.attach(_otel.trace.set_span_in_context(self.span))
        return self.span

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            if exc is not None:
                mark_error(self.span, exc, describe=self._describe)
        finally:
            _otel.context.detach(self._token)
            self.span.end()


def mark_error(span: Any, exc: BaseException, *, describe: bool = True) -> None:
    """Status ERROR with the error's type; with `describe`, an `exception` event whose message is redacted."""
    if span is None or _otel is None:
        return
    from opentelemetry.trace import Status, StatusCode

    kind = type(exc).__qualname__
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))
    if describe:
        message = redact_text(str(exc))[:MAX_ERROR_MESSAGE_CHARS]
        span.add_event("exception", {"exception.type": kind, "exception.message": message})


SpanKindName = Literal["INTERNAL", "CLIENT", "SERVER", "PRODUCER", "CONSUMER"]


def span(name: str, *, kind: SpanKindName = "INTERNAL", attributes: Mapping[str, Any] | None = None, describe_errors: bool = True) -> Any:
    """A context manager running its body under a new current span (yields the span), or a no-op yielding None."""
    if _tracer is None:
        return _OFF
    span_kind = getattr(_otel.trace.SpanKind, kind)
    return _Scope(_tracer.start_span(name, kind=span_kind, attributes=_clean(attributes)), describe_errors)


def step_span(name: str) -> Any:
    """The span of one `ctx.step` (a step replayed from its record gets one too, a short one)."""
    if _tracer is None:
        return _OFF
    return _Scope(_tracer.start_span(f"step {name}", attributes={"taskpack.step.name": name}), True)


def attempt_span(ctx: Any) -> Any:
    """The span of one attempt: the task function, under the run span; `attempt_result` sets its outcome."""
    if _tracer is None:
        return _OFF
    attributes = {"taskpack.run.id": ctx.run_id, "taskpack.task.id": ctx.task_id, "taskpack.attempt": ctx.attempt}
    return _Scope(_tracer.start_span(f"attempt {ctx.task_id}", attributes=attributes), True)


def attempt_result(span: Any, kind: str, exc: BaseException | None = None) -> None:
    """Record how an attempt ended (ok, error, abort, timeout, canceled) on its span."""
    if span is None:
        return
    span.set_attribute("taskpack.attempt.outcome", kind)
    if kind in ("error", "abort", "timeout"):
        if exc is not None:
            mark_error(span, exc)
        else:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, kind))


def start_run(ctx: Any, options: Mapping[str, Any]) -> None:
    """Open the run span (as `ctx.trace`, made current): a child of the trigger's caller when the run options carry
    its traceparent, else the root of a new trace. `end_run` closes it."""
    if _tracer is None:
        return
    parent = None
    carrier = options.get(TRACE_CONTEXT_OPTION)
    if isinstance(carrier, dict):
        parent = _otel.w3c.extract({str(k): str(v) for k, v in carrier.items() if k in _W3C_HEADERS})
    attributes = {
        "taskpack.run.id": ctx.run_id,
        "taskpack.task.id": ctx.task_id,
        "taskpack.queue": ctx.queue,
        "taskpack.run.parent_id": ctx.parent_id,
        "taskpack.run.root_id": ctx.root_id,
        "taskpack.run.tags": list(ctx.tags) or None,
    }
    started = _tracer.start_span(f"run {ctx.task_id}", context=parent, kind=_otel.trace.SpanKind.CONSUMER, attributes=_clean(attributes))
    scope = _Scope(started, True)
    scope.__enter__()
    ctx.trace = scope


def run_outcome(ctx: Any, status: str, error_type: str | None = None) -> None:
    """Record the run's final status on its span (ERROR for FAILED, TIMED_OUT, EXPIRED)."""
    scope = getattr(ctx, "trace", None)
    if scope is None:
        return
    scope.span.set_attribute("taskpack.run.status", status)
    scope.span.set_attribute("taskpack.run.attempts", ctx.attempt)
    if error_type is not None:
        from opentelemetry.trace import Status, StatusCode

        scope.span.set_attribute("error.type", error_type)
        scope.span.set_status(Status(StatusCode.ERROR, f"{status}: {error_type}"))


def end_run(ctx: Any) -> None:
    scope = getattr(ctx, "trace", None)
    if scope is None:
        return
    ctx.trace = None
    scope.__exit__(None, None, None)


# -- propagation and log correlation ------------------------------------------------------------------------------------
def current_trace_context() -> dict[str, str] | None:
    """The W3C trace context (`traceparent`, maybe `tracestate`) of the caller's current span, for a trigger to store
    with the run; None when there is none. Works when the caller traces with its own OpenTelemetry set-up too."""
    if _tracer is None:
        if "opentelemetry.trace" not in sys.modules:  # nobody in this process traces: nothing to carry
            return None
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        w3c = TraceContextTextMapPropagator()
    else:
        w3c = _otel.w3c
    carrier: dict[str, str] = {}
    w3c.inject(carrier)  # W3C whatever OTEL_PROPAGATORS says: the worker reads it back in this one format
    if "traceparent" not in carrier:
        return None
    # only the W3C trace context is stored with the run: baggage (application data) is not the runtime's to keep
    return {key: carrier[key] for key in _W3C_HEADERS if key in carrier}


def log_ids() -> dict[str, str] | None:
    """{"trace_id", "span_id"} of the current span (hex, as OTLP and log back-ends show them); None when off."""
    if _tracer is None:
        return None
    context = _otel.trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def force_flush(timeout_ms: int = 10_000) -> bool:
    """Export every finished span now (a short-lived process before it exits; tests)."""
    if _otel is None:
        return True
    provider = _otel.trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", None)
    return bool(flush(timeout_ms)) if flush is not None else True


def _clean(attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Attributes without None values (OpenTelemetry refuses them)."""
    if not attributes:
        return None
    return {key: value for key, value in attributes.items() if value is not None}


try:
    configure_from_env()
except TracingConfigError as _error:
    # Tracing must never stop runs from running: the process works untraced and says why, loudly, once.
    log.error("tracing is off: %s", _error)

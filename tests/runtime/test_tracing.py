"""Traces of runs (issue 13 §2): run > attempt > step spans, retries, log correlation, a trigger from another process
continuing its caller's trace, a real OTLP/HTTP receiver fed from the OTEL_* variables alone, and nothing of
OpenTelemetry imported when those variables are unset."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind, StatusCode

from runtime import RunStatus, Worker, runs, tasks, tracing
from tests.runtime import traced_tasks
from tests.runtime.conftest import fresh_database
from tests.tracing_support import Spans, hex_ids, spans  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[str]:
    with fresh_database("sqlite", tmp_path) as url:
        yield url


def _worker(url: str) -> Worker:
    return Worker(database_url=url, tasks=[traced_tasks], concurrency=2, heartbeat_interval=0.5, dead_worker_after=3)


def _run_tree(spans: Spans, task_id: str, steps: int) -> tuple[Any, list[Any], list[Any]]:
    """(run span, its attempt spans, their step spans) once the worker has ended them all."""
    name = f"run {task_id}"
    found = spans.wait_for(lambda all_: any(s.name == name for s in all_) and sum(s.name.startswith("step ") for s in all_) >= steps)
    (run_span,) = [s for s in found if s.name == name]
    attempts = spans.children_of(run_span)
    step_spans = [child for attempt in attempts for child in spans.children_of(attempt)]
    return run_span, attempts, step_spans


def test_a_two_step_run_gives_run_attempt_and_step_spans_with_their_parents(spans: Spans, db_url: str) -> None:
    with _worker(db_url):
        run = runs.wait(tasks.trigger("tr-two-steps", {"n": 4}).id, timeout=30)
    assert run.status is RunStatus.COMPLETED and run.output == 50
    run_span, attempts, steps = _run_tree(spans, "tr-two-steps", 2)
    assert run_span.parent is None  # nobody traced the trigger: the run starts its own trace
    assert run_span.kind is SpanKind.CONSUMER
    assert run_span.attributes["taskpack.run.id"] == run.id
    assert run_span.attributes["taskpack.task.id"] == "tr-two-steps"
    assert run_span.attributes["taskpack.run.status"] == "COMPLETED"
    assert run_span.status.status_code is not StatusCode.ERROR
    assert [a.name for a in attempts] == ["attempt tr-two-steps"]
    assert attempts[0].attributes["taskpack.attempt"] == 1
    assert attempts[0].attributes["taskpack.attempt.outcome"] == "ok"
    assert sorted(s.name for s in steps) == ["step first", "step second"]
    assert {s.context.trace_id for s in [run_span, *attempts, *steps]} == {run_span.context.trace_id}
    first, second = sorted(steps, key=lambda s: s.start_time)
    assert first.end_time <= second.start_time and run_span.start_time <= first.start_time and second.end_time <= run_span.end_time


def test_a_retried_run_has_two_attempt_spans_the_first_an_error_without_the_secret(spans: Spans, sqlite_db: str) -> None:
    secret = "s3cr3t-value-for-the-span"
    with _worker(sqlite_db):
        run = runs.wait(tasks.trigger("tr-fails-once", {"secret": secret}).id, timeout=30)
    assert run.status is RunStatus.COMPLETED and run.attempts == 2
    run_span, attempts, steps = _run_tree(spans, "tr-fails-once", 1)
    attempts.sort(key=lambda s: s.attributes["taskpack.attempt"])
    assert [a.attributes["taskpack.attempt"] for a in attempts] == [1, 2]
    assert [a.attributes["taskpack.attempt.outcome"] for a in attempts] == ["error", "ok"]
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert attempts[0].attributes["error.type"] == "RuntimeError"
    (event,) = [e for e in attempts[0].events if e.name == "exception"]
    assert "planned failure carrying" in event.attributes["exception.message"]
    assert [s.name for s in spans.children_of(attempts[1])] == ["step after-retry"]
    assert spans.children_of(attempts[0]) == []
    everything = json.dumps([{**s.attributes, "events": [dict(e.attributes) for e in s.events]} for s in spans.all()], default=str)
    assert secret not in everything
    # the runtime's own log line about the retry names the trace too, so it can be found from the failed attempt
    (retrying,) = [e for e in runs.logs(run.id, database_url=sqlite_db) if e.message == "attempt failed, retrying"]
    assert retrying.fields["trace_id"] == hex_ids(run_span)[0] and len(retrying.fields["span_id"]) == 16


def test_an_async_run_traces_its_steps_under_its_attempt(spans: Spans, sqlite_db: str) -> None:
    with _worker(sqlite_db):
        run = runs.wait(tasks.trigger("tr-async-two-steps").id, timeout=30)
    assert run.status is RunStatus.COMPLETED and run.output == 8
    _, attempts, steps = _run_tree(spans, "tr-async-two-steps", 2)
    assert len(attempts) == 1
    assert sorted(s.name for s in steps) == ["step a-first", "step a-second"]


def test_a_child_run_continues_its_parents_trace_under_the_triggering_attempt(spans: Spans, sqlite_db: str) -> None:
    with _worker(sqlite_db):
        run = runs.wait(tasks.trigger("tr-parent").id, timeout=60)
    assert run.status is RunStatus.COMPLETED and run.output == 20
    found = spans.wait_for(lambda all_: len([s for s in all_ if s.name.startswith("run ")]) == 2)
    (parent_run,) = [s for s in found if s.name == "run tr-parent"]
    (child_run,) = [s for s in found if s.name == "run tr-two-steps"]
    (parent_attempt,) = spans.children_of(parent_run)
    assert child_run.context.trace_id == parent_run.context.trace_id
    assert child_run.parent.span_id == parent_attempt.context.span_id
    assert child_run.attributes["taskpack.run.parent_id"] == run.id


def test_log_lines_carry_the_trace_and_span_of_where_they_were_written(spans: Spans, sqlite_db: str) -> None:
    with _worker(sqlite_db):
        run = runs.wait(tasks.trigger("tr-two-steps", {"n": 1}).id, timeout=30)
        logs = {entry.message: entry.fields for entry in runs.logs(run.id)}
    run_span, attempts, steps = _run_tree(spans, "tr-two-steps", 2)
    (first,) = [s for s in steps if s.name == "step first"]
    trace_id = hex_ids(run_span)[0]
    assert (logs["inside the first step"]["trace_id"], logs["inside the first step"]["span_id"]) == hex_ids(first)
    assert (logs["between the steps"]["trace_id"], logs["between the steps"]["span_id"]) == hex_ids(attempts[0])
    assert logs["inside the first step"]["value"] == 1
    assert {fields["trace_id"] for fields in logs.values() if "trace_id" in fields} == {trace_id}


def test_log_records_carry_trace_ids_for_python_logging_too(spans: Spans, sqlite_db: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="taskpack.task"), _worker(sqlite_db):
        runs.wait(tasks.trigger("tr-two-steps", {"n": 1}).id, timeout=30)
    run_span, _, _ = _run_tree(spans, "tr-two-steps", 2)
    records = [r for r in caplog.records if r.name == "taskpack.task" and "between the steps" in r.getMessage()]
    assert records and records[0].trace_id == hex_ids(run_span)[0]
    assert len(records[0].span_id) == 16


def test_untraced_runs_store_no_trace_fields(sqlite_db: str) -> None:
    assert not tracing.enabled()
    with _worker(sqlite_db):
        run = runs.wait(tasks.trigger("tr-two-steps", {"n": 1}).id, timeout=30)
        logs = runs.logs(run.id)
    assert logs and all("trace_id" not in entry.fields for entry in logs)


_CALLER = """
import json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())
from runtime import tasks
with trace.get_tracer("caller").start_as_current_span("caller") as span:
    handle = tasks.trigger("tr-two-steps", {"n": 2}, database_url=sys.argv[1])
ids = span.get_span_context()
print(json.dumps({"run": handle.id, "trace_id": format(ids.trace_id, "032x"), "span_id": format(ids.span_id, "016x")}))
"""


def _env_without_otel() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_a_trigger_from_another_process_continues_the_callers_trace(spans: Spans, sqlite_db: str) -> None:
    with _worker(sqlite_db):  # started first: it publishes the task the caller triggers by id
        done = subprocess.run([sys.executable, "-c", _CALLER, sqlite_db], capture_output=True, text=True, timeout=120, env=_env_without_otel(), cwd=ROOT)
        assert done.returncode == 0, done.stderr[-2000:]
        caller = json.loads(done.stdout.strip().splitlines()[-1])
        run = runs.wait(caller["run"], timeout=30)
    assert run.status is RunStatus.COMPLETED
    run_span, attempts, steps = _run_tree(spans, "tr-two-steps", 2)
    assert hex_ids(run_span)[0] == caller["trace_id"]
    assert run_span.parent is not None and format(run_span.parent.span_id, "016x") == caller["span_id"]
    assert run_span.parent.is_remote
    assert {hex_ids(s)[0] for s in [*attempts, *steps]} == {caller["trace_id"]}


# -- the real exporter, configured by the environment alone ------------------------------------------------------------
class _Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP collector in the test process: keeps every ExportTraceServiceRequest POSTed to /v1/traces."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        self.server.paths.append(self.path)
        if self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/x-protobuf":
            message = ExportTraceServiceRequest()
            message.ParseFromString(body)
            self.server.requests.append(message)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


_TRACED_WORKER = """
import sys
from runtime import Worker, runs, tasks, tracing
from tests.runtime import traced_tasks
assert tracing.enabled(), "the OTEL_* variables did not turn tracing on"
with Worker(database_url=sys.argv[1], tasks=[traced_tasks], concurrency=2, heartbeat_interval=0.5, dead_worker_after=3):
    run = runs.wait(tasks.trigger("tr-two-steps", {"n": 3}).id, timeout=60)
print(run.id, run.status.value)
"""


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_spans_reach_a_real_otlp_http_receiver_configured_by_otel_variables_only(receiver: _Receiver, sqlite_db: str) -> None:
    env = _env_without_otel()
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{receiver.server_address[1]}"
    env["OTEL_SERVICE_NAME"] = "taskpack-test-worker"
    env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    done = subprocess.run([sys.executable, "-c", _TRACED_WORKER, sqlite_db], capture_output=True, text=True, timeout=180, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id, status = done.stdout.split()[-2:]
    assert status == "COMPLETED"
    # the process flushed its spans on exit (the SDK's shutdown), so they are all here now
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    received = [
        (resource_spans.resource, span)
        for request in receiver.requests
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    by_name = {span.name: (resource, span) for resource, span in received}
    assert {"run tr-two-steps", "attempt tr-two-steps", "step first", "step second"} <= set(by_name)
    resource, run_span = by_name["run tr-two-steps"]
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "taskpack-test-worker"
    assert {a.key: a.value.string_value for a in run_span.attributes}["taskpack.run.id"] == run_id
    attempt = by_name["attempt tr-two-steps"][1]
    assert attempt.parent_span_id == run_span.span_id
    assert by_name["step first"][1].parent_span_id == attempt.span_id
    assert {span.trace_id for _, span in received if span.name != "run tr-two-steps" or span is run_span} == {run_span.trace_id}


_UNTRACED_RUN = """
import sys
from runtime import Worker, runs, tasks
from tests.runtime import traced_tasks
with Worker(database_url=sys.argv[1], tasks=[traced_tasks], concurrency=2, heartbeat_interval=0.5, dead_worker_after=3):
    run = runs.wait(tasks.trigger("tr-two-steps", {"n": 3}).id, timeout=60)
import connectors, tasks.analyst_agent.llm.client  # the other places that trace
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "opentelemetry")
print(run.status.value, ",".join(loaded) or "-")
"""


def test_with_otel_variables_unset_a_run_imports_nothing_of_opentelemetry(sqlite_db: str) -> None:
    done = subprocess.run([sys.executable, "-c", _UNTRACED_RUN, sqlite_db], capture_output=True, text=True, timeout=180, env=_env_without_otel(), cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    status, loaded = done.stdout.split()[-2:]
    assert status == "COMPLETED"
    assert loaded == "-", f"imported without OTEL_* set: {loaded}"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ()),
        ({"OTEL_SERVICE_NAME": "x"}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "console,otlp"}, ("console", "otlp")),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ()),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, ()),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
    ],
)
def test_which_variables_turn_tracing_on(environ: dict[str, str], expected: tuple[str, ...]) -> None:
    assert tracing.exporters_from_env(environ) == expected


def test_an_exporter_it_cannot_provide_is_a_clear_config_error() -> None:
    with pytest.raises(tracing.TracingConfigError, match="zipkin"):
        tracing.exporters_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(tracing.TracingConfigError, match="http/json"):
        tracing._otlp_exporter({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})


def test_a_process_asked_for_an_unknown_exporter_says_so_and_runs_untraced() -> None:
    env = {**_env_without_otel(), "OTEL_TRACES_EXPORTER": "zipkin"}
    code = "from runtime import tracing; print(tracing.enabled())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "False"
    assert "tracing is off: OTEL_TRACES_EXPORTER: zipkin is not supported" in done.stderr


def test_the_off_path_hands_out_shared_constants() -> None:
    """Off, a step's span, an attempt's span and a log line's ids are the same no-op objects every time: nothing is
    built per call (bench/tracing_bench.py measures what that costs)."""
    assert not tracing.enabled()
    assert tracing.step_span("a") is tracing.step_span("b") is tracing.span("x")
    assert tracing.log_ids() is None
    with tracing.step_span("a") as inside:
        assert inside is None

"""How one run executes inside a DBOS workflow: attempts, retries, hooks, max_duration, cancel, outcome.

Each task becomes one DBOS workflow named `taskpack:<task id>`; a run is one execution of it whose workflow id is the
run id. Attempts are a loop inside the workflow; the delay between them is a durable DBOS sleep, and `ctx.step`
calls are DBOS steps, so a run resumed after a crash skips the steps it already finished.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Generator, Union

from pydantic import ValidationError

from runtime import attempt_threads, tracing, wakeups
from runtime import dbos_adapter as dbos
from runtime.backend import get_backend
from runtime.context import TaskContext, _current, register_running, running, unregister_running
from runtime.definitions import Task, describe_validation_error
from runtime.errors import AbortTaskRunError, RunError, RunFailed, SecretKeyError, TaskCancelledError
from runtime.models import RunStatus
from runtime.payload_schema import SchemaView
from runtime.registry import get_task
from runtime.redaction import collect_secrets, redact_text, reset_secrets, scrub_secrets, use_secrets
from runtime.retry import RetryDecision
from runtime.run_state import RunState, states
from runtime.sealing import open_envelopes

log = logging.getLogger("taskpack")

__all__ = ["CANCEL_GRACE_S", "ensure_workflow", "running"]

_registered: dict[str, Callable[..., Any]] = {}
_register_lock = threading.Lock()

CANCEL_GRACE_S = 0.5


@dataclass
class AttemptResult:
    kind: str  # ok | error | abort | timeout | canceled
    output: Any = None
    exc: BaseException | None = None


# -- registration ----------------------------------------------------------------------------------------------------
def ensure_workflow(definition: Task) -> None:
    """Register the task's DBOS workflow once per process (DBOS requires it before launch)."""
    with _register_lock:
        if definition.id in _registered:
            return
        task_id = definition.id
        if definition.is_async:

            async def run_async_workflow(payload: Any, options: dict[str, Any]) -> Any:
                return await _execute_async(task_id, payload, options)

            fn: Callable[..., Any] = run_async_workflow
        else:

            def run_sync_workflow(payload: Any, options: dict[str, Any]) -> Any:
                return _execute_sync(task_id, payload, options)

            fn = run_sync_workflow
        _registered[task_id] = dbos.register_workflow(task_id, fn)


# -- shared pieces ---------------------------------------------------------------------------------------------------
def _make_context(definition: Task, run_id: str, payload: Any, options: dict[str, Any]) -> TaskContext:
    backend = get_backend()
    state = RunState(backend.engine, run_id, options.get("metadata"))
    states.add(state)
    created = options.get("created_at")
    return TaskContext(
        run_id=run_id,
        task_id=definition.id,
        payload=payload,
        attempt=1,
        max_attempts=int(options.get("max_attempts") or definition.retry.max_attempts),
        max_duration=float(options.get("max_duration") or definition.max_duration),
        tags=list(options.get("tags") or []),
        queue=options.get("queue"),
        machine=definition.machine,
        parent_id=options.get("parent_id"),
        root_id=options.get("root_id"),
        created_at=datetime.fromtimestamp(created, timezone.utc) if created else None,
        state=state,
        # The run's own secrets: what its payload holds under secret names or SecretStr fields; ctx.redact adds more.
        secrets=collect_secrets(payload, SchemaView.of(definition.payload_schema)),
    )


def _set_attributes(run_id: str, attributes: dict[str, Any]) -> None:
    """Update the run's attributes without recording a step: status hints, safe to repeat on replay."""
    get_backend().dbos.set_attributes(run_id, attributes)


def _retry_delay(definition: Task, ctx: TaskContext, decision: RetryDecision | None) -> float:
    if decision is not None and decision.retry_at is not None:
        at = decision.retry_at if decision.retry_at.tzinfo else decision.retry_at.replace(tzinfo=timezone.utc)
        return max(0.0, at.timestamp() - time.time())
    if decision is not None and decision.retry_delay is not None:
        return decision.retry_delay
    # Seeded by run and attempt: a replayed workflow computes the same jitter.
    seed = int.from_bytes(hashlib.sha256(f"{ctx.run_id}:{ctx.attempt}".encode()).digest()[:8], "big")
    return definition.retry.delay(ctx.attempt, random.Random(seed))


def _classify(exc: BaseException, ctx: TaskContext) -> AttemptResult:
    if isinstance(exc, (TaskCancelledError, asyncio.CancelledError)) or ctx.is_cancelled:
        return AttemptResult("timeout" if ctx.cancel_reason == "timeout" else "canceled", exc=exc)
    if isinstance(exc, AbortTaskRunError):
        return AttemptResult("abort", exc=exc)
    return AttemptResult("error", exc=exc)


def _log_hook_failure(ctx: TaskContext, hook: str, exc: BaseException) -> None:
    message = redact_text(str(exc), ctx.secrets)
    ctx.state.logs.add("error", f"{hook} hook failed", {"error": type(exc).__name__, "message": message}, ctx.attempt)
    log.warning("run %s: %s hook failed: %s", ctx.run_id, hook, exc)


def _call_hook_sync(ctx: TaskContext, name: str, hook: Callable[..., Any] | None, *args: Any) -> Any:
    if hook is None:
        return None
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return result
    except Exception as exc:
        _log_hook_failure(ctx, name, exc)
        return None


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def _call_hook_async(ctx: TaskContext, name: str, hook: Callable[..., Any] | None, *args: Any) -> Any:
    if hook is None:
        return None
    try:
        result = hook(*args)
        if inspect.isawaitable(result):
            result = await result
        return result
    except Exception as exc:
        _log_hook_failure(ctx, name, exc)
        return None


def _decide(definition: Task, payload: Any, ctx: TaskContext, result: AttemptResult, decision: RetryDecision | None) -> str:
    """'retry' or the terminal status for a failed attempt."""
    if result.kind == "timeout":
        return RunStatus.TIMED_OUT.value
    if result.kind == "abort" or ctx.attempt >= ctx.max_attempts or (decision is not None and decision.skip_retry):
        return RunStatus.FAILED.value
    return "retry"


def _check_expired(expires_at: float) -> bool:
    return time.time() > expires_at


# -- sync runs -------------------------------------------------------------------------------------------------------
def _attempt_sync(definition: Task, payload: Any, ctx: TaskContext) -> AttemptResult:
    """Run one attempt in a thread of its own (runtime/attempt_threads.py) so max_duration and cancel can stop waiting
    for it.

    Python cannot kill a thread: on timeout or cancel the thread is signalled (ctx.cancel_event, on_cancel callbacks
    such as a connector's server-side cancel, TaskCancelledError at the next step) and then abandoned.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["out"] = definition.fn(payload, ctx) if definition.takes_ctx else definition.fn(payload)
        except BaseException as exc:  # noqa: BLE001 - everything is reported as the attempt's outcome
            box["exc"] = exc
        box["finished_at"] = time.monotonic()

    deadline = time.monotonic() + ctx.max_duration
    done = attempt_threads.start(target, f"taskpack-{ctx.run_id}-{ctx.attempt}")
    while not done.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            ctx.signal_cancel("timeout")
        if ctx.is_cancelled:
            done.wait(CANCEL_GRACE_S)
            return AttemptResult("timeout" if ctx.cancel_reason == "timeout" else "canceled")
        done.wait(min(0.05, max(remaining, 0.001)))
    if box.get("finished_at", deadline) > deadline and not ctx.is_cancelled:
        # it ended past max_duration while this loop was not scheduled (a loaded machine): still a timeout, so the
        # outcome depends on how long the attempt took, not on when the watcher happened to look
        ctx.signal_cancel("timeout")
        return AttemptResult("timeout")
    if "exc" in box:
        return _classify(box["exc"], ctx)
    if ctx.is_cancelled:
        return AttemptResult("timeout" if ctx.cancel_reason == "timeout" else "canceled")
    return AttemptResult("ok", output=box.get("out"))


# -- the run, written once ----------------------------------------------------------------------------------------
# The life of a run is one generator that yields what it needs done and returns how the run ends; a sync and an async
# driver carry the effects out (DBOS steps and sleeps, attempts, hooks, database calls) in their own way, then
# conclude the run. The policy lives in one place.
@dataclass(frozen=True)
class Step:
    """Call `fn(*args)` as a recorded step: a resumed run gets the recorded result back instead of calling again."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class HookStep:
    """Call a hook once per run (on_start, on_success, on_failure), recorded as a step; a failing hook is logged."""

    hook: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Hook:
    """Call a hook at every attempt (cleanup, catch_error), not recorded; its result goes back to the plan."""

    hook: str
    fn: Callable[..., Any] | None
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Attempt:
    """Run the task function once under max_duration and cancel; the plan receives an AttemptResult."""

    payload: Any


@dataclass(frozen=True)
class Sleep:
    """A durable sleep (between attempts): a resumed run sleeps only what is left."""

    seconds: float


@dataclass(frozen=True)
class Call:
    """Blocking work on the runtime's database (flushing logs, setting attributes): off the event loop when async."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]


Effect = Union[Step, HookStep, Hook, Attempt, Sleep, Call]


@dataclass(frozen=True)
class Completed:
    output: Any


@dataclass(frozen=True)
class Canceled:
    pass


@dataclass(frozen=True)
class Failed:
    """A terminal failure: FAILED, TIMED_OUT or EXPIRED, with the error the run keeps."""

    status: str
    error: RunError


RunEnd = Union[Completed, Canceled, Failed]


def _run_plan(definition: Task, payload: Any, options: dict[str, Any], ctx: TaskContext) -> Generator[Effect, Any, RunEnd]:
    expires_at = options.get("expires_at")
    if expires_at is not None and (yield Step("taskpack.check_ttl", _check_expired, (float(expires_at),))):
        return Failed(RunStatus.EXPIRED.value, RunError(type="RunExpired", message="the run was not started before its ttl"))
    try:
        payload = _opened(definition, payload, ctx)
    except SecretKeyError as exc:  # no key, or not the one that sealed the payload: retrying cannot help
        return Failed(RunStatus.FAILED.value, RunError(type=type(exc).__name__, message=exc.message, code="SECRET_UNREADABLE", retryable=False))
    try:
        parsed = definition.parse_payload(payload)
    except ValidationError as exc:
        return Failed(RunStatus.FAILED.value, RunError(type="PayloadValidationError", message=redact_text(describe_validation_error(exc), ctx.secrets)))
    ctx.secrets.add_model_secrets(parsed)  # SecretStr values as validated (a key given as an object becomes text)
    if definition.on_start is not None:
        yield HookStep("on_start", definition.on_start, (parsed, ctx))
    attempt = 1
    while True:
        ctx._new_attempt(attempt)
        if attempt > 1:
            yield Call(_set_attributes, (ctx.run_id, {"attempt": attempt}))
        result = yield Attempt(parsed)
        yield Hook("cleanup", definition.cleanup, (parsed, ctx))
        if result.kind == "ok":
            if definition.on_success is not None:
                yield HookStep("on_success", definition.on_success, (parsed, result.output, ctx))
            yield Call(_flush, (ctx,))
            return Completed(scrub_secrets(result.output, ctx.secrets))  # the output is stored: not with this run's secrets
        if result.kind == "canceled":
            ctx.state.logs.add("warn", "run canceled", {}, attempt)
            yield Call(_flush, (ctx,))
            return Canceled()
        error = _error_of(result, ctx)
        decision = None
        if result.kind == "error" and definition.catch_error is not None:
            decision = RetryDecision.coerce((yield Hook("catch_error", definition.catch_error, (parsed, result.exc, ctx))))
        outcome = _decide(definition, parsed, ctx, result, decision)
        if outcome != "retry":
            if definition.on_failure is not None:
                yield HookStep("on_failure", definition.on_failure, (parsed, error, ctx))
            return Failed(outcome, error)
        delay = _retry_delay(definition, ctx, decision)
        ctx.state.logs.add("warn", "attempt failed, retrying", {"error": error.message, "delay_s": round(delay, 3)}, attempt)
        yield Call(_flush, (ctx,))
        yield Sleep(delay)
        attempt += 1


def _opened(definition: Task, payload: Any, ctx: TaskContext) -> Any:
    """The payload with its encrypted fields (runtime.sealing) decrypted, for this attempt's memory only: it is never
    handed to DBOS, and its secret values join the run's, so nothing the run stores or shows carries them."""
    opened = open_envelopes(payload, get_backend().keyring)
    if opened is not payload:
        ctx.payload = opened
        collect_secrets(opened, SchemaView.of(definition.payload_schema), into=ctx.secrets)
    return opened


def _begin(task_id: str, payload: Any, options: dict[str, Any]) -> tuple[Task, TaskContext, Any]:
    definition = _require_task(task_id)
    run_id = dbos.current_run_id()
    assert run_id is not None
    ctx = _make_context(definition, run_id, payload, options)
    if ctx.parent_id is not None:
        dbos.announce_end(run_id)  # its parent may be waiting in another worker process
    tokens = (_current.set(ctx), use_secrets(ctx.secrets))
    tracing.start_run(ctx, options)
    register_running(ctx)
    return definition, ctx, tokens


def _end(ctx: TaskContext, tokens: Any) -> None:
    unregister_running(ctx)
    tracing.end_run(ctx)
    _current.reset(tokens[0])
    reset_secrets(tokens[1])
    _flush(ctx)
    states.remove(ctx.run_id)
    dbos.code_returned(ctx.run_id)  # PostgreSQL: the next run's claim overlaps this one's outcome write
    wakeups.run_ended()  # waiters in this process look again now (runtime/wakeups.py)


def _execute_sync(task_id: str, payload: Any, options: dict[str, Any]) -> Any:
    definition, ctx, token = _begin(task_id, payload, options)
    plan = _run_plan(definition, payload, options, ctx)
    try:
        value: Any = None
        while True:
            try:
                effect = plan.send(value)
            except StopIteration as done:
                end: RunEnd = done.value
                break
            match effect:
                case Step(name, fn, args):
                    value = dbos.step(name, fn, *args)
                case HookStep(hook, fn, args):
                    value = dbos.step(f"taskpack.{hook}", _call_hook_sync, ctx, hook, fn, *args)
                case Hook(hook, fn, args):
                    value = _call_hook_sync(ctx, hook, fn, *args)
                case Attempt(parsed):
                    with tracing.attempt_span(ctx) as span:
                        value = _attempt_sync(definition, parsed, ctx)
                        tracing.attempt_result(span, value.kind, value.exc)
                case Sleep(seconds):
                    value = dbos.sleep(seconds)
                case Call(fn, args):
                    value = fn(*args)
        if isinstance(end, Failed):
            _record_failure(ctx, end)
        return _conclude(end, ctx)
    finally:
        plan.close()
        _end(ctx, token)


# -- async runs ------------------------------------------------------------------------------------------------------
async def _attempt_async(definition: Task, payload: Any, ctx: TaskContext) -> AttemptResult:
    call = definition.fn(payload, ctx) if definition.takes_ctx else definition.fn(payload)
    task = asyncio.ensure_future(call)
    ctx._loop = asyncio.get_running_loop()
    ctx._async_task = task
    if ctx.is_cancelled:
        task.cancel()
    done, _ = await asyncio.wait({task}, timeout=ctx.max_duration)
    if not done:
        ctx.signal_cancel("timeout")
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
        return AttemptResult("timeout")
    try:
        return AttemptResult("ok", output=task.result())
    except BaseException as exc:  # noqa: BLE001
        return _classify(exc, ctx)


async def _execute_async(task_id: str, payload: Any, options: dict[str, Any]) -> Any:
    definition, ctx, token = _begin(task_id, payload, options)
    plan = _run_plan(definition, payload, options, ctx)
    try:
        value: Any = None
        while True:
            try:
                effect = plan.send(value)
            except StopIteration as done:
                end: RunEnd = done.value
                break
            match effect:
                case Step(name, fn, args):
                    value = await dbos.step_async(name, fn, *args)
                case HookStep(hook, fn, args):
                    value = await dbos.step_async(f"taskpack.{hook}", _call_hook_async, ctx, hook, fn, *args)
                case Hook(hook, fn, args):
                    value = await _call_hook_async(ctx, hook, fn, *args)
                case Attempt(parsed):
                    with tracing.attempt_span(ctx) as span:
                        value = await _attempt_async(definition, parsed, ctx)
                        tracing.attempt_result(span, value.kind, value.exc)
                case Sleep(seconds):
                    value = await dbos.sleep_async(seconds)
                case Call(fn, args):  # blocking database work goes to a thread, off the event loop
                    value = await asyncio.to_thread(fn, *args)
        if isinstance(end, Failed):
            await asyncio.to_thread(_record_failure, ctx, end)
        return _conclude(end, ctx)
    finally:
        plan.close()
        await asyncio.to_thread(_flush, ctx)
        _end(ctx, token)


# -- endings ---------------------------------------------------------------------------------------------------------
def _require_task(task_id: str) -> Task:
    definition = get_task(task_id)
    if not isinstance(definition, Task):
        raise RuntimeError(f"task {task_id!r} is not loaded in this worker")
    return definition


def _error_of(result: AttemptResult, ctx: TaskContext) -> RunError:
    if result.kind == "timeout":
        return RunError(type="MaxDurationExceededError", message=f"attempt exceeded max_duration of {ctx.max_duration:g} s", code="MAX_DURATION_EXCEEDED")
    assert result.exc is not None
    return RunError.from_exception(result.exc)


def _record_failure(ctx: TaskContext, end: Failed) -> None:
    """Store a terminal failure: the log line, logs flushed, the `outcome` attribute the status reads."""
    ctx.state.logs.add("error", f"run {end.status.lower()}", {"error": end.error.message, "type": end.error.type}, ctx.attempt)
    _flush(ctx)
    _set_attributes(ctx.run_id, {"outcome": end.status, "attempt": ctx.attempt})


def _conclude(end: RunEnd, ctx: TaskContext) -> Any:
    """What the workflow returns for the run's end. A failure is raised (RunFailed): DBOS records a workflow that
    raises as ERROR with that error, which is how the run's status and error are kept."""
    if ctx.trace is not None:
        tracing.run_outcome(ctx, *_traced_outcome(end))
    match end:
        case Completed(output):
            return output
        case Canceled():
            return None
        case Failed(status, error):
            raise RunFailed(status, error.model_dump(), ctx.attempt)
    raise TypeError(f"unknown run end {end!r}")


def _traced_outcome(end: RunEnd) -> tuple[str, str | None]:
    """(status, error type) of a run's end, for its span."""
    if isinstance(end, Failed):
        return end.status, end.error.type
    return (RunStatus.COMPLETED.value if isinstance(end, Completed) else RunStatus.CANCELED.value), None


def _flush(ctx: TaskContext) -> None:
    try:
        ctx.state.flush()
    except Exception as exc:
        log.warning("run %s: flushing metadata/logs failed: %s", ctx.run_id, exc)

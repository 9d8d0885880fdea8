"""How one run executes inside a DBOS workflow: attempts, retries, hooks, max_duration, cancel, outcome.

Each task becomes one DBOS workflow named `taskpack:<task id>`; a run is one execution of it whose workflow id is the
run id. Attempts are a loop inside the workflow; the delay between them is a durable DBOS sleep, and `ctx.step`
calls are DBOS steps, so a run resumed after a crash skips the steps it already finished.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import inspect
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Generator

from dbos import DBOS
from pydantic import ValidationError

from runtime import wakeups
from runtime.backend import get_backend, workflow_name
from runtime.context import TaskContext, _current
from runtime.definitions import Task, describe_validation_error, get_task
from runtime.errors import AbortTaskRunError, RunError, RunFailed, SecretKeyError, TaskCancelledError
from runtime.models import RunStatus
from runtime.payload_schema import SchemaView
from runtime.redaction import collect_secrets, redact_text, reset_secrets, scrub_secrets, use_secrets
from runtime.retry import RetryDecision
from runtime.run_state import RunState, states
from runtime.sealing import open_envelopes

log = logging.getLogger("taskpack")

# Runs executing in this process, by run id: the worker's monitor signals them on cancel.
running: dict[str, TaskContext] = {}
_running_lock = threading.Lock()
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
        fn.__qualname__ = fn.__name__ = f"taskpack_{task_id.replace('-', '_').replace('.', '_')}"
        _registered[task_id] = DBOS.workflow(name=workflow_name(task_id))(fn)


# -- steps -----------------------------------------------------------------------------------------------------------
def run_step(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    if DBOS.workflow_id is None:
        return fn(*args, **kwargs)  # called outside a run (a unit test calling the task function directly)
    return DBOS.run_step({"name": name}, fn, *args, **kwargs)


async def run_step_async(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    if DBOS.workflow_id is None:
        result = fn(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result
    return await DBOS.run_step_async({"name": name}, fn, *args, **kwargs)


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
    get_backend().sys_db.update_workflow_attributes(run_id, attributes, merge=True)


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


def _register_running(ctx: TaskContext) -> None:
    with _running_lock:
        running[ctx.run_id] = ctx


def _unregister_running(ctx: TaskContext) -> None:
    with _running_lock:
        if running.get(ctx.run_id) is ctx:
            running.pop(ctx.run_id, None)


def _check_expired(expires_at: float) -> bool:
    return time.time() > expires_at


# -- sync runs -------------------------------------------------------------------------------------------------------
def _attempt_sync(definition: Task, payload: Any, ctx: TaskContext) -> AttemptResult:
    """Run one attempt in its own thread so max_duration and cancel can stop waiting for it.

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

    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(target,), name=f"taskpack-{ctx.run_id}-{ctx.attempt}", daemon=True
    )
    deadline = time.monotonic() + ctx.max_duration
    thread.start()
    while thread.is_alive():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            ctx.signal_cancel("timeout")
        if ctx.is_cancelled:
            thread.join(CANCEL_GRACE_S)
            return AttemptResult("timeout" if ctx.cancel_reason == "timeout" else "canceled")
        thread.join(min(0.05, max(remaining, 0.001)))
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
# The life of a run is one generator that yields what it needs done; a sync and an async driver carry the effects
# out (DBOS steps and sleeps, attempts, hooks, database calls) in their own way. The policy lives in one place.
Effect = tuple[Any, ...]


def _run_plan(definition: Task, payload: Any, options: dict[str, Any], ctx: TaskContext) -> Generator[Effect, Any, Any]:
    expires_at = options.get("expires_at")
    if expires_at is not None and (yield ("step", "taskpack.check_ttl", _check_expired, (float(expires_at),))):
        yield ("call", _finish_failure, (ctx, RunStatus.EXPIRED.value, RunError(type="RunExpired", message="the run was not started before its ttl")))
    try:
        payload = _opened(definition, payload, ctx)
    except SecretKeyError as exc:  # no key, or not the one that sealed the payload: retrying cannot help
        error = RunError(type=type(exc).__name__, message=exc.message, code="SECRET_UNREADABLE", retryable=False)
        yield ("call", _finish_failure, (ctx, RunStatus.FAILED.value, error))
    try:
        parsed = definition.parse_payload(payload)
    except ValidationError as exc:
        error = RunError(type="PayloadValidationError", message=redact_text(describe_validation_error(exc), ctx.secrets))
        yield ("call", _finish_failure, (ctx, RunStatus.FAILED.value, error))
    ctx.secrets.add_model_secrets(parsed)  # SecretStr values as validated (a key given as an object becomes text)
    if definition.on_start is not None:
        yield ("hook_step", "on_start", definition.on_start, (parsed, ctx))
    attempt = 1
    while True:
        ctx._new_attempt(attempt)
        if attempt > 1:
            yield ("call", _set_attributes, (ctx.run_id, {"attempt": attempt}))
        result = yield ("attempt", parsed)
        yield ("hook", "cleanup", definition.cleanup, (parsed, ctx))
        if result.kind == "ok":
            if definition.on_success is not None:
                yield ("hook_step", "on_success", definition.on_success, (parsed, result.output, ctx))
            yield ("call", _flush, (ctx,))
            return scrub_secrets(result.output, ctx.secrets)  # the output is stored: not with this run's secrets
        if result.kind == "canceled":
            ctx.state.logs.add("warn", "run canceled", {}, attempt)
            yield ("call", _flush, (ctx,))
            return None
        error = _error_of(result, ctx)
        decision = None
        if result.kind == "error" and definition.catch_error is not None:
            decision = RetryDecision.coerce((yield ("hook", "catch_error", definition.catch_error, (parsed, result.exc, ctx))))
        outcome = _decide(definition, parsed, ctx, result, decision)
        if outcome != "retry":
            if definition.on_failure is not None:
                yield ("hook_step", "on_failure", definition.on_failure, (parsed, error, ctx))
            yield ("call", _finish_failure, (ctx, outcome, error))
        delay = _retry_delay(definition, ctx, decision)
        ctx.state.logs.add("warn", "attempt failed, retrying", {"error": error.message, "delay_s": round(delay, 3)}, attempt)
        yield ("call", _flush, (ctx,))
        yield ("sleep", delay)
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
    run_id = DBOS.workflow_id
    assert run_id is not None
    ctx = _make_context(definition, run_id, payload, options)
    tokens = (_current.set(ctx), use_secrets(ctx.secrets))
    _register_running(ctx)
    return definition, ctx, tokens


def _end(ctx: TaskContext, tokens: Any) -> None:
    _unregister_running(ctx)
    _current.reset(tokens[0])
    reset_secrets(tokens[1])
    _flush(ctx)
    states.remove(ctx.run_id)
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
                return done.value
            kind = effect[0]
            if kind == "step":
                value = DBOS.run_step({"name": effect[1]}, effect[2], *effect[3])
            elif kind == "hook_step":
                value = DBOS.run_step({"name": f"taskpack.{effect[1]}"}, _call_hook_sync, ctx, effect[1], effect[2], *effect[3])
            elif kind == "hook":
                value = _call_hook_sync(ctx, effect[1], effect[2], *effect[3])
            elif kind == "attempt":
                value = _attempt_sync(definition, effect[1], ctx)
            elif kind == "sleep":
                value = DBOS.sleep(effect[1])
            else:  # "call": a blocking database call
                value = effect[1](*effect[2])
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
                return done.value
            kind = effect[0]
            if kind == "step":
                value = await DBOS.run_step_async({"name": effect[1]}, effect[2], *effect[3])
            elif kind == "hook_step":
                value = await DBOS.run_step_async({"name": f"taskpack.{effect[1]}"}, _call_hook_async, ctx, effect[1], effect[2], *effect[3])
            elif kind == "hook":
                value = await _call_hook_async(ctx, effect[1], effect[2], *effect[3])
            elif kind == "attempt":
                value = await _attempt_async(definition, effect[1], ctx)
            elif kind == "sleep":
                value = await DBOS.sleep_async(effect[1])
            else:  # "call": blocking database work goes to a thread, off the event loop
                value = await asyncio.to_thread(effect[1], *effect[2])
    finally:
        plan.close()
        await asyncio.to_thread(_flush, ctx)
        _end(ctx, token)


# -- endings ---------------------------------------------------------------------------------------------------------
def _require_task(task_id: str) -> Task:
    definition = get_task(task_id)
    if definition is None:
        raise RuntimeError(f"task {task_id!r} is not loaded in this worker")
    return definition


def _error_of(result: AttemptResult, ctx: TaskContext) -> RunError:
    if result.kind == "timeout":
        return RunError(type="MaxDurationExceededError", message=f"attempt exceeded max_duration of {ctx.max_duration:g} s", code="MAX_DURATION_EXCEEDED")
    assert result.exc is not None
    return RunError.from_exception(result.exc)


def _finish_failure(ctx: TaskContext, status: str, error: RunError) -> None:
    """End the run in a terminal failure state: stored outcome, logs flushed, workflow ends with RunFailed."""
    ctx.state.logs.add("error", f"run {status.lower()}", {"error": error.message, "type": error.type}, ctx.attempt)
    _flush(ctx)
    _set_attributes(ctx.run_id, {"outcome": status, "attempt": ctx.attempt})
    raise RunFailed(status, error.model_dump(), ctx.attempt)


def _flush(ctx: TaskContext) -> None:
    try:
        ctx.state.flush()
    except Exception as exc:
        log.warning("run %s: flushing metadata/logs failed: %s", ctx.run_id, exc)

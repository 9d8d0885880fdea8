"""The run a piece of code is executing for, and the handle task code gets as `ctx`."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Awaitable, Callable, TypeVar

from runtime import tracing
from runtime.dbos_adapter import recording_here, step, step_async
from runtime.errors import OutsideRunError, TaskCancelledError
from runtime.redaction import RunSecrets

T = TypeVar("T")
log = logging.getLogger("taskpack")

_current: ContextVar["TaskContext | None"] = ContextVar("taskpack_current_run", default=None)

# Runs executing in this process, by run id: the worker's monitor and `runs.cancel` signal them on cancel.
running: dict[str, "TaskContext"] = {}
_running_lock = threading.Lock()


def register_running(ctx: "TaskContext") -> None:
    with _running_lock:
        running[ctx.run_id] = ctx


def unregister_running(ctx: "TaskContext") -> None:
    with _running_lock:
        if running.get(ctx.run_id) is ctx:
            running.pop(ctx.run_id, None)


def executing_here(run_id: str) -> bool:
    """True while the run executes in this process, from its start until DBOS has recorded its outcome: that end wakes
    this process's waiters (runtime/wakeups.py), so they need not poll its status meanwhile."""
    return run_id in running or recording_here(run_id)


def current_context(what: str = "this call") -> "TaskContext":
    ctx = _current.get()
    if ctx is None:
        raise OutsideRunError(what)
    return ctx


def maybe_current_context() -> "TaskContext | None":
    return _current.get()


class TaskContext:
    """What a run knows about itself, plus the cancellation signal and durable steps.

    `cancel_event` is set when the attempt is canceled or hits `max_duration`; long sync code and connectors observe it
    (`ctx.is_cancelled`, `ctx.on_cancel(connector.cancel)`), and every `ctx.step` checks it first.
    """

    def __init__(
        self,
        *,
        run_id: str,
        task_id: str,
        payload: Any,
        attempt: int,
        max_attempts: int,
        max_duration: float,
        tags: list[str],
        queue: str | None,
        machine: str,
        parent_id: str | None,
        root_id: str | None,
        created_at: datetime | None,
        state: Any,
        secrets: RunSecrets | None = None,
    ) -> None:
        self.run_id = run_id
        self.task_id = task_id
        self.payload = payload
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.max_duration = max_duration
        self.tags = tags
        self.queue = queue
        self.machine = machine
        self.parent_id = parent_id
        self.root_id = root_id or run_id
        self.created_at = created_at
        self.state = state  # runtime.run_state.RunState: metadata + logs buffers
        # This run's secret values (its payload's, and what its code registers); no other run sees them.
        self.secrets = secrets if secrets is not None else RunSecrets()
        self.cancel_event = threading.Event()
        self.cancel_reason: str | None = None
        self._cancel_callbacks: list[Callable[[], Any]] = []
        self._lock = threading.Lock()
        self._async_task: Any = None
        self._loop: Any = None
        self.trace: Any = None  # the run's span while tracing is on (runtime.tracing)

    # -- cancellation --------------------------------------------------------------------------------------------------
    @property
    def is_cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise TaskCancelledError(self.cancel_reason or "canceled")

    def on_cancel(self, callback: Callable[[], Any]) -> None:
        """Call `callback` (from the worker's monitor thread) when this attempt is canceled or times out."""
        with self._lock:
            if not self.cancel_event.is_set():
                self._cancel_callbacks.append(callback)
                return
        _call_quietly(callback)

    def signal_cancel(self, reason: str) -> None:
        """Stop the attempt: set the event, run on_cancel callbacks, cancel the asyncio task of an async run."""
        with self._lock:
            if self.cancel_event.is_set():
                return
            self.cancel_reason = reason
            self.cancel_event.set()
            callbacks, self._cancel_callbacks = self._cancel_callbacks, []
        for callback in callbacks:
            _call_quietly(callback)
        if self._async_task is not None and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._async_task.cancel)
            except RuntimeError:
                pass

    def _new_attempt(self, attempt: int) -> None:
        self.attempt = attempt
        with self._lock:
            self.cancel_event = threading.Event()
            self.cancel_reason = None
            self._cancel_callbacks = []
        self._async_task = None
        self._loop = None

    # -- durability ------------------------------------------------------------------------------------------------------
    def step(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` once for this run: after a crash, a finished step returns its recorded result instead of re-running."""
        self.raise_if_cancelled()
        with tracing.step_span(name):
            return step(name, fn, *args, **kwargs)

    async def step_async(self, name: str, fn: Callable[..., Awaitable[T]] | Callable[..., T], *args: Any, **kwargs: Any) -> T:
        self.raise_if_cancelled()
        with tracing.step_span(name):
            return await step_async(name, fn, *args, **kwargs)

    def idempotency_key(self, step: str) -> str:
        """A key for the external side effect of step `step`, the same on every attempt and after crash recovery.

        A step is recorded only after its function returns, so a worker killed between the side effect and the
        record re-runs the step (at least once, not exactly once). Passing this key to the external service
        (an `Idempotency-Key` header, a unique column, an S3 object name) makes that second execution harmless.
        It depends only on the run id and the step name, so it never changes within a run and never repeats across
        runs; it is a hex digest, safe as a header value, a file name or a database key (64 characters).
        """
        if not isinstance(step, str) or not step:
            raise ValueError("idempotency_key: step must be a non-empty string naming the step")
        # JSON keeps the two parts apart whatever they contain (no separator a step name could imitate)
        encoded = json.dumps(["taskpack-step", self.run_id, step]).encode("ascii")
        return hashlib.sha256(encoded).hexdigest()

    def redact(self, secret: Any) -> None:
        """Scrub this value from everything this run stores (logs, errors, metadata, output); other runs unaffected."""
        self.secrets.add(secret)

    def __repr__(self) -> str:
        return f"TaskContext(run_id={self.run_id!r}, task_id={self.task_id!r}, attempt={self.attempt})"


def _call_quietly(callback: Callable[[], Any]) -> None:
    try:
        callback()
    except Exception as exc:
        log.warning("on_cancel callback failed: %s: %s", type(exc).__name__, exc)

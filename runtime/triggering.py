"""Starting runs: `tasks.trigger`, batches, and trigger-and-wait (durable when called inside a task)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

import sqlalchemy as sa
from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from runtime import dbos_adapter as dbos
from runtime import tracing, wakeups
from runtime.backend import Backend, get_backend
from runtime.context import executing_here, maybe_current_context
from runtime.dbos_adapter import workflow_name
from runtime.errors import InputError, PayloadError, RunError, RunFailed, RunNotFoundError, TriggerOptionsError, UnknownTaskError
from runtime.limits import (
    MAX_ATTEMPTS,
    MAX_DEPTH,
    MAX_KEY_CHARS,
    MAX_TASK_ID_CHARS,
    check_count,
    check_duration,
    check_json_value,
    check_tags,
    check_text,
)
from runtime.handles import BatchHandle, RunHandle
from runtime.models import RunStatus, TaskRunResult
from runtime.payload_schema import SchemaView, check_against_schema, check_with_model
from runtime.queues import DEFAULT_QUEUE
from runtime.registry import get_task
from runtime.reuse import Reused
from runtime.run_reader import HERE_POLL_S, peek_status, wait_for_run
from runtime.run_state import METADATA_LIMIT_BYTES
from runtime.sealing import open_envelopes, refuse_envelopes, seal_secret_fields
from runtime.store import idempotency_keys, task_definitions
from runtime.versions import code_version

DEFAULT_IDEMPOTENCY_TTL_S = 30 * 86400


class BatchItem(BaseModel):
    payload: Any = None
    options: dict[str, Any] = Field(default_factory=dict)


def new_run_id() -> str:
    """Sortable by creation time (like Trigger.dev's run ids): 12 hex digits of milliseconds, then randomness."""
    return f"run_{int(time.time() * 1000):012x}{uuid.uuid4().hex[:12]}"


def _payload(value: Any) -> Any:
    """The payload as JSON data, checked at the door: nothing is stored for a payload refused here."""
    try:
        if isinstance(value, BaseModel):
            # Secrets revealed: a SecretStr dumped as '**********' would reach the run instead of the password.
            value = _reveal_secrets(value.model_dump(mode="python", by_alias=True))
        body = to_jsonable_python(value)
    except RecursionError:
        raise PayloadError(f"payload: nested deeper than {MAX_DEPTH} levels", field="payload") from None
    except (ValueError, TypeError) as exc:  # PydanticSerializationError; pydantic's own depth limit (far above ours)
        if "depth" in str(exc):
            raise PayloadError(f"payload: nested deeper than {MAX_DEPTH} levels", field="payload") from None
        raise PayloadError(f"payload: cannot be encoded as JSON ({type(exc).__name__}: {str(exc)[:200]})", field="payload") from None
    check_json_value(body, "payload")
    return body


def _reveal_secrets(value: Any) -> Any:
    if hasattr(type(value), "get_secret_value"):  # pydantic's SecretStr / SecretBytes
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal_secrets(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_reveal_secrets(v) for v in value]
    return value


# Set while `runs.replay` triggers: the stored payload's envelopes are passed back as they are (see runtime.sealing).
_replaying: ContextVar[bool] = ContextVar("taskpack_replaying", default=False)


@contextmanager
def replaying() -> Iterator[None]:
    token = _replaying.set(True)
    try:
        yield
    finally:
        _replaying.reset(token)


def _sealed(backend: Backend, task_id: str, info: dict[str, Any], body: Any) -> Any:
    """The payload as it will be stored: validated in plain text, then each SecretStr field of the task's schema
    (from this process's definition, else the one workers published) replaced by an encrypted envelope."""
    if _replaying.get():
        plain = open_envelopes(body, backend.keyring)  # validated as the worker will see it; the envelopes are kept
    else:
        refuse_envelopes(body)
        plain = body
    _check_against_task_schema(task_id, info, plain)
    return seal_secret_fields(body, SchemaView.of(info.get("payload_schema")), backend.keyring)


def _check_against_task_schema(task_id: str, info: dict[str, Any], body: Any) -> None:
    """A schema_task's payload is validated now, not when a worker picks the run up: refused = no run."""
    definition = get_task(task_id)
    if definition is not None and definition.schema is not None:
        check_with_model(definition.schema, body, definition.payload_schema)
    elif isinstance(info.get("payload_schema"), dict):
        check_against_schema(info["payload_schema"], body)


#: how long a process that does not define a task (the API, the CLI) reuses the definition workers published for it
PUBLISHED_DEFINITION_TTL_S = 1.0
_published: "weakref.WeakKeyDictionary[Backend, Reused]" = weakref.WeakKeyDictionary()


def task_info(backend: Backend, task_id: str) -> dict[str, Any]:
    """Queue and limits of a task: from this process's definitions, else as the workers registered it.

    The published definition is read at most once a second per task: a statement per trigger was a third of a
    trigger's time in the API's process, for a row that changes when workers of new code start. An unknown task is
    looked up again every time (a worker defining it may start any moment)."""
    definition = get_task(task_id)
    if definition is not None:
        return definition.describe()
    published = _published.get(backend)
    if published is None:
        published = _published.setdefault(backend, Reused(lambda t: _published_definition(backend, t), PUBLISHED_DEFINITION_TTL_S))
    info = published.get(task_id, task_id)
    if info is None:
        raise UnknownTaskError(task_id)
    return info


def _published_definition(backend: Backend, task_id: str) -> dict[str, Any] | None:
    with backend.engine.connect() as conn:
        row = conn.execute(sa.select(task_definitions.c.definition).where(task_definitions.c.id == task_id)).first()
    if row is None:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])


def _validate_tags(tags: Any) -> list[str]:
    return check_tags(tags)


def _run_is_spent(backend: Backend, run_id: str, now: float) -> bool | None:
    """Whether the run behind an idempotency key has let go of it (failed, canceled, expired); None if it does not
    exist yet (its trigger is between settling the key and enqueueing, or died there)."""
    row = backend.dbos.status_row(run_id)
    return None if row is None else row.frees_idempotency_key(now)


def claim_idempotency_key(backend: Backend, scope_key: str, run_id: str, ttl: float) -> tuple[str, bool]:
    """(run id the key maps to, True if that run exists and still holds the key).

    The key row is where concurrent triggers agree: the first insert wins, and moving a freed key to a new run is a
    compare-and-set on the run it held, so every trigger ends on the run id the row names. False means that run is
    not enqueued yet (its trigger is on its way, or died after settling the key): the caller enqueues that id, and
    DBOS refuses a workflow id twice, so when several do, one run starts (see `SystemDatabase.enqueue`).
    """
    table = idempotency_keys
    for _ in range(20):
        now = time.time()
        with backend.engine.connect() as conn:
            row = conn.execute(sa.select(table.c.run_id, table.c.expires_at).where(table.c.scope_key == scope_key)).first()
        if row is None:
            try:
                with backend.engine.begin() as conn:
                    conn.execute(sa.insert(table).values(scope_key=scope_key, run_id=run_id, expires_at=now + ttl, created_at=now))
            except sa.exc.IntegrityError:
                continue  # a concurrent trigger inserted the key first: follow its row
            return run_id, False
        held_by, key_expires_at = row
        spent = _run_is_spent(backend, held_by, now)
        if key_expires_at is None or key_expires_at > now:
            if spent is None:
                return held_by, False
            if not spent:
                return held_by, True
        with backend.engine.begin() as conn:
            moved = conn.execute(
                sa.update(table)
                .where(table.c.scope_key == scope_key, table.c.run_id == held_by)
                .values(run_id=run_id, expires_at=now + ttl, created_at=now)
            ).rowcount
        if moved == 1:
            return run_id, False
    raise RuntimeError(f"could not settle idempotency key {scope_key!r} after concurrent updates")


def _key_from_payload(info: dict[str, Any], data: Any) -> str | None:
    """The concurrency key the task's queue takes from the payload (`Queue.concurrency_key_from`) when the trigger
    gave none; None when the queue names no field or the payload has no text there (the run takes the shared lane)."""
    field = info.get("concurrency_key_from")
    value = data.get(field) if field and isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        return None
    check_text(value, f"payload.{field}", max_chars=MAX_KEY_CHARS)  # it is the concurrency key: same limit
    return value


def _build(
    backend: Backend,
    task_id: str,
    payload: Any,
    *,
    idempotency_key: str | None,
    idempotency_key_ttl: Any,
    delay: Any,
    ttl: Any,
    tags: Any,
    max_attempts: int | None,
    concurrency_key: str | None,
    max_duration: Any,
    metadata: dict[str, Any] | None,
    parent_id: str | None,
    root_id: str | None,
    info: dict[str, Any] | None = None,
    version: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], Any, str | None]:
    """(DBOS enqueue options, run options for the workflow, payload, idempotency scope key).

    Every option and the payload are checked here (runtime.limits), before anything is written.
    """
    check_text(task_id, "task_id", max_chars=MAX_TASK_ID_CHARS)
    info = info if info is not None else task_info(backend, task_id)
    tag_list = _validate_tags(tags)
    check_count(max_attempts, "max_attempts", minimum=1, maximum=MAX_ATTEMPTS)
    duration_s = check_duration(max_duration, "max_duration")
    if duration_s is not None and duration_s <= 0:
        raise TriggerOptionsError("max_duration: must be positive", field="max_duration")
    delay_s = check_duration(delay, "delay")
    ttl_s = check_duration(ttl, "ttl")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TriggerOptionsError("metadata: must be an object", field="metadata")
        try:
            metadata = to_jsonable_python(metadata)
        except (ValueError, TypeError) as exc:
            raise TriggerOptionsError(f"metadata: cannot be encoded as JSON ({type(exc).__name__})", field="metadata") from None
        check_json_value(metadata, "metadata", max_bytes=METADATA_LIMIT_BYTES, error=TriggerOptionsError)
    if concurrency_key is not None:
        check_text(concurrency_key, "concurrency_key", max_chars=MAX_KEY_CHARS)
    if idempotency_key is not None:
        check_text(idempotency_key, "idempotency_key", max_chars=MAX_KEY_CHARS)
    ttl_key = check_duration(idempotency_key_ttl, "idempotency_key_ttl")
    data = _payload(payload)
    if concurrency_key is None:
        concurrency_key = _key_from_payload(info, data)
    body = _sealed(backend, task_id, info, data)

    now = time.time()
    queue = info.get("queue") or DEFAULT_QUEUE
    version = version or code_version()
    run_options: dict[str, Any] = {"created_at": now, "queue": queue}
    attributes: dict[str, Any] = {"task": task_id, "version": version}
    if tag_list:
        run_options["tags"] = attributes["tags"] = tag_list
    if max_attempts is not None:
        run_options["max_attempts"] = max_attempts
    if duration_s is not None:
        run_options["max_duration"] = duration_s
    if ttl_s is not None:
        expires_at = now + (delay_s or 0) + ttl_s
        run_options["expires_at"] = attributes["expires_at"] = expires_at
    if metadata:
        run_options["metadata"] = to_jsonable_python(metadata)
    if parent_id:
        run_options["parent_id"] = attributes["parent_id"] = parent_id
        run_options["root_id"] = attributes["root_id"] = root_id or parent_id
    if idempotency_key:
        attributes["idempotency_key"] = idempotency_key
    trace_context = tracing.current_trace_context()  # the caller's span: the run's span continues its trace
    if trace_context:
        run_options[tracing.TRACE_CONTEXT_OPTION] = trace_context
    enqueue: dict[str, Any] = {
        "workflow_name": workflow_name(task_id),
        "queue_name": queue,
        "app_version": version,  # DBOS hands the run only to a worker of this version (runtime.versions)
        "attributes": attributes,
    }
    if concurrency_key:
        enqueue["queue_name"] = f"{queue}#keyed"
        enqueue["queue_partition_key"] = concurrency_key
        attributes["concurrency_key"] = concurrency_key
    if delay_s:
        enqueue["delay_seconds"] = delay_s
    scope = f"{task_id}:{idempotency_key}" if idempotency_key else None
    run_options["_idempotency_ttl"] = ttl_key if ttl_key is not None else DEFAULT_IDEMPOTENCY_TTL_S
    return enqueue, run_options, body, scope


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


_OPTIONS = frozenset({"idempotency_key", "idempotency_key_ttl", "delay", "ttl", "tags", "max_attempts", "concurrency_key", "max_duration", "metadata"})


def _build_with_defaults(backend: Backend, task_id: str, payload: Any, options: dict[str, Any], parent_id: str | None, root_id: str | None, info: dict[str, Any] | None = None, version: str | None = None):  # type: ignore[no-untyped-def]
    unknown = set(options) - _OPTIONS
    if unknown:
        raise TriggerOptionsError(f"unknown trigger option(s): {', '.join(sorted(map(str, unknown)))[:200]}")
    values = {name: options.get(name) for name in _OPTIONS}
    return _build(backend, task_id, payload, parent_id=parent_id, root_id=root_id, info=info, version=version, **values)


def check_batch(backend: Backend, task_id: str, items: list["BatchItem"], options: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any], Any, str | None]]:
    """Check every item before the first run is created: a batch is refused whole, never half-triggered. Public:
    the HTTP API checks each task's group of a multi-task batch with it before it triggers any run.

    Returns each item as built (enqueue options, run options, sealed payload, idempotency scope), so a batch is
    checked and sealed once, not again when its runs are enqueued."""
    check_text(task_id, "task_id", max_chars=MAX_TASK_ID_CHARS)
    info = task_info(backend, task_id)
    version = code_version()  # once per batch: it looks for the project's root on disk
    built = []
    for index, item in enumerate(items):
        try:
            built.append(_build_with_defaults(backend, task_id, item.payload, {**options, **item.options}, None, None, info, version))
        except InputError as exc:
            field = f"items[{index}].{exc.field}" if exc.field else f"items[{index}]"
            message = f"items[{index}].{exc}" if exc.field and str(exc).startswith(exc.field) else f"items[{index}]: {exc}"
            raised = type(exc)(message, field=field)
            if isinstance(exc, PayloadError) and isinstance(raised, PayloadError):
                raised.errors = [{**e, "field": f"items[{index}].{e['field']}"} for e in exc.errors]
            raise raised from None
    return built


def _in_workflow() -> bool:
    try:
        return dbos.current_run_id() is not None and maybe_current_context() is not None
    except Exception:
        return False


class Tasks:
    """`tasks.trigger(...)` and friends; works from any process pointing at the same database."""

    def trigger(
        self,
        task_id: str,
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
        idempotency_key_ttl: Any = None,
        delay: Any = None,
        ttl: Any = None,
        tags: Any = None,
        max_attempts: int | None = None,
        concurrency_key: str | None = None,
        max_duration: Any = None,
        metadata: dict[str, Any] | None = None,
        database_url: str | None = None,
    ) -> RunHandle:
        if _in_event_loop() and _in_workflow():
            raise RuntimeError("inside an async task use `await tasks.trigger_async(...)` (or the task's *_async methods)")
        backend = get_backend(database_url)
        parent = maybe_current_context() if _in_workflow() else None
        enqueue, run_options, body, scope = _build(
            backend,
            task_id,
            payload,
            idempotency_key=idempotency_key,
            idempotency_key_ttl=idempotency_key_ttl,
            delay=delay,
            ttl=ttl,
            tags=tags,
            max_attempts=max_attempts,
            concurrency_key=concurrency_key,
            max_duration=max_duration,
            metadata=metadata,
            parent_id=parent.run_id if parent else None,
            root_id=parent.root_id if parent else None,
        )
        key_ttl = run_options.pop("_idempotency_ttl")
        if parent is not None:
            # Inside a run: pick the id (and settle the key) in a recorded step, then enqueue as a recorded child,
            # so a replayed parent finds the same child instead of starting another.
            run_id, cached = dbos.step("taskpack.child_id", _choose_run_id, backend.url, scope, key_ttl)
            if not cached:
                cached = dbos.enqueue_child(_with_run_id(enqueue, run_id, scope), body, run_options, backend.dbos)
            return RunHandle(id=run_id, task_id=task_id, is_cached=cached)
        run_id, cached = _choose_run_id(backend.url, scope, key_ttl)
        if not cached:
            cached = backend.dbos.enqueue(_with_run_id(enqueue, run_id, scope), body, run_options)
        return RunHandle(id=run_id, task_id=task_id, is_cached=cached)

    async def trigger_async(self, task_id: str, payload: Any = None, **options: Any) -> RunHandle:
        """`trigger` for async code; inside an async task the child is recorded durably, as with `trigger`."""
        if not _in_workflow():
            return await asyncio.to_thread(self.trigger, task_id, payload, **options)
        parent = maybe_current_context()
        assert parent is not None
        backend = get_backend(options.pop("database_url", None))
        enqueue, run_options, body, scope = await asyncio.to_thread(
            _build_with_defaults, backend, task_id, payload, options, parent.run_id, parent.root_id
        )
        key_ttl = run_options.pop("_idempotency_ttl")
        run_id, cached = await dbos.step_async("taskpack.child_id", _choose_run_id, backend.url, scope, key_ttl)
        if not cached:
            cached = await dbos.enqueue_child_async(_with_run_id(enqueue, run_id, scope), body, run_options, backend.dbos)
        return RunHandle(id=run_id, task_id=task_id, is_cached=cached)

    async def trigger_and_wait_async(self, task_id: str, payload: Any = None, *, timeout: float | None = None, **options: Any) -> TaskRunResult:
        handle = await self.trigger_async(task_id, payload, **options)
        return (await self._wait_async([handle], timeout))[0]

    async def batch_trigger_and_wait_async(self, task_id: str, items: list[Any], *, timeout: float | None = None, **options: Any) -> list[TaskRunResult]:
        batch = _batch_items(items)
        backend = get_backend(options.get("database_url"))
        await asyncio.to_thread(check_batch, backend, task_id, batch, {k: v for k, v in options.items() if k != "database_url"})
        handles = [await self.trigger_async(task_id, item.payload, **{**options, **item.options}) for item in batch]
        return await self._wait_async(handles, timeout)

    async def _wait_async(self, handles: list[RunHandle], timeout: float | None) -> list[TaskRunResult]:
        ctx = maybe_current_context() if _in_workflow() else None
        if ctx is None:
            return await asyncio.to_thread(self._wait, handles, timeout)
        return await _durable_wait_async(ctx, handles)

    def batch_trigger(self, task_id: str, items: list[Any], **options: Any) -> BatchHandle:
        """Trigger one run per item; an item is a payload, or a BatchItem / {"payload":…, "options":{…}}.

        Every item is checked first: one invalid item refuses the whole batch and no run is created.
        """
        batch = _batch_items(items)
        backend = get_backend(options.get("database_url"))
        built = check_batch(backend, task_id, batch, {k: v for k, v in options.items() if k != "database_url"})
        if _in_workflow():  # children are enqueued one by one, each recorded in the parent (see `trigger`)
            handles = [self.trigger(task_id, item.payload, **{**options, **item.options}) for item in batch]
        else:
            handles = _enqueue_batch(backend, task_id, built)
        return BatchHandle(batch_id=f"batch_{uuid.uuid4().hex[:16]}", runs=handles)

    def trigger_and_wait(self, task_id: str, payload: Any = None, *, timeout: float | None = None, **options: Any) -> TaskRunResult:
        handle = self.trigger(task_id, payload, **options)
        return self._wait([handle], timeout)[0]

    def batch_trigger_and_wait(self, task_id: str, items: list[Any], *, timeout: float | None = None, **options: Any) -> list[TaskRunResult]:
        batch = self.batch_trigger(task_id, items, **options)
        return self._wait(batch.runs, timeout)

    def _wait(self, handles: list[RunHandle], timeout: float | None) -> list[TaskRunResult]:
        ctx = maybe_current_context() if _in_workflow() else None
        if ctx is None:
            results = []
            for handle in handles:
                run = wait_for_run(handle.id, timeout=timeout)
                results.append(TaskRunResult(id=run.id, task_id=run.task_id, ok=run.status is RunStatus.COMPLETED, status=run.status, output=run.output, error=run.error))
            return results
        return _durable_wait(ctx, handles)


def _enqueue_batch(backend: Backend, task_id: str, built: list[tuple[dict[str, Any], dict[str, Any], Any, str | None]]) -> list[RunHandle]:
    """The runs of a checked batch, in its order: the items without an idempotency key in one transaction (all or
    none), the keyed ones each through its key (`claim_idempotency_key`), as `trigger` does."""
    handles: list[RunHandle | None] = [None] * len(built)
    fresh: list[tuple[dict[str, Any], Any, dict[str, Any]]] = []
    for index, (enqueue, run_options, body, scope) in enumerate(built):
        key_ttl = run_options.pop("_idempotency_ttl")
        run_id, cached = _choose_run_id(backend.url, scope, key_ttl)
        if scope is None:
            fresh.append((_with_run_id(enqueue, run_id, scope), body, run_options))
        elif not cached:
            cached = backend.dbos.enqueue(_with_run_id(enqueue, run_id, scope), body, run_options)
        handles[index] = RunHandle(id=run_id, task_id=task_id, is_cached=cached)
    if fresh:
        backend.dbos.enqueue_many(fresh)
    return [h for h in handles if h is not None]


def _choose_run_id(url: str, scope: str | None, key_ttl: float) -> tuple[str, bool]:
    """(run id, True if it is an existing run holding the idempotency key); otherwise the id still has to be enqueued."""
    run_id = new_run_id()
    if scope is None:
        return run_id, False
    return claim_idempotency_key(get_backend(url), scope, run_id, key_ttl)


def _with_run_id(enqueue: dict[str, Any], run_id: str, scope: str | None) -> dict[str, Any]:
    options = {**enqueue, "workflow_id": run_id}
    if scope is not None:
        # A keyed run id may be enqueued by a concurrent trigger of the same key too; "reject" says which one created it.
        options["workflow_id_reuse_policy"] = "reject"
    return options


#: A run waiting for its children reads each child's status itself, first every CHILD_POLL_MIN_S and then less often,
#: up to CHILD_POLL_MAX_S, and only then asks DBOS for the result (recorded, so a resumed parent does not wait
#: again). DBOS's own wait reads once a second: a parent that fans out in rounds lost up to a second per round.
#: A run ending in this process, or a child's end announced by another worker (PostgreSQL), makes it look again at
#: once (runtime/wakeups.py), but not sooner than CHILD_POLL_MIN_S after its last look: it used to sleep out its
#: delay, ~125 ms late on average once backed off.
CHILD_POLL_MIN_S = 0.02
CHILD_POLL_MAX_S = 0.25


class _ChildLooks:
    """When a waiting parent looks at its child next: backing off from CHILD_POLL_MIN_S to CHILD_POLL_MAX_S, and after
    a wake-up (a run ended) once CHILD_POLL_MIN_S has passed since its last look. One schedule for both waits below."""

    def __init__(self) -> None:
        self.delay = CHILD_POLL_MIN_S
        self.seen = wakeups.generation()
        self.looked = time.monotonic()
        self.here = False  # whether the child executed in this process as the last wait began
        self.woken_here = False  # the last wait ended in a wake-up while it did

    def next_delay(self, run_id: str) -> float:
        """How long to wait for a wake-up before looking again: while the child executes in this process its end
        wakes the wait, and a look would only take the GIL from it (HERE_POLL_S, as `runs.wait`)."""
        self.here = executing_here(run_id)
        return HERE_POLL_S if self.here else self.delay

    def woken(self, now: int, run_id: str) -> float | None:
        """After a wait that returned generation `now`: the pause before the next look when it was a wake-up, None
        when the delay ran out (the next delay grows) or when no look is due: the wake-up came while the child
        executes here (another run's end, the child's code returning), and its recorded end wakes the wait again."""
        self.woken_here = False
        if now == self.seen:
            self.delay = min(self.delay * 1.5, CHILD_POLL_MAX_S)
            return None
        self.seen = now
        if self.here and executing_here(run_id):
            self.woken_here = True
            return None
        return max(0.0, CHILD_POLL_MIN_S - (time.monotonic() - self.looked))


def _until_final(ctx: Any, run_id: str) -> None:
    """Return once the child run is final (or unknown: DBOS then reports it); raise if this run is canceled."""
    backend = get_backend()
    looks = _ChildLooks()
    ctx.on_cancel(wakeups.run_ended)  # a cancel ends the wait below at once
    while True:
        ctx.raise_if_cancelled()
        if not looks.woken_here:
            looks.looked = time.monotonic()
            try:
                if peek_status(backend, run_id).is_final:
                    return
            except RunNotFoundError:
                return
        pause = looks.woken(wakeups.wait(looks.seen, looks.next_delay(run_id)), run_id)
        if pause:
            ctx.cancel_event.wait(pause)


async def _until_final_async(ctx: Any, run_id: str) -> None:
    backend = get_backend()
    looks = _ChildLooks()
    while True:
        ctx.raise_if_cancelled()
        if not looks.woken_here:
            looks.looked = time.monotonic()
            try:
                if (await asyncio.to_thread(peek_status, backend, run_id)).is_final:
                    return
            except RunNotFoundError:
                return
        # a canceled run's task is canceled in this await
        pause = looks.woken(await asyncio.to_thread(wakeups.wait, looks.seen, looks.next_delay(run_id)), run_id)
        if pause:
            await asyncio.sleep(pause)


def _durable_wait(ctx: Any, handles: list[RunHandle]) -> list[TaskRunResult]:
    """Wait inside a run: DBOS records each child's result, so a resumed parent does not wait again."""
    backend = get_backend()
    backend.dbos.set_attributes(ctx.run_id, {"waiting": True})
    results = []
    try:
        for handle in handles:
            ctx.raise_if_cancelled()
            _until_final(ctx, handle.id)
            child = dbos.child_run(handle.id)
            try:
                results.append(_child_result(handle, child.get_result(), None))
            except Exception as exc:
                results.append(_child_result(handle, None, exc))
    finally:
        backend.dbos.set_attributes(ctx.run_id, {"waiting": False})
    return results


def _child_result(handle: RunHandle, outcome: Any, exc: BaseException | None) -> TaskRunResult:
    if exc is None:
        return TaskRunResult(id=handle.id, task_id=handle.task_id, ok=True, status=RunStatus.COMPLETED, output=outcome)
    if isinstance(exc, RunFailed):
        return TaskRunResult(id=handle.id, task_id=handle.task_id, ok=False, status=RunStatus(exc.status), error=RunError(**exc.error))
    status = RunStatus.CANCELED if "cancel" in type(exc).__name__.lower() else RunStatus.CRASHED
    return TaskRunResult(id=handle.id, task_id=handle.task_id, ok=False, status=status, error=RunError.from_exception(exc))


async def _durable_wait_async(ctx: Any, handles: list[RunHandle]) -> list[TaskRunResult]:
    backend = get_backend()
    await asyncio.to_thread(backend.dbos.set_attributes, ctx.run_id, {"waiting": True})
    results = []
    try:
        for handle in handles:
            ctx.raise_if_cancelled()
            await _until_final_async(ctx, handle.id)
            child = await dbos.child_run_async(handle.id)
            try:
                results.append(_child_result(handle, await child.get_result(), None))
            except Exception as exc:
                results.append(_child_result(handle, None, exc))
    finally:
        await asyncio.to_thread(backend.dbos.set_attributes, ctx.run_id, {"waiting": False})
    return results


def _as_batch_item(item: Any) -> BatchItem:
    if isinstance(item, BatchItem):
        return item
    if isinstance(item, dict) and "payload" in item and set(item) <= {"payload", "options"}:
        try:
            return BatchItem.model_validate(item)
        except ValueError:
            raise TriggerOptionsError("a batch item's options must be an object", field="options") from None
    return BatchItem(payload=item)


MAX_BATCH_ITEMS = 1000


def _batch_items(items: Any) -> list[BatchItem]:
    if not isinstance(items, list) or not items:
        raise TriggerOptionsError("items: batch_trigger needs a non-empty list of items", field="items")
    if len(items) > MAX_BATCH_ITEMS:
        raise TriggerOptionsError(f"items: batch_trigger takes at most {MAX_BATCH_ITEMS} items, got {len(items)}", field="items")
    return [_as_batch_item(item) for item in items]


tasks = Tasks()

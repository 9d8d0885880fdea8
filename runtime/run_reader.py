"""Reading runs as callers see them: one run, many runs, and waiting for a run to end.

Below `runs` (the facade that also lists, cancels and replays) and `triggering` (whose trigger-and-wait reads the
child's outcome), so neither imports the other to read a run.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from runtime import wakeups
from runtime.backend import Backend, get_backend
from runtime.context import executing_here
from runtime.dbos_adapter import MAX_RECOVERY_STATE, UNRUNNABLE_ON, attributes_of, run_status as status_of_workflow, task_of_workflow
from runtime.errors import InputError, RunError, RunFailed, RunNotFoundError
from runtime.executor_ids import live_executors
from runtime.limits import MAX_RUN_ID_CHARS, check_text
from runtime.models import Run, RunStatus
from runtime.payload_schema import SchemaView
from runtime.redaction import RunSecrets, collect_secrets, redact, redact_text
from runtime.registry import get_task
from runtime.store import run_metadata, task_definitions
from runtime.versions import live_versions

log = logging.getLogger("taskpack")
UNDECODABLE = "[could not be decoded]"


def _dt(ms: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms else None


def _stored_metadata(backend: Backend, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not run_ids:
        return {}
    with backend.engine.connect() as conn:
        rows = conn.execute(sa.select(run_metadata.c.run_id, run_metadata.c.data).where(run_metadata.c.run_id.in_(run_ids))).all()
    found: dict[str, dict[str, Any]] = {}
    for run_id, data in rows:
        try:
            found[run_id] = json.loads(data)
        except (ValueError, TypeError):
            log.warning("run %s: stored metadata is not JSON; shown as empty", run_id)
            found[run_id] = {"_warning": "stored metadata could not be decoded"}
    return found


def _schema_views(backend: Backend, task_ids: set[str]) -> dict[str, SchemaView | None]:
    """Each task's payload schema (this process's definition, else the one workers published): marks secret fields."""
    views: dict[str, SchemaView | None] = {}
    missing = []
    for task_id in task_ids:
        definition = get_task(task_id)
        if definition is not None:
            views[task_id] = SchemaView.of(definition.payload_schema)
        else:
            missing.append(task_id)
    if missing:
        with backend.engine.connect() as conn:
            rows = conn.execute(sa.select(task_definitions.c.id, task_definitions.c.definition).where(task_definitions.c.id.in_(missing))).all()
        for task_id, definition in rows:
            try:
                described = definition if isinstance(definition, dict) else json.loads(definition)
                views[task_id] = SchemaView.of(described.get("payload_schema"))
            except Exception:
                views[task_id] = None
    return views


def task_of_status(status: Any) -> str:
    """The task id of a DBOS status (its attributes, else its workflow name), never failing on an odd row."""
    try:
        return str(attributes_of(status.attributes).get("task") or "") or task_of_workflow(status.name)
    except Exception:
        return task_of_workflow(status.name)


def _to_run(
    status: Any,
    metadata: dict[str, Any] | None,
    now: float,
    schema: SchemaView | None = None,
    output_undecodable: bool = False,
    live: frozenset[str] | None = None,
    executors: frozenset[str] | None = None,
) -> Run:
    """What callers see of a stored run; a row that cannot be read whole still gives a Run, with `warnings`."""
    try:
        return _read_run(status, metadata, now, schema, output_undecodable, live, executors)
    except Exception as exc:  # a row no code path of ours wrote: show what is certain, never fail the page
        log.warning("run %s could not be read: %s", status.workflow_id, type(exc).__name__)
        return _placeholder(status.workflow_id, status.name, status.created_at, f"the stored run could not be read ({type(exc).__name__})")


def _placeholder(run_id: str, name: str | None, created_ms: Any, warning: str) -> Run:
    return Run(
        id=run_id,
        task_id=task_of_workflow(name) or "?",
        status=RunStatus.CRASHED,
        created_at=_dt(created_ms) or datetime.now(timezone.utc),
        warnings=[warning],
    )


def _read_run(
    status: Any,
    metadata: dict[str, Any] | None,
    now: float,
    schema: SchemaView | None,
    output_undecodable: bool,
    live: frozenset[str] | None,
    executors: frozenset[str] | None = None,
) -> Run:
    warnings: list[str] = []
    attrs = attributes_of(status.attributes)
    run_status = status_of_workflow(
        status.status, attrs, status.error, now, status.dequeued_at, status.app_version, live,
        executor_id=status.executor_id, live_executors=executors,
    )
    inputs = status.input
    args: tuple[Any, ...] | list[Any] = ()
    if isinstance(inputs, dict) and isinstance(inputs.get("args"), (list, tuple)):
        args = inputs["args"]
    elif inputs is not None:  # DBOS hands back the raw stored text when it cannot decode it: never show that
        warnings.append("the stored payload could not be decoded")
    # Masks scoped to this run: its payload's secrets, never another run's.
    secrets = collect_secrets(args[0], schema) if args else RunSecrets()
    error = None
    if isinstance(status.error, RunFailed):
        error = RunError(**redact(status.error.error, secrets=secrets))
    elif isinstance(status.error, BaseException):
        error = RunError.from_exception(status.error, secrets=secrets)
    elif status.error is not None:
        warnings.append("the stored error could not be decoded")
        error = RunError(type="UndecodableError", message="the stored error could not be decoded")
    elif run_status is RunStatus.EXPIRED:
        error = RunError(type="RunExpired", message="the run was not started before its ttl")
    elif run_status is RunStatus.CRASHED:
        error = _crash_error(status.status, attrs)
    run_options = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    started = status.dequeued_at if status.status not in ("ENQUEUED", "DELAYED") else None
    attempts = int(attrs.get("attempt") or (1 if started else 0))
    if isinstance(status.error, RunFailed):
        attempts = status.error.attempts
    final = run_status.is_final
    output = None
    if run_status is RunStatus.COMPLETED:
        if output_undecodable:
            warnings.append("the stored output could not be decoded")
            output = UNDECODABLE
        else:
            output = redact(status.output, secrets=secrets)
    for warning in warnings:
        log.warning("run %s: %s", status.workflow_id, warning)
    return Run(
        id=status.workflow_id,
        task_id=attrs.get("task") or task_of_workflow(status.name),
        status=run_status,
        # The stored payload must keep secrets (the run needs them); what callers see has them masked.
        payload=redact(args[0], secrets=secrets, schema=schema) if args else (UNDECODABLE if inputs is not None else None),
        output=output,
        error=error,
        attempts=attempts,
        metadata=redact(metadata if metadata is not None else dict(run_options.get("metadata") or {}), secrets=secrets),
        tags=[redact_text(str(t), secrets) for t in attrs.get("tags") or []],
        warnings=warnings,
        created_at=_dt(status.created_at) or datetime.now(timezone.utc),
        started_at=_dt(started),
        finished_at=_dt(status.completed_at or status.updated_at) if final else None,
        queue=status.queue_name,
        idempotency_key=attrs.get("idempotency_key"),
        concurrency_key=attrs.get("concurrency_key"),
        parent_id=attrs.get("parent_id") or status.parent_workflow_id,
        root_id=attrs.get("root_id"),
        delay_until=_dt(status.delay_until_epoch_ms),
        expires_at=datetime.fromtimestamp(attrs["expires_at"], timezone.utc) if attrs.get("expires_at") else None,
        executor_id=status.executor_id if started else None,
        version=status.app_version,
        triggered_version=attrs.get("version") or status.app_version,
        status_reason=_status_reason(run_status, status, live, attrs),
    )


def _crash_error(dbos_status: str, attrs: dict[str, Any]) -> RunError | None:
    """Why a run ended CRASHED without an error of its own: a worker ended it (its code version gone, its task no
    longer defined) or DBOS gave up recovering it."""
    if attrs.get("crash_reason"):
        # runs crashed before `crash_type` was recorded were all ended for a gone version
        return RunError(
            type=str(attrs.get("crash_type") or "WorkerVersionGone"),
            message=str(attrs["crash_reason"]),
            code=str(attrs.get("crash_code") or "VERSION_GONE"),
            retryable=False,
        )
    if dbos_status == MAX_RECOVERY_STATE:
        return RunError(
            type="RecoveryAttemptsExceeded",
            message="the run was started or recovered more times than DBOS allows without finishing (each time its "
            "worker died or could not run it); it is not recovered again",
            code="MAX_RECOVERY_ATTEMPTS",
            retryable=False,
        )
    return None


#: why a QUEUED run does not start when no worker at all is alive: without it, `sources introspect --wait` or a UI
#: watching the run just showed QUEUED for as long as nobody started a worker
NO_WORKER_REASON = "no worker is running: the run starts when one does (taskpack dev, or --local on the command that triggers it)"


def _status_reason(run_status: RunStatus, status: Any, live: frozenset[str] | None, attrs: dict[str, Any]) -> str | None:
    if run_status is RunStatus.WAITING_FOR_WORKER:
        return _waiting_reason(status, live, attrs)
    if run_status is RunStatus.QUEUED and live is not None and not live:
        return NO_WORKER_REASON
    return None


def _waiting_reason(status: Any, live: frozenset[str] | None, attrs: dict[str, Any]) -> str:
    """What a WAITING_FOR_WORKER run waits for, and what ends the wait."""
    executor_id, version = status.executor_id, status.app_version
    task_id = attrs.get("task") or task_of_workflow(status.name)
    who = f"its worker {executor_id}" if executor_id else "its worker"
    if executor_id is not None and attrs.get(UNRUNNABLE_ON) == executor_id:
        return (
            f"{who} does not define task {task_id!r}; a worker of version {version} that defines it takes it over "
            "(it ends CRASHED once no worker of that version has defined the task for the grace period)"
        )
    if live and version in live:
        return f"{who} stopped heartbeating; a living worker of version {version} resumes it from its recorded steps"
    return (
        f"{who} stopped heartbeating; a worker of version {version} that starts resumes it from its recorded steps "
        "(it ends CRASHED once that version has had no worker for the grace period)"
    )


def check_run_id(run_id: Any) -> str:
    """An id that cannot name a run is not looked up (PostgreSQL would reject a NUL or a lone surrogate in it)."""
    try:
        return check_text(run_id, "run_id", max_chars=MAX_RUN_ID_CHARS)
    except InputError:
        raise RunNotFoundError(run_id if isinstance(run_id, str) else repr(run_id)) from None




def load_statuses(backend: Backend, run_ids: list[str]) -> list[Any]:
    """DBOS's statuses of `run_ids`, in order; a row DBOS cannot load becomes a placeholder Run, not an error."""
    try:
        found = backend.dbos.load(run_ids)
    except Exception as exc:
        if len(run_ids) > 1:
            return [s for run_id in run_ids for s in load_statuses(backend, [run_id])]
        return _unreadable(backend, run_ids[0], exc)
    by_id = {s.workflow_id: s for s in found}
    return [by_id[i] for i in run_ids if i in by_id]


def _unreadable(backend: Backend, run_id: str, exc: BaseException) -> list[Any]:
    row = backend.dbos.name_and_created(run_id)
    if row is None:
        return []
    log.warning("run %s could not be loaded: %s", run_id, type(exc).__name__)
    return [_placeholder(run_id, row[0], row[1], f"the stored run could not be loaded ({type(exc).__name__})")]


def _undecodable_outputs(backend: Backend, statuses: list[Any]) -> set[str]:
    """Runs whose output DBOS could not decode: it then hands back the stored text itself, which may hold
    pickled secrets. A decoded string never equals its own serialized form, so equality tells them apart."""
    texts = {s.workflow_id: s.output for s in statuses if isinstance(s.output, str)}
    if not texts:
        return set()
    stored = backend.dbos.stored_outputs(list(texts))
    return {run_id for run_id, raw in stored.items() if raw is not None and raw == texts.get(run_id)}


def live_versions_now(backend: Backend, now: float) -> frozenset[str]:
    """The code versions living workers run (what tells QUEUED from PENDING_VERSION)."""
    return live_versions(backend.engine, now)


def live_executors_now(backend: Backend, now: float) -> frozenset[str]:
    """The executor ids of living workers (what tells EXECUTING from WAITING_FOR_WORKER)."""
    return live_executors(backend, now)


#: DBOS states of runs that ended: their run status does not depend on which workers live (dbos_adapter.run_status)
_ENDED_STATES = frozenset({"SUCCESS", "ERROR", "CANCELLED", MAX_RECOVERY_STATE})


def load_runs(
    backend: Backend, run_ids: list[str], now: float, live: frozenset[str] | None = None, executors: frozenset[str] | None = None
) -> list[Run]:
    """The runs as callers see them (secrets masked), in the order of `run_ids`; unknown ids are left out."""
    loaded = load_statuses(backend, run_ids)
    # Which workers live tells a queued run's and a started run's status apart (PENDING_VERSION, WAITING_FOR_WORKER);
    # a run that ended reads the same either way, and `runs.wait` reads exactly such a run: two queries less there.
    if any(not isinstance(s, Run) and s.status not in _ENDED_STATES for s in loaded):
        if live is None:
            live = live_versions_now(backend, now)
        if executors is None:
            executors = live_executors_now(backend, now)
    statuses = [s for s in loaded if not isinstance(s, Run)]
    meta = _stored_metadata(backend, [s.workflow_id for s in statuses])
    views = _schema_views(backend, {task_of_status(s) for s in statuses})
    undecodable = _undecodable_outputs(backend, statuses)
    return [
        s if isinstance(s, Run) else _to_run(s, meta.get(s.workflow_id), now, views.get(task_of_status(s)), s.workflow_id in undecodable, live, executors)
        for s in loaded
    ]


def retrieve_run(run_id: str, *, database_url: str | None = None) -> Run:
    run_id = check_run_id(run_id)
    found = load_runs(get_backend(database_url), [run_id], time.time())
    if not found:
        raise RunNotFoundError(run_id)
    return found[0]


#: `wait_for_run` looks at a run's status after POLL_MIN_S, then 1.5x later each time, at most every POLL_MAX_S; after
#: a run of this process ended, the next look comes after WAKE_POLL_S (see runtime/wakeups.py)
POLL_MIN_S = 0.01
POLL_MAX_S = 0.2
WAKE_POLL_S = 0.005
#: while the run executes in this process its end wakes the wait (twice: as its code returns and once DBOS recorded
#: the outcome), so the wait looks only this often meanwhile, as a safety net, and not at the first of those wakes.
#: Each look takes the GIL from the run it waits for: polling a 2,000-table introspection that way cost it ~2-5 ms
#: of ~165.
HERE_POLL_S = 1.0


def wait_for_run(run_id: str, timeout: float | None = None, *, database_url: str | None = None) -> Run:
    """Block until the run is final; raises TimeoutError after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = POLL_MIN_S
    run_id = check_run_id(run_id)
    backend = get_backend(database_url)
    seen = wakeups.generation()
    ended_here = False
    while True:
        if ended_here:  # its recorded end woke us: read it whole at once (it is final), not its status first
            ended_here = False
            run = retrieve_run(run_id, database_url=database_url)
            if run.status.is_final:
                return run
        # the status alone until it is final: a full read right after a trigger took the GIL from the worker thread
        # claiming the run in this process (~2 ms of an idle worker's ~10 ms trigger->start)
        status = peek_status(backend, run_id)
        if status.is_final:
            return retrieve_run(run_id, database_url=database_url)
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"run {run_id} still {status.value} after {timeout} s")
        while True:
            here = executing_here(run_id)
            pause = HERE_POLL_S if here else delay
            now = wakeups.wait(seen, pause if deadline is None else max(0.0, min(pause, deadline - time.monotonic())))
            if now == seen:
                delay = min(delay * 1.5, POLL_MAX_S)
                break
            seen, delay = now, WAKE_POLL_S  # a run of this process ended (maybe this one)
            still_here = here and executing_here(run_id)
            if not still_here or (deadline is not None and time.monotonic() >= deadline):
                ended_here = here and not still_here
                break
            # another run's end, or this one's code returning: it is unfinished until its recorded end wakes us; a
            # look now would only take the GIL from the thread recording it


def peek_status(backend: Backend, run_id: str) -> RunStatus:
    """The status alone, from one small query: what polling needs (payload and output are loaded once, at the end)."""
    row = backend.dbos.status_row(run_id)
    if row is None:
        raise RunNotFoundError(run_id)
    return row.status(time.time())  # an ERROR reads CRASHED here: final; the exact status comes from the full read

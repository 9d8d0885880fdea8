"""Inspecting and steering runs: retrieve, list, cancel, replay, wait, logs."""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from runtime import wakeups
from runtime.backend import WORKFLOW_PREFIX, Backend, get_backend
from runtime.definitions import get_task
from runtime.errors import InputError, RunError, RunFailed, RunNotFoundError
from runtime.limits import MAX_ID_CHARS, MAX_RUN_ID_CHARS, MAX_TASK_ID_CHARS, check_text
from runtime.models import LogEntry, Run, RunHandle, RunList, RunStatus
from runtime.payload_schema import SchemaView
from runtime.redaction import RunSecrets, collect_secrets, redact, redact_text
from runtime.status import map_status, status_clause
from runtime.store import run_logs, run_metadata, task_definitions

log = logging.getLogger("taskpack")
UNDECODABLE = "[could not be decoded]"


def _dt(ms: int | float | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms else None


def _attrs(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)


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


def _task_of(status: Any) -> str:
    try:
        return str(_attrs(status.attributes).get("task") or "") or (status.name or "").removeprefix(WORKFLOW_PREFIX)
    except Exception:
        return (status.name or "").removeprefix(WORKFLOW_PREFIX)


def _to_run(status: Any, metadata: dict[str, Any] | None, now: float, schema: SchemaView | None = None, output_undecodable: bool = False) -> Run:
    """What callers see of a stored run; a row that cannot be read whole still gives a Run, with `warnings`."""
    try:
        return _read_run(status, metadata, now, schema, output_undecodable)
    except Exception as exc:  # a row no code path of ours wrote: show what is certain, never fail the page
        log.warning("run %s could not be read: %s", status.workflow_id, type(exc).__name__)
        return _placeholder(status.workflow_id, status.name, status.created_at, f"the stored run could not be read ({type(exc).__name__})")


def _placeholder(run_id: str, name: str | None, created_ms: Any, warning: str) -> Run:
    return Run(
        id=run_id,
        task_id=(name or "").removeprefix(WORKFLOW_PREFIX) or "?",
        status=RunStatus.CRASHED,
        created_at=_dt(created_ms) or datetime.now(timezone.utc),
        warnings=[warning],
    )


def _read_run(status: Any, metadata: dict[str, Any] | None, now: float, schema: SchemaView | None, output_undecodable: bool) -> Run:
    warnings: list[str] = []
    attrs = _attrs(status.attributes)
    run_status = map_status(status.status, attrs, status.error, now, status.dequeued_at)
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
        task_id=attrs.get("task") or (status.name or "").removeprefix(WORKFLOW_PREFIX),
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
    )


def _encode_cursor(created_at: int, run_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at}|{run_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        created, run_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        check_text(run_id, "cursor", max_chars=MAX_RUN_ID_CHARS)
        return int(created), run_id
    except Exception:
        shown = cursor[:40] + "…" if isinstance(cursor, str) and len(cursor) > 40 else cursor
        raise InputError(f"cursor: invalid cursor {shown!r}", field="cursor") from None


def _check_run_id(run_id: Any) -> str:
    """An id that cannot name a run is not looked up (PostgreSQL would reject a NUL or a lone surrogate in it)."""
    try:
        return check_text(run_id, "run_id", max_chars=MAX_RUN_ID_CHARS)
    except InputError:
        raise RunNotFoundError(run_id if isinstance(run_id, str) else repr(run_id)) from None


def _filter_values(value: Any, field: str, max_chars: int) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [check_text(v, field, max_chars=max_chars) for v in values]


#: `wait` looks at a run's status after POLL_MIN_S, then 1.5x later each time, at most every POLL_MAX_S; after a run of
#: this process ended, the next look comes after WAKE_POLL_S (see runtime/wakeups.py)
POLL_MIN_S = 0.01
POLL_MAX_S = 0.2
WAKE_POLL_S = 0.005


class Runs:
    def _statuses(self, backend: Backend, run_ids: list[str]) -> list[Any]:
        """DBOS's statuses of `run_ids`, in order; a row DBOS cannot load becomes a placeholder Run, not an error."""
        try:
            found = backend.client.list_workflows(workflow_ids=run_ids, load_input=True, load_output=True)
        except Exception as exc:
            if len(run_ids) > 1:
                return [s for run_id in run_ids for s in self._statuses(backend, [run_id])]
            return self._unreadable(backend, run_ids[0], exc)
        by_id = {s.workflow_id: s for s in found}
        return [by_id[i] for i in run_ids if i in by_id]

    @staticmethod
    def _unreadable(backend: Backend, run_id: str, exc: BaseException) -> list[Any]:
        ws = backend.workflows
        with backend.sys_engine.connect() as conn:
            row = conn.execute(sa.select(ws.c.name, ws.c.created_at).where(ws.c.workflow_uuid == run_id)).first()
        if row is None:
            return []
        log.warning("run %s could not be loaded: %s", run_id, type(exc).__name__)
        return [_placeholder(run_id, row[0], row[1], f"the stored run could not be loaded ({type(exc).__name__})")]

    @staticmethod
    def _undecodable_outputs(backend: Backend, statuses: list[Any]) -> set[str]:
        """Runs whose output DBOS could not decode: it then hands back the stored text itself, which may hold
        pickled secrets. A decoded string never equals its own serialized form, so equality tells them apart."""
        texts = {s.workflow_id: s.output for s in statuses if isinstance(s.output, str)}
        if not texts:
            return set()
        ws = backend.workflows
        with backend.sys_engine.connect() as conn:
            rows = conn.execute(sa.select(ws.c.workflow_uuid, ws.c.output).where(ws.c.workflow_uuid.in_(list(texts)))).all()
        return {run_id for run_id, raw in rows if raw is not None and raw == texts.get(run_id)}

    def _load(self, backend: Backend, run_ids: list[str], now: float) -> list[Run]:
        loaded = self._statuses(backend, run_ids)
        statuses = [s for s in loaded if not isinstance(s, Run)]
        meta = _stored_metadata(backend, [s.workflow_id for s in statuses])
        views = _schema_views(backend, {_task_of(s) for s in statuses})
        undecodable = self._undecodable_outputs(backend, statuses)
        return [
            s if isinstance(s, Run) else _to_run(s, meta.get(s.workflow_id), now, views.get(_task_of(s)), s.workflow_id in undecodable)
            for s in loaded
        ]

    def retrieve(self, run_id: str, *, database_url: str | None = None) -> Run:
        run_id = _check_run_id(run_id)
        backend = get_backend(database_url)
        found = self._load(backend, [run_id], time.time())
        if not found:
            raise RunNotFoundError(run_id)
        return found[0]

    def list(
        self,
        *,
        status: RunStatus | str | list[RunStatus | str] | None = None,
        task_id: str | list[str] | None = None,
        tag: str | list[str] | None = None,
        limit: int = 50,
        cursor: str | None = None,
        database_url: str | None = None,
    ) -> RunList:
        """Newest first. `tag` with several values matches runs having any of them; `cursor` is the last page's next_cursor."""
        if not 1 <= limit <= 500:
            raise ValueError("limit must be between 1 and 500")
        backend = get_backend(database_url)
        ws = backend.workflows
        now = time.time()
        query = sa.select(ws.c.workflow_uuid, ws.c.created_at).where(ws.c.name.like(f"{WORKFLOW_PREFIX}%"))
        if status is not None:
            wanted = [RunStatus(s) for s in (status if isinstance(status, list) else [status])]
            query = query.where(sa.or_(*[status_clause(ws, s, now) for s in wanted]))
        if task_id is not None:
            ids = _filter_values(task_id, "task_id", MAX_TASK_ID_CHARS)
            query = query.where(ws.c.name.in_([WORKFLOW_PREFIX + t for t in ids]))
        if tag is not None:
            query = query.where(self._tag_clause(backend, _filter_values(tag, "tag", MAX_ID_CHARS)))
        if cursor:
            created, last_id = _decode_cursor(cursor)
            query = query.where(sa.or_(ws.c.created_at < created, sa.and_(ws.c.created_at == created, ws.c.workflow_uuid < last_id)))
        query = query.order_by(ws.c.created_at.desc(), ws.c.workflow_uuid.desc()).limit(limit + 1)
        with backend.sys_engine.connect() as conn:
            rows = conn.execute(query).all()
        page, more = rows[:limit], len(rows) > limit
        data = self._load(backend, [r[0] for r in page], now) if page else []
        return RunList(data=data, next_cursor=_encode_cursor(page[-1][1], page[-1][0]) if more and page else None)

    @staticmethod
    def _tag_clause(backend: Backend, tags: list[str]) -> sa.ColumnElement[bool]:
        ws = backend.workflows
        if backend.is_sqlite:
            each = sa.func.json_each(ws.c.attributes, "$.tags").table_valued("value")
            return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value.in_(tags)))
        from sqlalchemy.dialects.postgresql import JSONB

        attrs = sa.type_coerce(ws.c.attributes, JSONB)
        return sa.or_(*[attrs.contains({"tags": [t]}) for t in tags])

    def cancel(self, run_id: str, *, database_url: str | None = None) -> Run:
        """Cancel a run and its child runs. A queued run never starts; an executing attempt is stopped and cleaned up."""
        run_id = _check_run_id(run_id)
        backend = get_backend(database_url)
        run = self.retrieve(run_id, database_url=database_url)
        if run.is_final:
            return run
        backend.client.cancel_workflow(run_id, cancel_children=True)
        from runtime.execution import running

        ctx = running.get(run_id)
        if ctx is not None:  # executing in this very process: no need to wait for the monitor's poll
            ctx.signal_cancel("canceled")
        return self.retrieve(run_id, database_url=database_url)

    def replay(self, run_id: str, *, database_url: str | None = None) -> RunHandle:
        """A new run of the same task with the same payload and tags.

        Encrypted payload fields are re-used as stored; they are decrypted here only to validate the payload again, so
        a replay needs the key they were written with (current or TASKPACK_SECRET_KEY_PREVIOUS).
        """
        from runtime.triggering import replaying, tasks

        run_id = _check_run_id(run_id)
        backend = get_backend(database_url)
        found = self._statuses(backend, [run_id])
        if not found:
            raise RunNotFoundError(run_id)
        status = found[0]
        inputs = None if isinstance(status, Run) else status.input
        if not (isinstance(inputs, dict) and isinstance(inputs.get("args"), (list, tuple))):
            raise InputError(f"run {run_id}: its stored payload could not be decoded, so it cannot be replayed", field="run_id")
        args = inputs["args"]
        tags = list(_attrs(status.attributes).get("tags") or [])
        with replaying():  # the stored payload's encrypted fields go back as they are (runtime.sealing)
            return tasks.trigger(_task_of(status), args[0] if args else None, tags=tags or None, database_url=database_url)

    def wait(self, run_id: str, timeout: float | None = None, *, database_url: str | None = None) -> Run:
        """Block until the run is final; raises TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = POLL_MIN_S
        run_id = _check_run_id(run_id)
        backend = get_backend(database_url)
        seen = wakeups.generation()
        run = self.retrieve(run_id, database_url=database_url)  # often final already: one full read, no polling
        if run.is_final:
            return run
        while True:
            status = self._peek(backend, run_id)
            if status.is_final:
                return self.retrieve(run_id, database_url=database_url)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} still {status.value} after {timeout} s")
            now = wakeups.wait(seen, delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            if now != seen:  # a run of this process ended (maybe this one): DBOS records its status right after
                seen, delay = now, WAKE_POLL_S
            else:
                delay = min(delay * 1.5, POLL_MAX_S)

    @staticmethod
    def _peek(backend: Backend, run_id: str) -> RunStatus:
        """The status alone, from one small query: what polling needs (payload and output are loaded once, at the end)."""
        ws = backend.workflows
        with backend.sys_engine.connect() as conn:
            row = conn.execute(
                sa.select(ws.c.status, ws.c.attributes, ws.c.started_at_epoch_ms).where(ws.c.workflow_uuid == run_id)
            ).first()
        if row is None:
            raise RunNotFoundError(run_id)
        if row[0] == "ERROR":
            return RunStatus.FAILED  # final; the exact terminal status comes from the full retrieve
        return map_status(row[0], _attrs(row[1]), None, time.time(), row[2])

    def changed_since(
        self, since: float, *, after_id: str | None = None, limit: int = 200, database_url: str | None = None
    ) -> "RunChanges":
        """Runs whose status or attributes changed at or after `since` (epoch seconds), oldest change first.

        For watchers outside the worker (the API's webhook events): every transition DBOS records (enqueued,
        dequeued, attempt, finished, canceled) moves a run's change time. Times have the database's resolution (one
        second on SQLite), and a transaction may commit a change stamped earlier than one already read, so a watcher
        re-reads a few seconds before its watermark and dedupes. `next` is `(since, after_id)` for the next page.
        """
        if not 1 <= limit <= 500:
            raise ValueError("limit must be between 1 and 500")
        backend = get_backend(database_url)
        ws = backend.workflows
        since_ms = round(since * 1000)
        query = sa.select(ws.c.workflow_uuid, ws.c.updated_at).where(ws.c.name.like(f"{WORKFLOW_PREFIX}%"))
        if after_id is None:
            query = query.where(ws.c.updated_at >= since_ms)
        else:
            query = query.where(
                sa.or_(ws.c.updated_at > since_ms, sa.and_(ws.c.updated_at == since_ms, ws.c.workflow_uuid > after_id))
            )
        query = query.order_by(ws.c.updated_at, ws.c.workflow_uuid).limit(limit + 1)
        with backend.sys_engine.connect() as conn:
            rows = conn.execute(query).all()
        page, more = rows[:limit], len(rows) > limit
        data = self._load(backend, [r[0] for r in page], time.time()) if page else []
        until = page[-1][1] / 1000 if page and page[-1][1] is not None else None
        return RunChanges(data=data, updated_until=until, next=(page[-1][1] / 1000, page[-1][0]) if more else None)

    def logs(self, run_id: str, *, database_url: str | None = None) -> list[LogEntry]:
        run_id = _check_run_id(run_id)
        backend = get_backend(database_url)
        with backend.engine.connect() as conn:
            rows = conn.execute(sa.select(run_logs).where(run_logs.c.run_id == run_id).order_by(run_logs.c.id)).mappings().all()
        return [
            LogEntry(
                run_id=r["run_id"],
                attempt=r["attempt"],
                level=r["level"],
                message=r["message"],
                fields=r["fields"] or {},
                created_at=datetime.fromtimestamp(r["created_at"], timezone.utc),
            )
            for r in rows
        ]


class RunChanges(BaseModel):
    """A page of `runs.changed_since`: the runs, the latest change time read, and where the next page starts."""

    data: list[Run]
    updated_until: float | None = None
    next: tuple[float, str] | None = None


runs = Runs()

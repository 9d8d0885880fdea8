"""Inspecting and steering runs: retrieve, list, cancel, replay, wait, logs."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from runtime.backend import WORKFLOW_PREFIX, Backend, get_backend
from runtime.errors import RunError, RunFailed, RunNotFoundError
from runtime.models import LogEntry, Run, RunHandle, RunList, RunStatus
from runtime.redaction import redact
from runtime.status import map_status, status_clause
from runtime.store import run_logs, run_metadata


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
    return {r[0]: json.loads(r[1]) for r in rows}


def _to_run(status: Any, metadata: dict[str, Any] | None, now: float) -> Run:
    attrs = _attrs(status.attributes)
    run_status = map_status(status.status, attrs, status.error, now, status.dequeued_at)
    error = None
    if isinstance(status.error, RunFailed):
        error = RunError(**status.error.error)
    elif status.error is not None:
        error = RunError.from_exception(status.error)
    elif run_status is RunStatus.EXPIRED:
        error = RunError(type="RunExpired", message="the run was not started before its ttl")
    args = (status.input or {}).get("args") or ()
    run_options = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    started = status.dequeued_at if status.status not in ("ENQUEUED", "DELAYED") else None
    attempts = int(attrs.get("attempt") or (1 if started else 0))
    if isinstance(status.error, RunFailed):
        attempts = status.error.attempts
    final = run_status.is_final
    return Run(
        id=status.workflow_id,
        task_id=attrs.get("task") or (status.name or "").removeprefix(WORKFLOW_PREFIX),
        status=run_status,
        # The stored payload must keep secrets (the run needs them); what callers see has them masked.
        payload=redact(args[0]) if args else None,
        output=redact(status.output) if run_status is RunStatus.COMPLETED else None,
        error=error,
        attempts=attempts,
        metadata=metadata if metadata is not None else dict(run_options.get("metadata") or {}),
        tags=list(attrs.get("tags") or []),
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
        return int(created), run_id
    except Exception:
        raise ValueError(f"invalid cursor {cursor!r}") from None


class Runs:
    def _statuses(self, backend: Backend, run_ids: list[str]) -> list[Any]:
        found = backend.client.list_workflows(workflow_ids=run_ids, load_input=True, load_output=True)
        by_id = {s.workflow_id: s for s in found}
        return [by_id[i] for i in run_ids if i in by_id]

    def retrieve(self, run_id: str, *, database_url: str | None = None) -> Run:
        backend = get_backend(database_url)
        found = self._statuses(backend, [run_id])
        if not found:
            raise RunNotFoundError(run_id)
        meta = _stored_metadata(backend, [run_id])
        return _to_run(found[0], meta.get(run_id), time.time())

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
            ids = task_id if isinstance(task_id, list) else [task_id]
            query = query.where(ws.c.name.in_([WORKFLOW_PREFIX + t for t in ids]))
        if tag is not None:
            query = query.where(self._tag_clause(backend, tag if isinstance(tag, list) else [tag]))
        if cursor:
            created, last_id = _decode_cursor(cursor)
            query = query.where(sa.or_(ws.c.created_at < created, sa.and_(ws.c.created_at == created, ws.c.workflow_uuid < last_id)))
        query = query.order_by(ws.c.created_at.desc(), ws.c.workflow_uuid.desc()).limit(limit + 1)
        with backend.sys_engine.connect() as conn:
            rows = conn.execute(query).all()
        page, more = rows[:limit], len(rows) > limit
        ids = [r[0] for r in page]
        meta = _stored_metadata(backend, ids)
        data = [_to_run(s, meta.get(s.workflow_id), now) for s in self._statuses(backend, ids)]
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
        """A new run of the same task with the same payload and tags."""
        from runtime.triggering import tasks

        backend = get_backend(database_url)
        found = self._statuses(backend, [run_id])
        if not found:
            raise RunNotFoundError(run_id)
        run = _to_run(found[0], {}, time.time())
        args = (found[0].input or {}).get("args") or ()
        return tasks.trigger(run.task_id, args[0] if args else None, tags=run.tags or None, database_url=database_url)

    def wait(self, run_id: str, timeout: float | None = None, *, database_url: str | None = None) -> Run:
        """Block until the run is final; raises TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.01
        backend = get_backend(database_url)
        run = self.retrieve(run_id, database_url=database_url)  # often final already: one full read, no polling
        if run.is_final:
            return run
        while True:
            status = self._peek(backend, run_id)
            if status.is_final:
                return self.retrieve(run_id, database_url=database_url)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} still {status.value} after {timeout} s")
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.2)

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

    def logs(self, run_id: str, *, database_url: str | None = None) -> list[LogEntry]:
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


runs = Runs()

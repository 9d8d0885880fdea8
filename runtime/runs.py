"""Inspecting and steering runs: retrieve, list, cancel, replay, wait, logs."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from runtime.backend import get_backend
from runtime.context import running
from runtime.dbos_adapter import ListFilter, attributes_of
from runtime.errors import InputError, RunNotFoundError
from runtime.handles import RunHandle
from runtime.limits import MAX_ID_CHARS, MAX_RUN_ID_CHARS, MAX_TASK_ID_CHARS, check_text
from runtime.models import LogEntry, Run, RunList, RunStatus
from runtime.run_reader import check_run_id, live_executors_now, live_versions_now, load_runs, load_statuses, retrieve_run, task_of_status, wait_for_run
from runtime.store import run_logs
from runtime.triggering import replaying, tasks


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


def _statuses(value: Any) -> list[RunStatus]:
    statuses = []
    for item in value if isinstance(value, list) else [value]:
        try:
            statuses.append(RunStatus(item))
        except ValueError:
            raise InputError(f"status: not a run status; expected one of {', '.join(s.value for s in RunStatus)}", field="status") from None
    return statuses


def _filter_values(value: Any, field: str, max_chars: int) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [check_text(v, field, max_chars=max_chars) for v in values]


class Runs:
    def retrieve(self, run_id: str, *, database_url: str | None = None) -> Run:
        return retrieve_run(run_id, database_url=database_url)

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
        now = time.time()
        wanted = ListFilter(
            statuses=_statuses(status) if status is not None else None,
            task_ids=_filter_values(task_id, "task_id", MAX_TASK_ID_CHARS) if task_id is not None else None,
            tags=_filter_values(tag, "tag", MAX_ID_CHARS) if tag is not None else None,
            before=_decode_cursor(cursor) if cursor else None,
            limit=limit,
        )
        live, executors = live_versions_now(backend, now), live_executors_now(backend, now)
        rows = backend.dbos.list_page(wanted, now, live, executors)
        page, more = rows[:limit], len(rows) > limit
        data = load_runs(backend, [r[0] for r in page], now, live, executors) if page else []
        return RunList(data=data, next_cursor=_encode_cursor(page[-1][1], page[-1][0]) if more and page else None)

    def cancel(self, run_id: str, *, database_url: str | None = None) -> Run:
        """Cancel a run and its child runs. A queued run never starts; an executing attempt is stopped and cleaned up."""
        run_id = check_run_id(run_id)
        backend = get_backend(database_url)
        run = self.retrieve(run_id, database_url=database_url)
        if run.is_final:
            return run
        backend.dbos.cancel(run_id, children=True)
        ctx = running.get(run_id)
        if ctx is not None:  # executing in this very process: no need to wait for the monitor's poll
            ctx.signal_cancel("canceled")
        return self.retrieve(run_id, database_url=database_url)

    def replay(self, run_id: str, *, database_url: str | None = None) -> RunHandle:
        """A new run of the same task with the same payload and tags.

        Encrypted payload fields are re-used as stored; they are decrypted here only to validate the payload again, so
        a replay needs the key they were written with (current or TASKPACK_SECRET_KEY_PREVIOUS).
        """
        run_id = check_run_id(run_id)
        backend = get_backend(database_url)
        found = load_statuses(backend, [run_id])
        if not found:
            raise RunNotFoundError(run_id)
        status = found[0]
        inputs = None if isinstance(status, Run) else status.input
        if not (isinstance(inputs, dict) and isinstance(inputs.get("args"), (list, tuple))):
            raise InputError(f"run {run_id}: its stored payload could not be decoded, so it cannot be replayed", field="run_id")
        args = inputs["args"]
        tags = list(attributes_of(status.attributes).get("tags") or [])
        task_id = task_of_status(status)
        with replaying():  # the stored payload's encrypted fields go back as they are (runtime.sealing)
            return tasks.trigger(task_id, args[0] if args else None, tags=tags or None, database_url=database_url)

    def wait(self, run_id: str, timeout: float | None = None, *, database_url: str | None = None) -> Run:
        """Block until the run is final; raises TimeoutError after `timeout` seconds."""
        return wait_for_run(run_id, timeout, database_url=database_url)

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
        rows = backend.dbos.changed_page(round(since * 1000), after_id, limit)
        page, more = rows[:limit], len(rows) > limit
        data = load_runs(backend, [r[0] for r in page], time.time()) if page else []
        until = page[-1][1] / 1000 if page and page[-1][1] is not None else None
        return RunChanges(data=data, updated_until=until, next=(page[-1][1] / 1000, page[-1][0]) if more else None)

    def change_markers(self, run_ids: list[str], *, database_url: str | None = None) -> dict[str, tuple[str, int, str]]:
        """A cheap fingerprint per run that moves with every change of its status or attributes: (engine status, changed
        at ms, attributes' text and version). Watchers
        (the API's realtime streams) compare it between polls and load the whole run only when it moved."""
        backend = get_backend(database_url)
        return backend.dbos.change_markers(list(run_ids), live_executors_now(backend, time.time()))

    def tagged_unfinished_or_new(self, tags: list[str], created_since: float, *, database_url: str | None = None) -> set[str]:
        """Ids of runs with any of `tags` that are unfinished or were created at/after `created_since` (epoch s)."""
        return get_backend(database_url).dbos.tagged_unfinished_or_new(sorted(tags), round(created_since * 1000))

    def logs(self, run_id: str, *, database_url: str | None = None) -> list[LogEntry]:
        run_id = check_run_id(run_id)
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

"""Run events for webhooks, read from the runs' status changes in the API process (the runtime knows nothing of it).

One `EventEmitter` per API process polls the runs changed since its watermark (`runs.changed_since`) and, for each
enabled endpoint subscribed to the event, inserts one message per (endpoint, run, event) and triggers its delivery
run with the message id as idempotency key:

- `run.started` once a run has started; `run.completed`; `run.failed` (FAILED, TIMED_OUT, CRASHED, EXPIRED: `data.status`
  says which); `run.canceled`. A run that started and ended between two polls gets both events, except a canceled
  one: the run store forgets a canceled run's start time, so it gets `run.canceled` alone.
- Exactly once per endpoint, whatever happens: the message's unique (endpoint, run, event) makes a re-read window, a
  restarted process or several API processes on one PostgreSQL database insert it once; a message whose delivery run
  was not recorded (the process stopped in between) is triggered again by the next poll, and its idempotency key
  maps it to the same delivery run if the first trigger did reach the database.
- The watermark is stored (`store_webhook_cursors`): events of runs that changed while no API process was up are
  sent when one starts again. Each poll re-reads a few seconds before it, because a transaction may commit a change
  stamped earlier than one already read.
- Only runs created after the endpoint (to the second: SQLite's resolution): registering an endpoint does not replay history to it. Never the delivery
  runs themselves (a webhook about a webhook would loop).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import runtime
from runtime import RunStatus
from store import webhooks as registry
from api.webhooks.tasks.delivery import TASK_ID as DELIVERY_TASK_ID
from api.webhooks.settings import retry_delays

log = logging.getLogger("taskpack.webhooks")

CURSOR = "run-events"
OVERLAP_S = 3.0
PAGE = 200
REDISPATCH_AFTER_S = 10.0  # a message this old without a delivery run lost it (its process stopped in between)
CREATED_SLACK = timedelta(seconds=1)  # DBOS keeps SQLite creation times to the second
MAX_BODY_BYTES = 256 * 1024
FAILED = {RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.CRASHED, RunStatus.EXPIRED}


def events_of(run: runtime.Run) -> list[str]:
    """The events a run in its current state has produced, in the order they happened."""
    found = []
    if run.started_at is not None and run.status not in (RunStatus.QUEUED, RunStatus.PENDING_VERSION, RunStatus.DELAYED):
        found.append("run.started")
    if run.status is RunStatus.COMPLETED:
        found.append("run.completed")
    elif run.status in FAILED:
        found.append("run.failed")
    elif run.status is RunStatus.CANCELED:
        found.append("run.canceled")
    return found


def event_body(event: str, run: runtime.Run, now: float | None = None) -> str:
    """`{"type", "timestamp", "data": run}`: the run as the API shows it (secrets masked); payload and output are
    left out (with `truncated`) when they would make the body larger than 256 KB."""
    from api.schemas import run_json

    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now or time.time())) + "Z"
    data = run_json(run)
    body = json.dumps({"type": event, "timestamp": stamp, "data": data}, separators=(",", ":"), default=str)
    if len(body.encode()) > MAX_BODY_BYTES:
        data = {**data, "payload": None, "output": None, "truncated": True}
        body = json.dumps({"type": event, "timestamp": stamp, "data": data}, separators=(",", ":"), default=str)
    return body


class EventEmitter:
    """Polls run changes and emits webhook messages; `poll_once` is the whole job, `start` runs it in a thread."""

    def __init__(self, database_url: str | None = None, interval: float = 0.5) -> None:
        self.database_url = database_url
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "EventEmitter":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="taskpack-webhook-events", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> "EventEmitter":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # a database hiccup must not end the emitter: the next poll re-reads
                log.warning("webhook events: %s: %s", type(exc).__name__, exc)
            self._stop.wait(self.interval)

    def poll_once(self) -> int:
        """Emit what changed since the watermark; returns how many messages were created."""
        now = time.time()
        url = self.database_url
        watermark = registry.read_cursor(CURSOR, database_url=url)
        if watermark is None:  # first start: from now on, not the database's whole history
            registry.write_cursor(CURSOR, now, database_url=url)
            return 0
        endpoints = [e for e in registry.list_endpoints(database_url=url) if e.enabled]
        created = self._redispatch(now)
        if not endpoints:
            registry.write_cursor(CURSOR, now - OVERLAP_S, database_url=url)
            return created
        since = watermark - OVERLAP_S
        after_id = None
        latest = since
        while True:
            page = runtime.runs.changed_since(since, after_id=after_id, limit=PAGE, database_url=url)
            for run in page.data:
                created += self._emit(run, endpoints)
            if page.updated_until is not None:
                latest = max(latest, page.updated_until)
            if page.next is None:
                break
            since, after_id = page.next
        # nothing changed for a while: move on anyway, so each poll reads a window of seconds, not all since then
        registry.write_cursor(CURSOR, min(max(latest, watermark, now - OVERLAP_S), now), database_url=url)
        return created

    def _emit(self, run: runtime.Run, endpoints: list[registry.Endpoint]) -> int:
        if run.task_id == DELIVERY_TASK_ID:
            return 0
        created = 0
        for event in events_of(run):
            for endpoint in endpoints:
                if event not in endpoint.events or run.created_at < endpoint.created_at - CREATED_SLACK:
                    continue
                message_id = registry.add_message(endpoint.id, event, run.id, event_body(event, run), database_url=self.database_url)
                if message_id is not None:
                    self._dispatch(message_id)
                    created += 1
        return created

    def _dispatch(self, message_id: str) -> None:
        delays = list(retry_delays())
        handle = runtime.tasks.trigger(
            DELIVERY_TASK_ID,
            {"message_id": message_id, "retry_delays": delays},
            idempotency_key=f"webhook:{message_id}",
            max_attempts=len(delays) + 1,
            tags=["webhook"],
            database_url=self.database_url,
        )
        registry.set_delivery_run(message_id, handle.id, database_url=self.database_url)

    def _redispatch(self, now: float) -> int:
        stale = registry.undispatched_messages(now - REDISPATCH_AFTER_S, database_url=self.database_url)
        for message_id in stale:
            self._dispatch(message_id)
        return len(stale)

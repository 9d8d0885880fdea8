"""Mapping DBOS workflow states onto Trigger.dev run statuses, in Python and as SQL filters.

DBOS knows ENQUEUED/DELAYED/PENDING/SUCCESS/ERROR/CANCELLED/MAX_RECOVERY_ATTEMPTS_EXCEEDED. The finer statuses come
from the workflow's attributes, which the runtime sets only on the paths that need them: `outcome` for a run that
ended FAILED, TIMED_OUT or EXPIRED, `waiting` while a run waits on child runs.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from runtime.errors import RunFailed
from runtime.models import RunStatus

_TERMINAL_OUTCOMES = {RunStatus.FAILED.value, RunStatus.TIMED_OUT.value, RunStatus.EXPIRED.value}


def map_status(
    dbos_status: str,
    attributes: dict[str, Any] | None,
    error: Any = None,
    now: float | None = None,
    dequeued_at_ms: int | None = None,
) -> RunStatus:
    attrs = attributes or {}
    outcome = attrs.get("outcome")
    if outcome in _TERMINAL_OUTCOMES and dbos_status in ("ERROR", "CANCELLED", "SUCCESS"):
        return RunStatus(outcome)
    if dbos_status in ("ENQUEUED", "DELAYED"):
        expires_at = attrs.get("expires_at")
        if expires_at is not None and (now or time.time()) > float(expires_at):
            return RunStatus.EXPIRED
        return RunStatus.QUEUED if dbos_status == "ENQUEUED" else RunStatus.DELAYED
    if dbos_status == "PENDING":
        expires_at = attrs.get("expires_at")
        if expires_at is not None and dequeued_at_ms and dequeued_at_ms / 1000 > float(expires_at):
            return RunStatus.EXPIRED  # picked up after its ttl: the run's first step ends it EXPIRED
        return RunStatus.WAITING if attrs.get("waiting") else RunStatus.EXECUTING
    if dbos_status == "SUCCESS":
        return RunStatus.COMPLETED
    if dbos_status == "CANCELLED":
        return RunStatus.CANCELED
    if dbos_status == "ERROR":
        if isinstance(error, RunFailed):
            return RunStatus(error.status)
        return RunStatus.CRASHED
    return RunStatus.CRASHED  # MAX_RECOVERY_ATTEMPTS_EXCEEDED and anything unknown


def status_clause(ws: sa.Table, status: RunStatus, now: float) -> sa.ColumnElement[bool]:
    """A WHERE clause on DBOS's workflow_status table selecting runs in `status`."""
    attrs = ws.c.attributes
    outcome = attrs["outcome"].as_string()
    expires = attrs["expires_at"].as_float()
    waiting = attrs["waiting"].as_boolean()
    not_expired = sa.or_(expires.is_(None), expires >= now)
    late_start = sa.and_(expires.is_not(None), ws.c.started_at_epoch_ms > expires * 1000)
    running = sa.and_(ws.c.status == "PENDING", sa.not_(late_start))
    match status:
        case RunStatus.QUEUED:
            return sa.and_(ws.c.status == "ENQUEUED", not_expired)
        case RunStatus.DELAYED:
            return sa.and_(ws.c.status == "DELAYED", not_expired)
        case RunStatus.EXECUTING:
            return sa.and_(running, sa.or_(waiting.is_(None), waiting == sa.false()))
        case RunStatus.WAITING:
            return sa.and_(running, waiting == sa.true())
        case RunStatus.COMPLETED:
            return sa.and_(ws.c.status == "SUCCESS", outcome.is_(None))
        case RunStatus.CANCELED:
            return sa.and_(ws.c.status == "CANCELLED", sa.or_(outcome.is_(None), outcome != RunStatus.EXPIRED.value))
        case RunStatus.EXPIRED:
            return sa.or_(
                outcome == RunStatus.EXPIRED.value,
                sa.and_(ws.c.status.in_(["ENQUEUED", "DELAYED"]), expires < now),
                sa.and_(ws.c.status == "PENDING", late_start),
            )
        case RunStatus.FAILED | RunStatus.TIMED_OUT:
            return sa.and_(ws.c.status == "ERROR", outcome == status.value)
        case RunStatus.CRASHED:
            return sa.or_(
                ws.c.status == "MAX_RECOVERY_ATTEMPTS_EXCEEDED",
                sa.and_(ws.c.status == "ERROR", outcome.is_(None)),
            )
    raise ValueError(status)

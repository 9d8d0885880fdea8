"""Executor ids: which worker process holds which id, claimed race-free and kept by heartbeats.

DBOS resumes the unfinished runs of its executor id when it launches, so two living processes on one id would
both execute the same runs (every step twice). A worker therefore holds its id through a row in
`taskpack_workers` that it refreshes while alive, and an id is only taken over once that heartbeat is older than
`dead_after`: the dead worker's runs then resume in the new holder, which is what a restart on the same slot is for.

A holding is identified by (hostname, pid, started_at), so a worker only ever refreshes or releases its own row,
never the row of a worker that took the id over after it fell silent.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from runtime.backend import Backend
from runtime.config import load_config
from runtime.errors import TaskpackError
from runtime.store import workers_table

SLOTS_PER_HOST = 256
_CLAIM_ATTEMPTS = 5


class ExecutorIdInUseError(TaskpackError, RuntimeError):
    """The executor id is held by a worker that is still heartbeating (or no slot on this host is free)."""

    def __init__(self, executor_id: str, message: str, *, hostname: str | None = None, pid: int | None = None) -> None:
        super().__init__(message)
        self.executor_id = executor_id
        self.hostname = hostname
        self.pid = pid

    @classmethod
    def held(cls, executor_id: str, hostname: str, pid: int, silent_for: float, dead_after: float) -> "ExecutorIdInUseError":
        return cls(
            executor_id,
            f"executor id {executor_id!r} is held by a living worker (pid {pid} on {hostname}, last heartbeat "
            f"{max(silent_for, 0.0):.1f}s ago): stop that worker or use another executor id; an id is free again "
            f"once its worker has been silent for {dead_after:g}s",
            hostname=hostname,
            pid=pid,
        )


@dataclass(frozen=True)
class ExecutorClaim:
    """This process's holding of an executor id."""

    executor_id: str
    hostname: str
    pid: int
    started_at: float

    def owns(self) -> Any:
        """SQL condition matching this holding's row and no other."""
        t = workers_table.c
        return sa.and_(t.executor_id == self.executor_id, t.hostname == self.hostname, t.pid == self.pid, t.started_at == self.started_at)


def claim_executor_id(
    backend: Backend, executor_id: str, *, dead_after: float, concurrency: int, tasks: list[str], version: str | None = None
) -> ExecutorClaim:
    """Take `executor_id` if no worker holds it or its holder has been silent longer than `dead_after` seconds.

    Race-free: the row's primary key settles two claims of a free id, and taking over a silent holder's row is a
    compare-and-set on that row as read, so of two workers claiming at the same moment exactly one gets the id.
    """
    for _ in range(_CLAIM_ATTEMPTS):
        now = time.time()
        claim = ExecutorClaim(executor_id, socket.gethostname(), os.getpid(), now)
        values = {
            "hostname": claim.hostname, "pid": claim.pid, "concurrency": concurrency, "tasks": tasks,
            "started_at": now, "last_seen_at": now, "alive_until": now + dead_after, "version": version,
        }
        with backend.engine.connect() as conn:
            holder = conn.execute(
                sa.select(workers_table.c.hostname, workers_table.c.pid, workers_table.c.started_at, workers_table.c.last_seen_at)
                .where(workers_table.c.executor_id == executor_id)
            ).first()
        if holder is None:
            try:
                with backend.engine.begin() as conn:
                    conn.execute(sa.insert(workers_table).values(executor_id=executor_id, **values))
            except sa.exc.IntegrityError:
                continue  # another worker inserted it first: read its row
            return claim
        silent_for = now - holder.last_seen_at
        if silent_for <= dead_after:
            raise ExecutorIdInUseError.held(executor_id, holder.hostname, holder.pid, silent_for, dead_after)
        held = ExecutorClaim(executor_id, holder.hostname, holder.pid, holder.started_at)
        with backend.engine.begin() as conn:
            taken = conn.execute(
                sa.update(workers_table).where(held.owns(), workers_table.c.last_seen_at == holder.last_seen_at).values(**values)
            ).rowcount
        if taken == 1:
            return claim
        # the holder came back or another worker took it at the same moment: decide again on the row as it is now
    raise ExecutorIdInUseError(executor_id, f"executor id {executor_id!r} kept changing hands while claiming it; try again")


def claim_free_slot(
    backend: Backend, *, dead_after: float, concurrency: int, tasks: list[str], version: str | None = None
) -> ExecutorClaim:
    """The lowest `<host>-<n>` slot that is free or whose worker died: a restarted worker resumes a dead one's runs."""
    host = socket.gethostname()
    for slot in range(SLOTS_PER_HOST):
        try:
            return claim_executor_id(
                backend, f"{host}-{slot}", dead_after=dead_after, concurrency=concurrency, tasks=tasks, version=version
            )
        except ExecutorIdInUseError:
            continue
    raise ExecutorIdInUseError(f"{host}-*", f"all {SLOTS_PER_HOST} executor slots of {host} are held by living workers")


def heartbeat(
    backend: Backend,
    claim: ExecutorClaim,
    *,
    concurrency: int,
    tasks: list[str],
    dead_after: float | None = None,
    version: str | None = None,
) -> ExecutorClaim | None:
    """Refresh this worker's row; the holding to keep using, or None when another worker has taken the id over.

    A peer deletes the row of a worker it declared dead (and recovers its runs); a worker that was only paused
    then comes back with a new row, unless another worker claimed the id in the meantime.
    """
    now = time.time()
    alive_until = now + dead_after if dead_after is not None else None
    with backend.engine.begin() as conn:
        if conn.execute(sa.update(workers_table).where(claim.owns()).values(last_seen_at=now, alive_until=alive_until)).rowcount:
            return claim
    back = ExecutorClaim(claim.executor_id, claim.hostname, claim.pid, now)
    try:
        with backend.engine.begin() as conn:
            conn.execute(
                sa.insert(workers_table).values(
                    executor_id=claim.executor_id, hostname=claim.hostname, pid=claim.pid, concurrency=concurrency,
                    tasks=tasks, started_at=now, last_seen_at=now, alive_until=alive_until, version=version,
                )
            )
    except sa.exc.IntegrityError:
        return None
    return back


def holds(backend: Backend, claim: ExecutorClaim) -> bool:
    """Whether this holding's row is still there (no other worker has taken the id over)."""
    with backend.engine.connect() as conn:
        return conn.execute(sa.select(workers_table.c.executor_id).where(claim.owns())).first() is not None


def release(backend: Backend, claim: ExecutorClaim) -> None:
    """Give the id up (a graceful stop); a row another worker has taken over since is left alone."""
    with backend.engine.begin() as conn:
        conn.execute(sa.delete(workers_table).where(claim.owns()))


def live_executors(backend: Backend, now: float) -> frozenset[str]:
    """The executor ids whose worker is alive: what a reader needs to tell a run EXECUTING from one whose worker is
    gone (WAITING_FOR_WORKER), without knowing each worker's settings."""
    with backend.engine.connect() as conn:
        return frozenset(r[0] for r in conn.execute(sa.select(workers_table.c.executor_id).where(_alive(now))).all())


def live_executor_tasks(backend: Backend, now: float, version: str | None = None) -> dict[str, frozenset[str]]:
    """The task ids each living worker defines, by executor id; with `version`, only workers of that code version
    (and those of an older release, which do not record theirs)."""
    t = workers_table.c
    query = sa.select(t.executor_id, t.tasks).where(_alive(now))
    if version is not None:
        query = query.where(sa.or_(t.version == version, t.version.is_(None)))
    with backend.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {r[0]: frozenset(r[1] or ()) for r in rows}


def _alive(now: float) -> sa.ColumnElement[bool]:
    """A worker is alive until its last heartbeat plus its own dead-worker limit (`alive_until`); a row written by
    an older release has no such column value and counts by the configured `dead_worker_after`."""
    t = workers_table.c
    return sa.func.coalesce(t.alive_until, t.last_seen_at + load_config().dead_worker_after) >= now

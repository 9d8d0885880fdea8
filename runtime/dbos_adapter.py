"""The one module that knows DBOS: its tables and columns, its workflow states, and the functions the runtime calls.

Everything else in the runtime speaks of runs; this module translates to workflows. When DBOS is upgraded, this file
and `tests/runtime/test_dbos_adapter.py` are what to read: the test checks every table, column, state and private
function listed in `RELIES_ON` against the installed DBOS, and that no other runtime module imports DBOS (the
serializer subclasses DBOS's public `Serializer` and is the one exception).

Public DBOS APIs are used where DBOS 3.x has them (`DBOSClient.list_workflows / enqueue / cancel_workflow`,
`DBOS.run_step`, `DBOS.sleep`, `DBOS.enqueue_workflow_with_options`, `DBOS.retrieve_workflow`, queues, launch and
destroy). These needs have no public API, so they go to DBOS's internals here and nowhere else:
- the status, attributes and timestamps of many runs in one SQL query (filtered, paged listings; cancel detection;
  expiry; orphan detection): `workflow_status` read with SQLAlchemy;
- run attributes changed after enqueue (`outcome`, `waiting`, `attempt`): `SystemDatabase.update_workflow_attributes`;
- re-enqueueing a dead executor's runs from a living worker: `DBOS._recover_pending_workflows` (it resumes only runs
  of the calling worker's application version, so a started run always finishes on its own code);
- handing a stopping worker's unfinished runs back to their queues (`SystemDatabase.reenqueue_for_recovery`), and
  the runs DBOS dequeued to a worker that does not define their task (DBOS leaves those PENDING under it);
- telling a run whose worker is alive from one whose worker is gone: `workflow_status.executor_id`;
- handing not-yet-started runs of a version no worker runs any more to this worker's version (adoption):
  `workflow_status.application_version`, which DBOS's dequeue matches against the worker's version;
- re-encrypting what unfinished runs hold (key rotation): `workflow_status.inputs`, `workflow_input`,
  `operation_outputs`;
- waking the worker's queue threads between polls (a run triggered, a slot freed): DBOS's queue threads sleep out
  their polling interval on the stop event `DBOS.launch` hands `queue_thread`, whose threads are named
  `queue-worker-<queue>`; `dbos._dbos.queue_thread` is wrapped to hand them a stop event a wake-up also ends, and
  the process's `_active_workflows_set` (`ActiveWorkflowById._remove`) says when a run has left its slot. Wake-ups
  only add polls: what is dequeued, and how, stays DBOS's;
- the queue thread's reads of its queue's settings and of the newest application version, which DBOS repeats on
  every dequeue (`SystemDatabase.get_queue`, `_is_latest_version`), are reused for a second; and whether a dequeue
  filled every free slot (`start_queued_workflows`' result) says whether a slot freed later should wake the queue;
- the count of this worker's busy slots that each dequeue reads (`ActiveWorkflowById.count_for_queue`, over its `_m`):
  it also counts runs dequeued and not yet started by an executor thread (DBOS adds them only then, so a dequeue
  right after another would take too many); on PostgreSQL a slot freed when its run's code returns claims and
  starts its next run itself (DBOS's claim and `execute_dequeued_workflow`, as the queue thread would), dequeues of
  one queue taking turns;
- a batch's rows: DBOS's own enqueue (`_insert_workflow_status`) builds each run's rows, which are then written with
  one statement per table (`_BatchRows`);
- a launch returns once DBOS's queue manager has started a thread for each queue (it lists them once a second);
- claiming a queue's runs: for queues limited only by this worker's slots, DBOS's claim (`start_queued_workflows`)
  and the status read that follows it (`get_workflow_statuses`) are done by one statement built once
  (`_OneStatementClaim`), with DBOS's own predicates and the columns DBOS's claim writes;
- SQLite: the outcomes of runs that end together are written in one transaction (`_GroupedOutcomes`, DBOS's
  `update_workflow_outcome` statements compiled once), DBOS's enqueue statements are compiled once as DBOS does on
  PostgreSQL (`_PreparedOnSqlite`, through `_execute_prepared`), and writers of every process take turns at the file through
  an flock beside it (`queue_sqlite_writers`) instead of SQLite's sleeping busy handler.
"""

from __future__ import annotations

import asyncio
import contextvars
import fcntl
import inspect
import json
import logging
import os
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session
from dbos import DBOS, DBOSClient, Serializer
from dbos import _context as dbos_context
from dbos import _core as dbos_core
from dbos import _dbos as dbos_module
from dbos import error as dbos_error
from dbos import _utils as dbos_utils
from dbos._sys_db import SystemDatabase as DBOSSystemDatabase
from dbos._utils import INTERNAL_QUEUE_NAME

from runtime import wake_sockets, wakeups
from runtime.errors import RunFailed
from runtime.models import RunStatus
from runtime.reuse import Reused

T = TypeVar("T")
log = logging.getLogger("taskpack")

APP_NAME = "taskpack"
WORKFLOW_PREFIX = "taskpack:"

# What this module relies on in DBOS beyond its documented API; tests/runtime/test_dbos_adapter.py checks each.
RELIES_ON: dict[str, Any] = {
    "tables": {
        "workflow_status": (
            "workflow_uuid", "status", "name", "attributes", "created_at", "updated_at", "started_at_epoch_ms",
            "executor_id", "application_version", "output", "inputs", "serialization", "queue_name",
        ),
        "workflow_input": ("workflow_uuid", "inputs"),
        "operation_outputs": ("workflow_uuid", "function_id", "output", "error", "serialization"),
    },
    "states": ("ENQUEUED", "DELAYED", "PENDING", "SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"),
    "private": {
        "DBOSClient._sys_db": "the client's SystemDatabase (tables, engine, attribute updates)",
        "SystemDatabase.update_workflow_attributes": "(workflow_id, attributes, merge=True)",
        "SystemDatabase.tables": "workflow_status / workflow_input / operation_outputs as SQLAlchemy tables",
        "SystemDatabase.engine": "the SQLAlchemy engine of DBOS's system database",
        "DBOS._recover_pending_workflows": "(executor_ids) -> handles: re-enqueue a dead executor's runs",
        "SystemDatabase.get_pending_workflows": "(executor_id, app_version) -> [.workflow_id]: a stopping worker's runs",
        "SystemDatabase.reenqueue_for_recovery": "(workflow_id, executor_ids, recovery_queue_name) -> bool: hand one back",
        "dbos._utils.INTERNAL_QUEUE_NAME": "the queue DBOS recovers queue-less workflows to",
        "dbos._dbos.queue_thread": "(stop_event, dbos): started by DBOS.launch; its queue threads wait on stop_event between polls",
        "DBOS.background_thread_stop_events": "the events DBOS.destroy sets (the queue thread's among them)",
        "dbos._queue.queue_worker_thread": "named queue-worker-<queue>; waits with stop_event.wait(timeout=...), checks is_set()",
        "DBOS._active_workflows_set": "ActiveWorkflowById of the runs executing in this process (their queue slots)",
        "ActiveWorkflowById._remove": "(key, bucket): a run leaves its slot; bucket is (queue_name, partition_key) or None",
        "SystemDatabase.get_queue": "(name, *, client_system_database=None) -> Queue | None: the queue thread's reload",
        "SystemDatabase._is_latest_version": "(app_version, c=None) -> bool: asked by every dequeue",
        "SystemDatabase.start_queued_workflows": "(queue, executor_id, app_version, partition_key, local_running_count, ...)"
                                                 " -> (claimed ids, stop reason): one dequeue",
        "Queue._worker_concurrency": "this worker's slots on the queue (None: unbounded)",
        "ActiveWorkflowById.add": "(key, queue_name, queue_partition_key) -> entry: an executor thread starts a run",
        "ActiveWorkflowById.count_for_queue": "(queue_name) -> int: the dequeue's count of this worker's busy slots",
        "ActiveWorkflowById._m / _lock": "run id -> [(queue_name, partition_key) | None], guarded by a Lock",
        "SystemDatabase._insert_workflow_status": "(status, conn, *, creator_xid, reuse_policy): a run's rows, through"
                                                  " self._execute_prepared(conn, name, values, build); fetchone() of the"
                                                  " status insert is None or the row it found",
        "DBOSClient._build_enqueue_status": "(options, *args) -> (workflow_id, status): what enqueue_in_transaction inserts",
        "SystemDatabase._apply_caller_schema": "(conn): DBOS's schema on a caller's connection",
        "dbos._utils.generate_uuid": "a creator token, as enqueue_in_transaction makes one",
        "SystemDatabase.get_workflow_statuses": "(workflow_ids) -> [WorkflowStatusInternal]: the queue thread's read of"
                                                " what it just claimed",
        "SystemDatabase._now_ms_sql": "() -> SQL expression of the current time in ms, called as statements are built",
        "SystemDatabase claim helpers": "_name_filter, _in_flight_status_prover, _now_ms_sql, _claim_gate, _scoped,"
                                        " sharded, app_name: the parts of DBOS's claim `_OneStatementClaim` reuses",
        "Queue limits": "_concurrency, _limiter, _has_partition_limits(): the shared budgets DBOS's claim keeps",
        "SystemDatabase.update_workflow_outcome": "(workflow_id, status, *, output, error, owner_xid) -> bool: on SQLite"
                                                  " `_update_workflow_outcome_in_transaction`'s update and output upsert,"
                                                  " which `_GroupedOutcomes` writes for several runs in one transaction",
        "dbos._context.current_owner_xid": "(workflow_id) -> the calling execution's ownership token or None",
        "SystemDatabase._execute_prepared": "(conn, name, values, build, *, insert_columns=True) -> result: DBOS's"
                                            " statements compiled once per set of columns (built per call on SQLite,"
                                            " where `_PreparedOnSqlite` compiles them once)",
        "dbos._core.execute_dequeued_workflow": "(dbos, status, owner_xid): start a run a dequeue claimed, as the queue"
                                                " thread does (a freed slot's own dequeue, `_SlotWatch._claim_here`)",
        "dbos._utils.GlobalParams": "executor_id, app_version: what the queue thread claims for",
    },
}

#: DBOS's name of the status insert in `_insert_workflow_status` (the one whose RETURNING tells an existing row)
BATCH_STATUS_INSERT = "insert_workflow_status"

# attribute: the executor holding a run it cannot execute (its task is not defined there), while it holds it
UNRUNNABLE_ON = "unrunnable_on"
MAX_RECOVERY_STATE = "MAX_RECOVERY_ATTEMPTS_EXCEEDED"  # DBOS gave up recovering the workflow (read CRASHED)
_QUEUED_STATES = ("ENQUEUED", "DELAYED")
_UNFINISHED_STATES = ("ENQUEUED", "DELAYED", "PENDING")
_TERMINAL_OUTCOMES = {RunStatus.FAILED.value, RunStatus.TIMED_OUT.value, RunStatus.EXPIRED.value, RunStatus.CRASHED.value}


def workflow_name(task_id: str) -> str:
    return WORKFLOW_PREFIX + task_id


def task_of_workflow(name: str | None) -> str:
    return (name or "").removeprefix(WORKFLOW_PREFIX)


def attributes_of(value: Any) -> dict[str, Any]:
    """A workflow's attributes as a dict (SQLite hands back the JSON text)."""
    if value is None:
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)


# -- the one status function, and its SQL twin --------------------------------------------------------------------------
# DBOS knows ENQUEUED/DELAYED/PENDING/SUCCESS/ERROR/CANCELLED/MAX_RECOVERY_ATTEMPTS_EXCEEDED. The finer statuses come
# from the workflow's attributes, which the runtime sets only on the paths that need them: `outcome` for a run that
# ended FAILED, TIMED_OUT, EXPIRED or CRASHED (its code version gone), `waiting` while a run waits on child runs,
# `expires_at` for a run with a ttl; and from the versions living workers run (`live_versions`, see runtime.versions).
def run_status(
    dbos_status: str,
    attributes: dict[str, Any] | None,
    error: Any = None,
    now: float | None = None,
    started_ms: int | None = None,
    version: str | None = None,
    live_versions: frozenset[str] | None = None,
    *,
    executor_id: str | None = None,
    live_executors: frozenset[str] | None = None,
) -> RunStatus:
    """The run status of a workflow. `error` is the decoded error when loaded (None when only the row was read: an
    ERROR without a recorded outcome then reads CRASHED, which is final either way). A queued run whose `version` no
    living worker runs is PENDING_VERSION, while any worker lives (with none, every run just waits QUEUED). A started
    run whose `executor_id` is not among `live_executors` (when known) is WAITING_FOR_WORKER: nothing executes it."""
    attrs = attributes or {}
    outcome = attrs.get("outcome")
    if outcome in _TERMINAL_OUTCOMES and dbos_status in ("ERROR", "CANCELLED", "SUCCESS"):
        return RunStatus(outcome)
    if dbos_status in _QUEUED_STATES:
        expires_at = attrs.get("expires_at")
        if expires_at is not None and (now or time.time()) > float(expires_at):
            return RunStatus.EXPIRED
        if dbos_status == "DELAYED":
            return RunStatus.DELAYED
        if live_versions and version not in live_versions:
            return RunStatus.PENDING_VERSION
        return RunStatus.QUEUED
    if dbos_status == "PENDING":
        expires_at = attrs.get("expires_at")
        if expires_at is not None and started_ms and started_ms / 1000 > float(expires_at):
            return RunStatus.EXPIRED  # picked up after its ttl: the run's first step ends it EXPIRED
        if live_executors is not None and executor_id not in live_executors:
            return RunStatus.WAITING_FOR_WORKER
        if executor_id is not None and attrs.get(UNRUNNABLE_ON) == executor_id:
            return RunStatus.WAITING_FOR_WORKER  # held by a worker that does not define its task
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


def status_clause(
    ws: sa.Table,
    status: RunStatus,
    now: float,
    live_versions: frozenset[str] | None = None,
    live_executors: frozenset[str] | None = None,
) -> sa.ColumnElement[bool]:
    """A WHERE clause on DBOS's workflow_status table selecting runs in `status`: `run_status`, case for case, as SQL.

    The one thing SQL cannot see is a decoded error: an ERROR is FAILED or TIMED_OUT by its recorded `outcome`
    (the runtime records it before the workflow raises), CRASHED without one.
    """
    attrs = ws.c.attributes
    state = ws.c.status
    outcome = attrs["outcome"].as_string()
    expires = attrs["expires_at"].as_float()
    waiting = attrs["waiting"].as_boolean()
    finished = state.in_(["ERROR", "CANCELLED", "SUCCESS"])
    recorded = sa.and_(finished, outcome.in_(sorted(_TERMINAL_OUTCOMES)))
    not_recorded = sa.or_(outcome.is_(None), outcome.not_in(sorted(_TERMINAL_OUTCOMES)))
    not_expired = sa.or_(expires.is_(None), expires >= now)
    started = ws.c.started_at_epoch_ms
    late_start = sa.and_(expires.is_not(None), started.is_not(None), started > expires * 1000)  # never NULL: NOT works
    running = sa.and_(state == "PENDING", sa.not_(late_start))
    unrunnable_on = attrs[UNRUNNABLE_ON].as_string()
    # never NULL (NOT of it is used): each part is checked for NULL first
    not_executed = sa.and_(unrunnable_on.is_not(None), ws.c.executor_id.is_not(None), unrunnable_on == ws.c.executor_id)
    if live_executors is not None:
        executor_gone = sa.or_(ws.c.executor_id.is_(None), ws.c.executor_id.not_in(sorted(live_executors))) if live_executors else sa.true()
        not_executed = sa.or_(executor_gone, not_executed)
    orphaned = sa.and_(running, not_executed)
    running = sa.and_(running, sa.not_(not_executed))
    version = ws.c.application_version
    version_gone = sa.or_(version.is_(None), version.not_in(sorted(live_versions))) if live_versions else sa.false()
    match status:
        case RunStatus.QUEUED:
            return sa.and_(state == "ENQUEUED", not_expired, sa.not_(version_gone))
        case RunStatus.PENDING_VERSION:
            return sa.and_(state == "ENQUEUED", not_expired, version_gone)
        case RunStatus.DELAYED:
            return sa.and_(state == "DELAYED", not_expired)
        case RunStatus.EXECUTING:
            return sa.and_(running, sa.or_(waiting.is_(None), waiting == sa.false()))
        case RunStatus.WAITING:
            return sa.and_(running, waiting == sa.true())
        case RunStatus.WAITING_FOR_WORKER:
            return orphaned
        case RunStatus.COMPLETED:
            return sa.and_(state == "SUCCESS", not_recorded)
        case RunStatus.CANCELED:
            return sa.and_(state == "CANCELLED", not_recorded)
        case RunStatus.EXPIRED:
            return sa.or_(
                sa.and_(recorded, outcome == RunStatus.EXPIRED.value),
                sa.and_(state.in_(list(_QUEUED_STATES)), expires < now),
                sa.and_(state == "PENDING", late_start),
            )
        case RunStatus.FAILED | RunStatus.TIMED_OUT:
            return sa.and_(recorded, outcome == status.value)
        case RunStatus.CRASHED:
            return sa.or_(
                state.not_in(["ENQUEUED", "DELAYED", "PENDING", "SUCCESS", "ERROR", "CANCELLED"]),
                sa.and_(state == "ERROR", not_recorded),
                sa.and_(recorded, outcome == RunStatus.CRASHED.value),
            )
    raise ValueError(status)


@dataclass(frozen=True)
class StatusRow:
    """A run's status as one small query reads it (no payload, output or error loaded)."""

    run_id: str
    dbos_status: str
    attributes: dict[str, Any]
    started_ms: int | None
    version: str | None = None
    executor_id: str | None = None

    def status(
        self, now: float | None = None, live_versions: frozenset[str] | None = None, live_executors: frozenset[str] | None = None
    ) -> RunStatus:
        return run_status(
            self.dbos_status, self.attributes, None, now, self.started_ms, self.version, live_versions,
            executor_id=self.executor_id, live_executors=live_executors,
        )

    def frees_idempotency_key(self, now: float) -> bool:
        """Whether the run has let go of its idempotency key: it failed, was canceled or expired, or its ending is
        already recorded (an `outcome`) while DBOS has yet to mark the workflow finished."""
        return bool(self.attributes.get("outcome")) or self.status(now).frees_idempotency_key


@dataclass(frozen=True)
class ListFilter:
    """What `runs.list` selects; every value already checked at the door (runtime.limits)."""

    statuses: list[RunStatus] | None = None
    task_ids: list[str] | None = None
    tags: list[str] | None = None
    before: tuple[int, str] | None = None  # (created_at ms, run id) of the previous page's last run
    limit: int = 50


# -- SQLite: one writer at a time, queued across processes -----------------------------------------------------------------
# SQLite has one writer per file. DBOS opens write transactions with BEGIN IMMEDIATE and waits out a busy file with
# SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries: with a trigger thread, a queue
# thread and eight runs writing at once, writers spent most of their time asleep while the file was free, and a
# trigger in another process (the API, the CLI) than the worker's took ~6 ms. Writers now take their turn on a lock
# of the file, just before a transaction's first write, and give it back when it commits or rolls back, so the next
# writer starts the moment the file is free: a thread lock among this process's writers, then an flock on a file
# beside the database among the processes (`<database>-writer.lock`; the kernel drops it with a process that dies).
# Nothing about what is written, or when it is committed, changes; a process that does not take the lock (raw DBOS,
# the sqlite3 shell) still meets the busy handler.
_SQLITE_WRITES = ("insert", "update", "delete", "replace", "begin")
_sqlite_writer_locks: dict[str, "_FileWriterLock"] = {}
_sqlite_writer_locks_guard = threading.Lock()
WRITER_LOCK_TIMEOUT_S = 30.0  # as DBOS's busy_timeout: past it, SQLite's own busy handling decides
WRITER_LOCK_SUFFIX = "-writer.lock"


class _FileWriterLock:
    """This process's turn at a SQLite file's one writer: the process's threads queue on a thread lock, the processes
    on an flock of the lock file. Waiting for another process looks again every 0.05-0.5 ms (an flock wait has no
    timeout, and a stuck writer elsewhere must not hang this one past `WRITER_LOCK_TIMEOUT_S`)."""

    def __init__(self, path: str) -> None:
        self._threads = threading.Lock()
        self._fd: int | None = None
        if path and path != ":memory:" and not path.startswith("file:"):
            try:
                self._fd = os.open(path + WRITER_LOCK_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:  # a directory this process may not write to: SQLite's busy handler, as before
                log.warning("no writer lock file beside %s (%s): other processes' writers are waited for by SQLite", path, exc)

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(timeout=timeout):
            return False
        if self._fd is None:
            return True
        pause = 0.00005
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self._threads.release()
                    return False
                time.sleep(pause)
                pause = min(0.0005, pause * 2)

    def locked(self) -> bool:
        """Whether a writer of this process holds the file (its thread lock)."""
        return self._threads.locked()

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


class _WriterTurns:
    """The writer lock of one engine's SQLite file, and which of the engine's connections hold it."""

    def __init__(self, lock: _FileWriterLock) -> None:
        self.lock = lock
        self._holding: set[int] = set()
        self._guard = threading.Lock()

    def take(self, dbapi_connection: Any, statement: str) -> None:
        if dbapi_connection is None or dbapi_connection.in_transaction or id(dbapi_connection) in self._holding:
            return
        if statement.lstrip()[:7].lower().startswith(_SQLITE_WRITES):
            if self.lock.acquire(timeout=WRITER_LOCK_TIMEOUT_S):
                with self._guard:
                    self._holding.add(id(dbapi_connection))

    def release(self, dbapi_connection: Any) -> None:
        # the pool's reset-on-return rolls back through its proxy of the connection
        dbapi_connection = getattr(dbapi_connection, "dbapi_connection", None) or dbapi_connection
        with self._guard:
            held = id(dbapi_connection) in self._holding
            self._holding.discard(id(dbapi_connection))
        if held:
            self.lock.release()


# The engines' hooks are listeners of every engine and pool, installed once when this module is imported: an event
# listener added to an engine whose connections other threads are already using (DBOS's scheduler and queue threads
# after launch) raced them ("deque mutated during iteration" in SQLAlchemy's listener list, a traceback in the CLI).
# What each engine does is then set as plain attributes of its dialect (`queue_sqlite_writers`) and of the file
# (`sqlite_commits`).
_sqlite_synchronous_by_path: dict[str, str] = {}


def sqlite_commits(url: str, synchronous: str) -> None:
    """Connections to this SQLite file opened from now on commit with `synchronous` (FULL, DBOS's default, or
    NORMAL: see `ProjectConfig.sqlite_synchronous`). Called before DBOS opens its engine for the file."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"sqlite synchronous must be FULL or NORMAL, not {synchronous!r}")
    database = sa.engine.make_url(url).database if url.startswith("sqlite") else None
    if database and database != ":memory:" and not database.startswith("file:"):
        _sqlite_synchronous_by_path[os.path.realpath(database)] = synchronous


@sa.event.listens_for(sa.pool.Pool, "connect")
def _sqlite_synchronous_on_connect(dbapi_connection: Any, _record: Any) -> None:
    if not _sqlite_synchronous_by_path or type(dbapi_connection).__module__ != "sqlite3":
        return
    row = dbapi_connection.execute("PRAGMA database_list").fetchone()  # (seq, "main", the file's full path)
    mode = _sqlite_synchronous_by_path.get(os.path.realpath(row[2])) if row and row[2] else None
    if mode is not None and mode != "FULL":
        dbapi_connection.execute(f"PRAGMA synchronous={mode}")


@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _take_writer_turn(conn: sa.Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    turns = getattr(conn.dialect, "taskpack_writer", None)
    if turns is not None:
        turns.take(conn.connection.dbapi_connection, statement)


def queue_sqlite_writers(engine: sa.Engine, synchronous: str = "FULL") -> None:
    """Make this engine's write transactions on a SQLite file take the writer lock of that file, and its
    connections commit with `synchronous` (set it with `sqlite_commits` before the engine opens a connection: one
    opened earlier keeps SQLite's default, FULL)."""
    dialect = engine.dialect
    if dialect.name != "sqlite" or getattr(dialect, "taskpack_writer_lock", None) is not None:
        return
    sqlite_commits(str(engine.url), synchronous)
    path = str(engine.url.database or "")
    with _sqlite_writer_locks_guard:
        if path not in _sqlite_writer_locks:
            _sqlite_writer_locks[path] = _FileWriterLock(path)
        lock = _sqlite_writer_locks[path]
    turns = _WriterTurns(lock)
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            turns.release(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            turns.release(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    dialect.taskpack_writer_lock = lock  # type: ignore[attr-defined] - installed once per engine (its dialect)
    dialect.taskpack_writer = turns  # type: ignore[attr-defined] - read by `_take_writer_turn`, last: all is ready


# -- one DBOS system database ----------------------------------------------------------------------------------------------
CHANGES_INDEX = "taskpack_workflow_status_updated_at"
EXPIRY_INDEX = "taskpack_workflow_status_queued_expiry"


def expiry_of(workflows: sa.Table, dialect: str) -> sa.ColumnElement[Any]:
    """A run's ttl deadline (`attributes.expires_at`, epoch seconds; NULL when absent or not a number) in the one form
    the expiry index is built on: constants written as constants, so the query's expression is the index's (a bound
    value is not, to SQLite). A row whose attributes are not JSON (SQLite) or hold no number there reads NULL: an
    index expression that raised would refuse the row's every write."""
    attributes = workflows.c.attributes
    key = sa.literal_column("'expires_at'")
    if dialect == "postgresql":
        number = sa.func.jsonb_typeof(attributes.op("->")(key)) == sa.literal_column("'number'")
        return sa.case((number, sa.cast(attributes.op("->>")(key), sa.Float)))
    path = sa.literal_column("'$.expires_at'")
    number = sa.func.json_type(attributes, path).in_([sa.literal_column("'integer'"), sa.literal_column("'real'")])
    return sa.case((sa.func.json_valid(attributes) == sa.literal_column("1"),
                    sa.case((number, sa.cast(sa.func.json_extract(attributes, path), sa.Float)))))


def waiting_with_ttl(workflows: sa.Table, dialect: str) -> sa.ColumnElement[bool]:
    """Queued or delayed runs with a ttl: the expiry index's rows. The states are constants: a planner uses a partial
    index only for a query whose WHERE shows it holds for every row it wants, and a bound value shows nothing."""
    states = [sa.literal_column(f"'{state}'") for state in _QUEUED_STATES]
    return sa.and_(workflows.c.status.in_(states), expiry_of(workflows, dialect).is_not(None))


def index_changes(engine: sa.Engine, workflows: sa.Table) -> None:
    """Indexes of ours on DBOS's workflow_status, which DBOS does not have. Built CONCURRENTLY on PostgreSQL (runs
    keep being written meanwhile); a process racing to build one is fine.

    - (updated_at, workflow_uuid): `changed_page` (webhook events, realtime) reads the runs changed since a time, a
      full scan of every run ever kept without it.
    - the ttl deadlines of queued runs (partial: only runs waiting with a ttl): every worker looks for expired ones
      twice a second, which read every queued run's attributes without it (a backlog of 20,000 runs: ~15 ms a look).
    """
    dialect = engine.dialect.name
    indexes = [
        sa.Index(CHANGES_INDEX, workflows.c.updated_at, workflows.c.workflow_uuid, postgresql_concurrently=True),
        sa.Index(  # on an expression SQLAlchemy does not trace to its table: named here
            EXPIRY_INDEX, sa.sql.expression.Grouping(expiry_of(workflows, dialect)), _table=workflows,  # (CASE ...)
            postgresql_concurrently=True,
            postgresql_where=waiting_with_ttl(workflows, dialect), sqlite_where=waiting_with_ttl(workflows, dialect),
        ),
    ]
    for index in indexes:
        create = sa.schema.CreateIndex(index, if_not_exists=True)
        for attempt in (1, 2):  # two processes building it at once: the second try of the one that lost finds it
            try:
                if dialect == "postgresql":
                    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                        conn.execute(create)
                else:
                    with engine.begin() as conn:
                        conn.execute(create)
                break
            except sa.exc.DBAPIError:
                if attempt == 2:
                    raise


class SystemDatabase:
    """DBOS's tables in one database, through a DBOSClient: what any process (CLI, API, worker) reads and writes."""

    def __init__(self, url: str, serializer: Serializer, sqlite_synchronous: str = "FULL") -> None:
        self.is_sqlite = url.startswith("sqlite")
        #: the SQLite file, whose workers in other processes a trigger wakes (runtime/wake_sockets.py)
        self.sqlite_path: str | None = sa.engine.make_url(url).database if self.is_sqlite else None
        if self.is_sqlite:
            sqlite_commits(url, sqlite_synchronous)  # before DBOS opens the file: every connection commits so
        DBOS.migrate(url)
        self.client = DBOSClient(system_database_url=url, application_name=APP_NAME, serializer=serializer)
        self.sys_db = self.client._sys_db
        self.workflows: sa.Table = self.sys_db.tables.workflow_status
        self.engine: sa.Engine = self.sys_db.engine
        queue_sqlite_writers(self.engine, sqlite_synchronous)
        if self.is_sqlite:  # no server to drop a file's connection: DBOSClient's ping was a statement per trigger
            self.engine.pool._pre_ping = False
        millisecond_clock(self.sys_db)
        _PreparedOnSqlite(self.sys_db).install()
        index_changes(self.engine, self.workflows)

    def close(self) -> None:
        self.client.destroy()

    def listen_connection(self) -> Any:
        """A new DBAPI connection of its own (outside the pool) for the worker's LISTEN (runtime/wakeups.py)."""
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        return self.engine.dialect.connect(*cargs, **cparams)

    # -- reading ----------------------------------------------------------------------------------------------------------
    def load(self, run_ids: list[str]) -> list[Any]:
        """DBOS's full statuses (payload, output and error decoded) of `run_ids`, in no particular order."""
        return list(self.client.list_workflows(workflow_ids=run_ids, load_input=True, load_output=True))

    def name_and_created(self, run_id: str) -> tuple[str | None, int | None] | None:
        """The two columns any row has, for a run DBOS cannot load."""
        ws = self.workflows
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(ws.c.name, ws.c.created_at).where(ws.c.workflow_uuid == run_id)).first()
        return None if row is None else (row[0], row[1])

    def stored_outputs(self, run_ids: list[str]) -> dict[str, Any]:
        """The serialized outputs as stored (to tell an output DBOS could not decode from one it did)."""
        ws = self.workflows
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(ws.c.workflow_uuid, ws.c.output).where(ws.c.workflow_uuid.in_(run_ids))).all()
        return {run_id: raw for run_id, raw in rows}

    def status_row(self, run_id: str) -> StatusRow | None:
        ws = self.workflows
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ws.c.status, ws.c.attributes, ws.c.started_at_epoch_ms, ws.c.application_version, ws.c.executor_id)
                .where(ws.c.workflow_uuid == run_id)
            ).first()
        if row is None:
            return None
        return StatusRow(run_id, row[0], attributes_of(row[1]), row[2], row[3], row[4])

    def list_page(
        self, wanted: ListFilter, now: float, live_versions: frozenset[str] | None = None, live_executors: frozenset[str] | None = None
    ) -> list[tuple[str, int]]:
        """(run id, created_at ms) of up to `limit + 1` runs, newest first (the extra one says another page exists)."""
        ws = self.workflows
        query = sa.select(ws.c.workflow_uuid, ws.c.created_at).where(ws.c.name.like(f"{WORKFLOW_PREFIX}%"))
        if wanted.statuses is not None:
            query = query.where(sa.or_(*[status_clause(ws, s, now, live_versions, live_executors) for s in wanted.statuses]))
        if wanted.task_ids is not None:
            query = query.where(ws.c.name.in_([workflow_name(t) for t in wanted.task_ids]))
        if wanted.tags is not None:
            query = query.where(self._tag_clause(wanted.tags))
        if wanted.before is not None:
            created, last_id = wanted.before
            query = query.where(sa.or_(ws.c.created_at < created, sa.and_(ws.c.created_at == created, ws.c.workflow_uuid < last_id)))
        query = query.order_by(ws.c.created_at.desc(), ws.c.workflow_uuid.desc()).limit(wanted.limit + 1)
        with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(query).all()]

    def changed_page(self, since_ms: int, after_id: str | None, limit: int) -> list[tuple[str, int]]:
        """(run id, updated_at ms) of up to `limit + 1` runs changed at or after `since_ms` (after `after_id` at
        that very time), oldest change first: every transition DBOS records moves a run's `updated_at`."""
        ws = self.workflows
        query = sa.select(ws.c.workflow_uuid, ws.c.updated_at).where(ws.c.name.like(f"{WORKFLOW_PREFIX}%"))
        if after_id is None:
            query = query.where(ws.c.updated_at >= since_ms)
        else:
            query = query.where(sa.or_(ws.c.updated_at > since_ms, sa.and_(ws.c.updated_at == since_ms, ws.c.workflow_uuid > after_id)))
        query = query.order_by(ws.c.updated_at, ws.c.workflow_uuid).limit(limit + 1)
        with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(query).all()]

    def change_markers(self, run_ids: list[str], live_executors: frozenset[str] | None = None) -> dict[str, tuple[str, int, str]]:
        """(DBOS status, updated_at ms, the attributes' stored text and the version) of each known run: a primary-key read,
        what a watcher compares between polls. With `live_executors`, a started run whose worker is gone gets its own
        marker: nothing is written when a worker dies, and the run's status (WAITING_FOR_WORKER) moves all the same.

        `updated_at` alone does not always move: two writes in one millisecond (or stamped from two clocks, Python's
        and SQLite's, a millisecond apart) leave it equal, and handing a run to another version does not touch it. A
        change of the run's attributes (`waiting`, `attempt`, `tags`, `outcome`) or version, which keeps the DBOS
        status, then moves the third part."""
        ws = self.workflows
        found: dict[str, tuple[str, int, str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start:start + 500]
                query = sa.select(
                    ws.c.workflow_uuid, ws.c.status, ws.c.updated_at, ws.c.executor_id,
                    sa.cast(ws.c.attributes, sa.Text), ws.c.application_version,  # as stored: compared, never parsed
                ).where(ws.c.workflow_uuid.in_(chunk))
                for row in conn.execute(query):
                    orphaned = live_executors is not None and row[1] == "PENDING" and row[3] not in live_executors
                    status = f"{row[1]}:{RunStatus.WAITING_FOR_WORKER.value}" if orphaned else row[1]
                    found[row[0]] = (status, int(row[2] or 0), f"{row[4] or ''}\0{row[5] or ''}")
        return found

    def tagged_unfinished_or_new(self, tags: list[str], created_since_ms: int) -> set[str]:
        """Runs with any of `tags` that are not finished, or were created since `created_since_ms`: all a tag watcher
        can need (a finished run never changes again). Both reads are indexed (status, created_at; the attributes'
        GIN index on PostgreSQL)."""
        ws = self.workflows
        has_tag = self._tag_clause(tags)
        live = sa.select(ws.c.workflow_uuid).where(ws.c.status.in_(_UNFINISHED_STATES), has_tag)
        recent = sa.select(ws.c.workflow_uuid).where(ws.c.created_at >= created_since_ms, has_tag)
        with self.engine.connect() as conn:
            return set(conn.execute(live).scalars()) | set(conn.execute(recent).scalars())

    def _tag_clause(self, tags: list[str]) -> sa.ColumnElement[bool]:
        ws = self.workflows
        if self.is_sqlite:
            each = sa.func.json_each(ws.c.attributes, "$.tags").table_valued("value")
            return sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value.in_(tags)))
        from sqlalchemy.dialects.postgresql import JSONB

        attrs = sa.type_coerce(ws.c.attributes, JSONB)
        return sa.or_(*[attrs.contains({"tags": [t]}) for t in tags])

    def canceled_among(self, run_ids: list[str]) -> list[str]:
        """Which of these runs were canceled (from any process)."""
        ws = self.workflows
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(ws.c.workflow_uuid).where(ws.c.workflow_uuid.in_(run_ids), ws.c.status == "CANCELLED")).all()
        return [r[0] for r in rows]

    def expired_waiting(self, now: float, limit: int = 500) -> list[str]:
        """Queued or delayed runs whose ttl has passed."""
        ws, dialect = self.workflows, self.engine.dialect.name
        with self.engine.connect() as conn:  # through the expiry index: the runs waiting with a ttl, by deadline
            rows = conn.execute(
                sa.select(ws.c.workflow_uuid)
                .where(waiting_with_ttl(ws, dialect), expiry_of(ws, dialect) < now)
                .limit(limit)
            ).all()
        return [r[0] for r in rows]

    def executors_silent_since(self, before: float) -> set[str]:
        """Executor ids holding executing runs none of which has been updated since `before` (epoch seconds)."""
        ws = self.workflows
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(ws.c.executor_id)
                .where(ws.c.status == "PENDING", ws.c.name.like(f"{WORKFLOW_PREFIX}%"), ws.c.updated_at < int(before * 1000))
                .distinct()
            ).all()
        return {r[0] for r in rows if r[0]}

    # -- writing ----------------------------------------------------------------------------------------------------------
    def enqueue(self, options: dict[str, Any], payload: Any, run_options: dict[str, Any]) -> bool:
        """Enqueue a run from outside any workflow; True when its id existed already (a concurrent trigger won)."""
        ready = _ready_queues([options])
        if self.is_sqlite or not ready:
            existed = _enqueue_once(self.client.enqueue, options, payload, run_options)
            if not existed:
                self._wake_everywhere(ready)
            return existed

        def enqueue_and_notify(options: dict[str, Any], payload: Any, run_options: dict[str, Any]) -> None:
            # PostgreSQL: the NOTIFY rides the enqueue's own transaction (sent at its commit): one commit per trigger
            with self.engine.begin() as conn:
                self.client.enqueue_in_transaction(conn, options, payload, run_options)
                _notify(conn, ready)

        existed = _enqueue_once(enqueue_and_notify, options, payload, run_options)
        if not existed:
            wake_queues(ready)
        return existed

    def enqueue_many(self, runs: list[tuple[dict[str, Any], Any, dict[str, Any]]]) -> None:
        """Enqueue new runs (fresh ids, no idempotency key) in one transaction: all of them or none.

        A batch of 1,000 paid 1,000 commits (and on SQLite 1,000 turns at the one writer's lock) when each run was
        enqueued alone. In one transaction it still paid 2,000 statements, each a round trip to PostgreSQL (~0.9 s
        there): DBOS builds each run's rows (`_BatchRows`), and they are written with one multi-row INSERT per table.
        """
        with self.engine.begin() as conn:
            _BatchRows(self.client, self.sys_db).write(conn, runs)
            if not self.is_sqlite:
                _notify(conn, _ready_queues(options for options, _, _ in runs))  # sent by PostgreSQL at commit
        self._wake_everywhere(_ready_queues(options for options, _, _ in runs))

    def announce(self, enqueued: Iterable[dict[str, Any]]) -> None:
        """Tell workers that runs wait in these queues (the enqueue options of committed runs), so one polls now.

        In this process the queue threads are woken directly; on PostgreSQL a NOTIFY reaches workers elsewhere
        (runtime/wakeups.py). A wake-up is only a hint: a lost one costs a polling interval, never a run.
        """
        queues = _ready_queues(enqueued)
        if not queues:
            return
        self._wake_everywhere(queues)
        if not self.is_sqlite:
            try:
                with self.engine.begin() as conn:
                    _notify(conn, queues)
            except Exception as exc:  # the run is enqueued: workers still find it at their next poll
                log.warning("waking workers failed (they find the run at their next poll): %s", exc)

    def _wake_everywhere(self, queues: list[str]) -> None:
        """Poll these queues now in this process and, on SQLite, in the other processes' workers of the file (on
        PostgreSQL the NOTIFY sent with the enqueue does that)."""
        if not queues:
            return
        wake_queues(queues)
        if self.sqlite_path is not None:
            wake_sockets.announce(self.sqlite_path, queues)

    def set_attributes(self, run_id: str, attributes: dict[str, Any]) -> None:
        """Merge `attributes` into the run's (status hints: safe to repeat, recorded as no step)."""
        self.sys_db.update_workflow_attributes(run_id, attributes, merge=True)

    def cancel(self, run_id: str, *, children: bool = False) -> None:
        self.client.cancel_workflow(run_id, cancel_children=children)

    def adopt_waiting(self, version: str, task_ids: Iterable[str], live_versions: frozenset[str]) -> list[str]:
        """Hand the not-yet-started runs of `task_ids` whose version no living worker runs to `version` (DBOS then
        dequeues them for this worker's version). Nothing of such a run has executed, so no step runs on other code
        than its own. Returns the runs adopted."""
        ws = self.workflows
        names = [workflow_name(t) for t in task_ids]
        if not names:
            return []
        gone = sa.or_(ws.c.application_version.is_(None), ws.c.application_version.not_in(sorted(live_versions | {version})))
        # never started: a run handed back or re-enqueued for recovery is ENQUEUED too, but has recorded operations
        waiting = sa.and_(ws.c.status.in_(list(_QUEUED_STATES)), ws.c.name.in_(names), gone, sa.not_(self._has_recorded_operations()))
        with self.engine.begin() as conn:
            ids = [r[0] for r in conn.execute(sa.select(ws.c.workflow_uuid).where(waiting).limit(1000)).all()]
            if ids:
                # the condition again: a run another worker adopted (or DBOS started) meanwhile is left as it is
                conn.execute(sa.update(ws).where(ws.c.workflow_uuid.in_(ids), waiting).values(application_version=version))
        return ids

    def started_runs_of(self, versions: Iterable[str]) -> list[tuple[str, str]]:
        """(run id, version) of the started runs of `versions`: executing or waiting, or queued again (handed back,
        re-enqueued for recovery) with operations already recorded."""
        ws = self.workflows
        wanted = sorted(set(versions))
        if not wanted:
            return []
        started = sa.or_(ws.c.status == "PENDING", sa.and_(ws.c.status.in_(list(_QUEUED_STATES)), self._has_recorded_operations()))
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(ws.c.workflow_uuid, ws.c.application_version)
                .where(started, ws.c.name.like(f"{WORKFLOW_PREFIX}%"), ws.c.application_version.in_(wanted))
                .limit(1000)
            ).all()
        return [(r[0], r[1]) for r in rows]

    def started_runs_of_other_tasks(self, defined: dict[str, set[str]], limit: int = 1000) -> list[tuple[str, str, str, str | None]]:
        """(run id, version, task id, executor id while PENDING) of the started runs (as `started_runs_of`) of each
        version in `defined` whose task is not among the tasks given for it: the runs no worker of their version can
        execute. Normally none, so the query stays small."""
        ws = self.workflows
        if not defined:
            return []
        outside = sa.or_(
            *[
                sa.and_(ws.c.application_version == version, ws.c.name.not_in(sorted(workflow_name(t) for t in tasks)) if tasks else sa.true())
                for version, tasks in sorted(defined.items())
            ]
        )
        started = sa.or_(ws.c.status == "PENDING", sa.and_(ws.c.status.in_(list(_QUEUED_STATES)), self._has_recorded_operations()))
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(ws.c.workflow_uuid, ws.c.application_version, ws.c.name, ws.c.executor_id, ws.c.status)
                .where(started, ws.c.name.like(f"{WORKFLOW_PREFIX}%"), outside)
                .limit(limit)
            ).all()
        return [(r[0], r[1], task_of_workflow(r[2]), r[3] if r[4] == "PENDING" else None) for r in rows]

    def _has_recorded_operations(self) -> sa.ColumnElement[bool]:
        ws, oo = self.workflows, self.sys_db.tables.operation_outputs
        return sa.exists(sa.select(sa.literal(1)).where(oo.c.workflow_uuid == ws.c.workflow_uuid))

    def hand_back(self, executor_id: str, version: str) -> list[str]:
        """Return the runs still executing under `executor_id` to their queues, so any worker of their version
        resumes them now (from their recorded steps) instead of after the dead-worker limit. For a worker stopping
        after its grace period; DBOS's own recovery re-enqueues the same way."""
        handed = []
        for pending in self.sys_db.get_pending_workflows(executor_id, version):
            if self.sys_db.reenqueue_for_recovery(pending.workflow_id, [executor_id], INTERNAL_QUEUE_NAME):
                handed.append(pending.workflow_id)
        return handed

    def foreign_runs(self, executor_id: str, task_ids: Iterable[str]) -> list[tuple[str, str, dict[str, Any]]]:
        """(run id, task id, attributes) of the runs executor `executor_id` holds whose task is not among `task_ids`.

        A worker dequeues from a shared queue whatever run of its version is there; DBOS then finds no function for
        a task the worker does not define and leaves the run PENDING under it, for ever, taking one of its slots."""
        ws = self.workflows
        names = sorted(workflow_name(t) for t in task_ids)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(ws.c.workflow_uuid, ws.c.name, ws.c.attributes).where(
                    ws.c.status == "PENDING", ws.c.executor_id == executor_id, ws.c.name.like(f"{WORKFLOW_PREFIX}%"), ws.c.name.not_in(names)
                ).limit(1000)
            ).all()
        return [(r[0], task_of_workflow(r[1]), attributes_of(r[2])) for r in rows]

    def hand_back_run(self, run_id: str, executor_id: str) -> bool:
        """Return one run `executor_id` holds to its queue, for a worker that defines its task (each dequeue counts
        against DBOS's recovery attempts, so workers cannot pass a run back and forth without end)."""
        if attributes_of(self._attributes(run_id)).get(UNRUNNABLE_ON) is not None:
            self.set_attributes(run_id, {UNRUNNABLE_ON: None})
        return bool(self.sys_db.reenqueue_for_recovery(run_id, [executor_id], INTERNAL_QUEUE_NAME))

    def mark_unrunnable(self, run_id: str, executor_id: str) -> None:
        """Record that the worker holding the run cannot execute it (no worker defining its task lives to take it):
        the run reads WAITING_FOR_WORKER while that worker holds it, not EXECUTING."""
        self.set_attributes(run_id, {UNRUNNABLE_ON: executor_id})

    def clear_stale_unrunnable(self, executor_id: str, task_ids: Iterable[str]) -> int:
        """Drop the mark from runs `executor_id` holds and can execute: left by an earlier worker on the same
        executor id (a restarted slot), it would read WAITING_FOR_WORKER while the run executes."""
        ws = self.workflows
        names = sorted(workflow_name(t) for t in task_ids)
        if not names:
            return 0
        marked = ws.c.attributes[UNRUNNABLE_ON].as_string() == executor_id
        with self.engine.connect() as conn:
            ids = conn.execute(
                sa.select(ws.c.workflow_uuid).where(ws.c.status == "PENDING", ws.c.executor_id == executor_id, ws.c.name.in_(names), marked)
            ).scalars().all()
        for run_id in ids:
            self.set_attributes(run_id, {UNRUNNABLE_ON: None})
        return len(ids)

    def _attributes(self, run_id: str) -> Any:
        ws = self.workflows
        with self.engine.connect() as conn:
            return conn.execute(sa.select(ws.c.attributes).where(ws.c.workflow_uuid == run_id)).scalar()

    def crash(self, run_id: str, reason: str, *, error_type: str = "WorkerVersionGone", code: str = "VERSION_GONE") -> None:
        """End a run that can never be resumed: CRASHED with `reason` (its workflow canceled, so DBOS lets it go)."""
        self.set_attributes(run_id, {"outcome": RunStatus.CRASHED.value, "crash_reason": reason, "crash_type": error_type, "crash_code": code})
        self.client.cancel_workflow(run_id)

    def expire(self, run_id: str) -> None:
        """End a queued run that passed its ttl: EXPIRED, and never started."""
        self.set_attributes(run_id, {"outcome": RunStatus.EXPIRED.value})
        self.client.cancel_workflow(run_id)

    def rewrite_unfinished(self, serialization: str, rewrite: Callable[[str, str], str | None]) -> int:
        """Rewrite every stored payload and step result/error of unfinished runs written with `serialization`.

        `rewrite(run_id, text)` returns the new text, or None to leave it. One transaction: an exception from
        `rewrite` leaves everything as it was. Returns how many runs had something rewritten.
        """
        tables = self.sys_db.tables
        ws, wi, oo = tables.workflow_status, tables.workflow_input, tables.operation_outputs
        rewritten = 0
        with self.engine.begin() as conn:
            runs = conn.execute(
                sa.select(ws.c.workflow_uuid, ws.c.inputs, wi.c.inputs.label("input_row"))
                .select_from(ws.outerjoin(wi, wi.c.workflow_uuid == ws.c.workflow_uuid))
                .where(ws.c.status.in_(list(_UNFINISHED_STATES)), ws.c.name.like(f"{WORKFLOW_PREFIX}%"), ws.c.serialization == serialization)
                .order_by(ws.c.workflow_uuid)
            ).all()
            for run_id, status_inputs, input_row in runs:
                changed = 0
                for table, column, text in ((ws, ws.c.inputs, status_inputs), (wi, wi.c.inputs, input_row)):
                    new = rewrite(run_id, text) if text else None
                    if new is not None:
                        conn.execute(sa.update(table).where(table.c.workflow_uuid == run_id).values({column.name: new}))
                        changed += 1
                steps = conn.execute(
                    sa.select(oo.c.function_id, oo.c.output, oo.c.error).where(oo.c.workflow_uuid == run_id, oo.c.serialization == serialization)
                ).all()
                for function_id, output, error in steps:
                    values = {}
                    for name, text in (("output", output), ("error", error)):
                        new = rewrite(run_id, text) if text else None
                        if new is not None:
                            values[name] = new
                    if values:
                        conn.execute(sa.update(oo).where(oo.c.workflow_uuid == run_id, oo.c.function_id == function_id).values(values))
                        changed += len(values)
                rewritten += bool(changed)
        return rewritten


class _BatchRows:
    """DBOS's own enqueue (`_insert_workflow_status`: the status row and the inputs row of one workflow, built by
    DBOS from its enqueue options), with this object standing in for the SystemDatabase: the statements it would run
    one by one are collected, then each is run once with every run's row (executemany: SQLAlchemy sends multi-row
    VALUES). The rows are DBOS's; only the round trips go.

    DBOS inserts a status row with ON CONFLICT DO UPDATE ... RETURNING to tell an existing id from a new one; a batch's
    ids are fresh, so its status rows go in with a plain INSERT: an id that existed would refuse the whole batch (a
    unique violation, a bug, never a retry). With RETURNING, SQLAlchemy would send 1,000 rows as one statement whose
    ~40,000 placeholders psycopg parses in Python (~0.5 s); without it psycopg pipelines one short statement per row."""

    def __init__(self, client: DBOSClient, sys_db: Any) -> None:
        self._client = client
        self._sys_db = sys_db
        self._statements: dict[str, tuple[Callable[[], Any], list[dict[str, Any]]]] = {}

    def __getattr__(self, name: str) -> Any:  # everything but the statements is the real SystemDatabase's
        return getattr(self._sys_db, name)

    def _execute_prepared(self, conn: Any, name: str, values: dict[str, Any], build: Callable[[], Any], **_: Any) -> Any:
        self._statements.setdefault(name, (build, []))[1].append(values)
        return _NoExistingRow()

    def write(self, conn: sa.Connection, runs: list[tuple[dict[str, Any], Any, dict[str, Any]]]) -> None:
        self._sys_db._apply_caller_schema(conn)
        for options, payload, run_options in runs:
            if options.get("duplication_policy") or options.get("workflow_id_reuse_policy"):
                raise ValueError("a batch enqueues fresh runs only (no duplication or reuse policy)")
            _, status = self._client._build_enqueue_status(options, payload, run_options)
            DBOSSystemDatabase._insert_workflow_status(self, status, conn, creator_xid=dbos_utils.generate_uuid())
        for name, (build, rows) in self._statements.items():
            conn.execute(sa.insert(self._sys_db.tables.workflow_status) if name == BATCH_STATUS_INSERT else build(), rows)


class _NoExistingRow:
    """What DBOS reads back from a status insert of the batch while it is only being collected: no existing row."""

    def fetchone(self) -> None:
        return None


def _ready_queues(enqueued: Iterable[dict[str, Any]]) -> list[str]:
    """The queues in which these enqueue options leave a run ready now (a delayed run is not: DBOS moves it later)."""
    return sorted({o["queue_name"] for o in enqueued if o.get("queue_name") and not o.get("delay_seconds")})


def _notify(conn: sa.Connection, queues: list[str]) -> None:
    for queue in queues:
        conn.execute(sa.select(sa.func.pg_notify(wakeups.QUEUE_CHANNEL, queue)))


def _enqueue_once(enqueue: Callable[..., Any], options: dict[str, Any], payload: Any, run_options: dict[str, Any]) -> bool:
    try:
        enqueue(options, payload, run_options)
    except Exception as exc:
        if not dbos_error.is_workflow_id_in_use_error(exc):
            raise
        return True
    return False


# -- inside a run (the worker's process-wide DBOS) -------------------------------------------------------------------------
def register_workflow(task_id: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Make `fn(payload, options)` the DBOS workflow of `task_id` (before launch)."""
    fn.__qualname__ = fn.__name__ = f"taskpack_{task_id.replace('-', '_').replace('.', '_')}"
    return DBOS.workflow(name=workflow_name(task_id))(fn)


def current_run_id() -> str | None:
    """The id of the run whose workflow this code executes in, if any."""
    return DBOS.workflow_id


def step(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` as a recorded step of the current run (a resumed run gets the recorded result); outside a run, call it."""
    if DBOS.workflow_id is None:
        return fn(*args, **kwargs)  # called outside a run (a unit test calling the task function directly)
    return DBOS.run_step({"name": name}, fn, *args, **kwargs)


async def step_async(name: str, fn: Callable[..., Awaitable[T]] | Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if DBOS.workflow_id is None:
        result = fn(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result  # type: ignore[return-value]
    return await DBOS.run_step_async({"name": name}, fn, *args, **kwargs)


def sleep(seconds: float) -> None:
    """A durable sleep: a resumed run sleeps only what was left."""
    DBOS.sleep(seconds)


async def sleep_async(seconds: float) -> None:
    await DBOS.sleep_async(seconds)


def enqueue_child(options: dict[str, Any], payload: Any, run_options: dict[str, Any], system: "SystemDatabase | None" = None) -> bool:
    """Enqueue a run as a recorded child of the current run; True when its id existed already."""
    existed = _enqueue_once(DBOS.enqueue_workflow_with_options, options, payload, run_options)
    if not existed and system is not None:
        system.announce([options])
    return existed


async def enqueue_child_async(options: dict[str, Any], payload: Any, run_options: dict[str, Any], system: "SystemDatabase | None" = None) -> bool:
    try:
        await DBOS.enqueue_workflow_with_options_async(options, payload, run_options)
    except Exception as exc:
        if not dbos_error.is_workflow_id_in_use_error(exc):
            raise
        return True
    if system is not None:
        await asyncio.to_thread(system.announce, [options])
    return False


def child_run(run_id: str) -> Any:
    """A handle on a child run: its `get_result()` is recorded in the parent (a resumed parent does not wait again)
    and raises the child's error."""
    return DBOS.retrieve_workflow(run_id)


async def child_run_async(run_id: str) -> Any:
    return await DBOS.retrieve_workflow_async(run_id)


# -- the worker's DBOS -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueSettings:
    name: str
    settings: dict[str, Any]


def launch(
    url: str,
    executor_id: str,
    version: str,
    serializer: Serializer,
    queues: list[QueueSettings],
    polling_interval: float,
    before_launch: Callable[[], None],
    sqlite_synchronous: str = "FULL",
) -> None:
    """Configure and launch this process's DBOS as executor `executor_id` of code `version`, listening on `queues`.

    `before_launch` runs once DBOS is configured and before it starts dequeuing or recovering runs.
    """
    drop_stale_log_handlers()
    on_sqlite = url.startswith("sqlite")
    if on_sqlite:
        sqlite_commits(url, sqlite_synchronous)  # before DBOS opens its engine for the file
    DBOS(
        config={
            "name": APP_NAME,
            "system_database_url": url,
            "application_version": version,
            "executor_id": executor_id,
            "log_level": "WARNING",
            "notification_listener_polling_interval_sec": 0.05,
            "serializer": serializer,
            "db_engine_kwargs": DEQUEUE_ENGINE_KWARGS,
        }
    )
    DBOS.listen_queues([q.name for q in queues])
    _install_queue_wakeups(queues, SQLITE_DEQUEUE_SPACING_S if on_sqlite else 0.0, release_early=not on_sqlite)
    before_launch()
    DBOS.launch()
    sys_db = dbos_module._get_dbos_instance()._sys_db
    millisecond_clock(sys_db)
    queue_sqlite_writers(sys_db.engine, sqlite_synchronous)
    _reuse_slow_reads(sys_db, RELOAD_EVERY_S)
    _OneStatementClaim(sys_db).install()
    if on_sqlite:
        _GroupedOutcomes(sys_db).install()
        _PreparedOnSqlite(sys_db).install()
    else:
        active = dbos_module._get_dbos_instance()._active_workflows_set
        if isinstance(active, _SlotWatch):
            active.announce = _notifier(sys_db.engine)
    _note_backlogs(sys_db)
    for queue in queues:
        DBOS.register_queue(queue.name, on_conflict="always_update", **{"polling_interval_sec": polling_interval, **queue.settings})
    _await_queue_threads([q.name for q in queues])


#: The worker's DBOS engine checks a connection out without a `SELECT 1` first: the pings were ~10 % of a busy
#: PostgreSQL worker's CPU (one per dequeue, status read and outcome). A connection the server dropped fails its
#: statement instead; SQLAlchemy then discards the pool's connections, and DBOS's `db_retry` runs the call again on a
#: new one. A SQLite file's connection has no server to drop it.
DEQUEUE_ENGINE_KWARGS = {"pool_pre_ping": False}

#: how long a launch waits for DBOS to start the threads that dequeue its queues
QUEUE_THREADS_TIMEOUT_S = 10.0


def _await_queue_threads(names: list[str], timeout: float = QUEUE_THREADS_TIMEOUT_S) -> None:
    """Return once a thread dequeues each of these queues. DBOS's queue manager lists the queues registered in the
    database once a second and starts a thread for each new one; the queues are registered after DBOS.launch, so a
    worker used to take its first runs up to a second after it said it was started (0.74 s of a 7.6 s benchmark of
    480 runs). The manager is asked to look now, and the worker is started when its queues are being dequeued."""
    if not _wakeable:
        return
    _wakeable[0].rescan()
    wanted = {_QUEUE_THREAD_PREFIX + name for name in names}
    deadline = time.monotonic() + timeout
    while not wanted <= {t.name for t in threading.enumerate() if t.is_alive()}:
        if time.monotonic() > deadline:
            log.warning("DBOS started no dequeuing thread for %s within %.0f s: runs there wait for its next look",
                        sorted(n[len(_QUEUE_THREAD_PREFIX):] for n in wanted), timeout)
            return
        time.sleep(0.002)


#: how long a worker keeps its queue settings and "is my version the latest?" answer before reading them again
RELOAD_EVERY_S = 1.0


def _reuse_slow_reads(sys_db: Any, ttl: float) -> None:
    """DBOS's queue thread reads, on every poll and wake-up, its queue's row (settings can change while it runs) and
    the newest registered application version (a claim matches runs of other versions only when this one is the
    newest): two statements per dequeue, a third of the queue thread's time on PostgreSQL, with answers that change
    on a deploy or a settings change. Each is read at most once per `ttl` seconds now: a new version or a changed
    concurrency takes effect within that, as a poll interval's lag did before wake-ups."""
    queues = Reused(sys_db.get_queue, ttl)
    versions = Reused(sys_db._is_latest_version, ttl)

    def get_queue(name: str, **kwargs: Any) -> Any:
        if kwargs:
            return queues.read(name, **kwargs)
        return queues.get(name, name)

    def is_latest_version(app_version: str, c: Any = None) -> bool:
        return bool(versions.get(app_version, app_version, c))

    sys_db.get_queue = get_queue
    sys_db._is_latest_version = is_latest_version


_backlogged: set[str] = set()  # queues whose last dequeue took every free slot: more runs may be waiting there
#: one dequeue of a queue at a time in this process: its queue thread's, or a slot's own (`_SlotWatch._claim_here`)
_dequeue_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)


def _note_backlogs(sys_db: Any) -> None:
    """Remember, per queue, whether its last dequeue filled every free slot of this worker (or had none free): then a
    slot freed later should be filled at once. When it left slots free, the queue held no more runs for this worker,
    and a run enqueued since wakes the queue itself.

    Dequeues of one queue take turns (`_dequeue_locks`) and count the slots taken when their turn comes: a freed slot
    may claim its next run itself while the queue thread dequeues, and the count DBOS took before its dequeue would
    not see that run."""
    original = sys_db.start_queued_workflows

    def start_queued_workflows(queue: Any, executor_id: str, app_version: str, partition_key: Any,
                               local_running_count: int = 0, *args: Any, **kwargs: Any) -> Any:
        with _dequeue_locks[queue.name]:
            return claim_and_note(queue, executor_id, app_version, partition_key, local_running_count, *args, **kwargs)

    def claim_and_note(queue: Any, executor_id: str, app_version: str, partition_key: Any,
                       local_running_count: int = 0, *args: Any, **kwargs: Any) -> Any:
        active = dbos_module._get_dbos_instance()._active_workflows_set
        if isinstance(active, _SlotWatch) and partition_key is None:
            local_running_count = active.count_for_queue(queue.name)
        claimed, stopped_by = original(queue, executor_id, app_version, partition_key, local_running_count, *args, **kwargs)
        if claimed and isinstance(active, _SlotWatch):
            active.claimed(queue.name, claimed)
        slots = queue._worker_concurrency
        if stopped_by is not None or (slots is not None and local_running_count + len(claimed) >= slots):
            _backlogged.add(queue.name)
        else:
            _backlogged.discard(queue.name)
        return claimed, stopped_by

    sys_db.start_queued_workflows = start_queued_workflows
    sys_db.taskpack_claim_and_note = claim_and_note  # a slot's own dequeue, already holding the queue's turn


# -- claiming a queue's runs with their statuses in one statement -------------------------------------------------------
#: DBOS's state a claim moves a run from and to
_CLAIMABLE, _CLAIMED = "ENQUEUED", "PENDING"


class _OneStatementClaim:
    """DBOS's dequeue of a queue without shared limits, in one round trip that also returns what DBOS reads next.

    DBOS claims in a transaction of four round trips (begin, select for update, update returning the ids, commit), and
    its queue thread then reads the claimed runs' statuses with a second query; each statement's SQLAlchemy
    expression is built anew on every call. Those two were ~5 and ~2 ms of each idle PostgreSQL trigger->start
    (~15 ms in all) and most of a busy worker's time under the GIL. Here the claim is DBOS's own selection and update,
    built once per queue and version rule: on PostgreSQL one `UPDATE ... WHERE workflow_uuid = ANY(ARRAY(SELECT ...
    FOR UPDATE SKIP LOCKED LIMIT n)) RETURNING` inside a CTE joined to the inputs (one statement in its own
    transaction), on SQLite the update whose RETURNING reads the inputs with a subquery. The statuses it returns are
    handed to DBOS's status read of those runs.

    Only queues whose limits are this worker's own slots come here (no rate limit or partitions, an unsharded
    database), and on SQLite also queues with a global concurrency: DBOS claims the others, with the isolation and
    lock rules their shared budgets need. On SQLite a global concurrency is one more bound in the same statement (the
    pick's LIMIT subtracts the queue's running runs, counted by the statement itself): the UPDATE holds the file's one
    write lock from its first read, so no other claim runs between that count and its writes. DBOS counted, picked
    and updated in three statements and read the statuses in a fourth, ~3 ms of each run's start with the introspection
    queue's limit of 10. A claim that takes nothing counts the running runs again to tell DBOS's stop reason
    ("concurrency": the queue is then woken as a slot frees here) from an empty queue.
    `tests/runtime/test_dbos_adapter.py` compares both claims, row for row, against the installed DBOS."""

    def __init__(self, sys_db: Any) -> None:
        self._sys_db = sys_db
        self._dbos_claim = sys_db.start_queued_workflows
        self._dbos_statuses = sys_db.get_workflow_statuses
        self._statements: dict[tuple[bool, bool], _Compiled] = {}
        self._count: _Compiled | None = None
        self._handed = threading.local()  # the statuses of this thread's last claim, until DBOS reads them
        self._postgres = sys_db.engine.dialect.name == "postgresql"
        self._autocommit = sys_db.engine.execution_options(isolation_level="AUTOCOMMIT")

    def install(self) -> None:
        self._sys_db.start_queued_workflows = self.start_queued_workflows
        self._sys_db.get_workflow_statuses = self.get_workflow_statuses

    def takes(self, queue: Any, partition_key: Any) -> bool:
        """Whether this queue's claim is this worker's alone to decide (its slots are its only limit)."""
        sys_db = self._sys_db
        return (
            partition_key is None
            and queue._worker_concurrency is not None
            and (queue._concurrency is None or not self._postgres)
            and queue._limiter is None
            and not queue._has_partition_limits()
            and not sys_db.sharded
            and not sys_db._claim_gate(queue.name, None)
            and not sys_db._scoped(sys_db.tables.workflow_status)
        )

    def start_queued_workflows(self, queue: Any, executor_id: str, app_version: str, partition_key: Any,
                               local_running_count: int = 0, partition_local_running_count: int = 0, *,
                               owner_xid: str | None = None, is_latest_version: bool | None = None) -> Any:
        if not self.takes(queue, partition_key):
            return self._dbos_claim(queue, executor_id, app_version, partition_key, local_running_count,
                                    partition_local_running_count, owner_xid=owner_xid, is_latest_version=is_latest_version)
        free = max(0, queue._worker_concurrency - local_running_count)
        if free <= 0:
            return [], "worker_concurrency"
        if is_latest_version is None:
            is_latest_version = self._sys_db._is_latest_version(app_version)
        limited = queue._concurrency is not None  # SQLite only (`takes`)
        claim = self._statement(bool(is_latest_version), limited)
        params = {
            "claim_queue": queue.name, "claim_version": app_version, "claim_limit": free, "claim_owner": owner_xid,
            "claim_executor": executor_id, "claim_start_ms": int(time.time() * 1000), "claim_concurrency": queue._concurrency,
        }
        # the statement compiled once (`_Compiled`): SQLAlchemy's work per execution of a compiled statement (its
        # cache key, parameters, result) was most of a SQLite claim's CPU and ~1.1 of a PostgreSQL claim's ~3.7 ms
        if self._postgres:  # one statement, its own transaction: one round trip, no BEGIN and COMMIT of its own
            with self._autocommit.connect() as conn:
                rows = claim.read(conn.exec_driver_sql(claim.sql, claim.params(params)))
        else:
            with self._sys_db.engine.connect() as conn, conn.begin():
                rows = claim.read(conn.exec_driver_sql(claim.sql, claim.params(params)))
        if not rows and limited and self._at_global_limit(queue):
            return [], "concurrency"
        rows.sort(key=lambda m: (m["priority"], m["created_at"]))  # DBOS's dequeue order; RETURNING has none
        statuses = [_dequeued_status(m) for m in rows]
        self._handed.statuses = {s["workflow_uuid"]: s for s in statuses}
        return [s["workflow_uuid"] for s in statuses], None

    def _at_global_limit(self, queue: Any) -> bool:
        """Whether the queue's running runs fill its global concurrency (what made an empty claim, rather than an
        empty queue); more than that is DBOS's warning too."""
        count = self._compiled_count()
        with self._sys_db.engine.connect() as conn:
            running = conn.exec_driver_sql(count.sql, count.params({"claim_queue": queue.name})).scalar() or 0
        if running > queue._concurrency:
            log.warning(
                "the total number of pending workflows (%d) on queue %s exceeds the global concurrency limit (%d)",
                running, queue.name, queue._concurrency,
            )
        return bool(running >= queue._concurrency)

    def _running_count(self) -> Any:
        """The queue's runs that count against its global concurrency, as DBOS counts them (`_queue_pending_filter`)."""
        ws = self._sys_db.tables.workflow_status
        return sa.select(sa.func.count()).select_from(ws).where(self._sys_db._queue_pending_filter(sa.bindparam("claim_queue")))

    def _compiled_count(self) -> "_Compiled":
        """`_running_count` compiled once: an idle worker's queue thread asks it after every empty claim of a limited
        queue."""
        if self._count is None:
            self._count = _Compiled(self._running_count(), self._sys_db.engine)
        return self._count

    def get_workflow_statuses(self, workflow_ids: list[str]) -> Any:
        """The statuses the last claim of this thread returned, when those are the ones asked for (DBOS's queue thread
        asks right after its claim); any other read goes to DBOS."""
        handed = getattr(self._handed, "statuses", None)
        self._handed.statuses = None
        if handed is not None and workflow_ids and all(i in handed for i in workflow_ids):
            return [handed[i] for i in workflow_ids]
        return self._dbos_statuses(workflow_ids)

    def _statement(self, latest: bool, limited: bool = False) -> Any:
        if (latest, limited) not in self._statements:
            built = self._build(latest, limited)
            self._statements[(latest, limited)] = _Compiled(built, self._sys_db.engine)
        return self._statements[(latest, limited)]

    def _build(self, latest: bool, limited: bool = False) -> Any:
        """DBOS's claim (SystemDatabase.start_queued_workflows for a queue without shared limits), with bound values;
        `limited` (SQLite): the queue's global concurrency bounds it too."""
        sys_db = self._sys_db
        ws, wi = sys_db.tables.workflow_status, sys_db.tables.workflow_input
        version = ws.c.application_version == sa.bindparam("claim_version")
        if latest:  # runs enqueued with no version go to workers of the newest one
            version = sa.or_(version, ws.c.application_version.is_(None))
        owned = sys_db._name_filter(ws.c.application_name, sys_db.app_name)
        picked = (
            sa.select(ws.c.workflow_uuid)
            .where(ws.c.queue_name == sa.bindparam("claim_queue"))
            .where(ws.c.status == _CLAIMABLE)
            .where(sys_db._in_flight_status_prover())
            .where(version)
            .where(owned)
            .order_by(ws.c.priority.asc(), ws.c.created_at.asc())
            .limit(self._claim_limit(limited))
            .with_for_update(skip_locked=True)
        )
        start_ms = sa.bindparam("claim_start_ms", type_=sa.BigInteger)
        timeout = ws.c.workflow_timeout_ms
        now = sys_db._now_ms_sql()
        if self._postgres:
            # `= ANY(ARRAY(subquery))`: the pick runs once, before the update (an IN (subquery) can be rescanned by
            # the plan, and a LIMIT ... SKIP LOCKED pick run again takes more runs), and the update finds the
            # picked rows by their key (a join let the planner scan every queued run of the queue instead).
            which = ws.c.workflow_uuid == sa.any_(sa.func.array(picked.scalar_subquery()))
        else:
            which = ws.c.workflow_uuid.in_(picked.scalar_subquery())
        claim = ws.update().where(which).where(owned)
        if not self._postgres:
            claim = claim.where(ws.c.status == _CLAIMABLE)
        # PostgreSQL: the pick locked its rows in this statement (FOR UPDATE SKIP LOCKED returns only rows it locked,
        # re-checked on their newest version), so their status cannot change before the update and a second status
        # test would check nothing. It made the planner find the picked rows through the queue index: the update
        # read the index entries of every queued run of the database (a claim from a backlog of 20,000 runs: 3.5 ms
        # in the server, linear in the backlog) instead of the picked rows' keys.
        claim = (
            claim
            .values(
                status=_CLAIMED,
                owner_xid=sa.bindparam("claim_owner"),
                application_version=sa.bindparam("claim_version"),
                executor_id=sa.bindparam("claim_executor"),
                application_name=sys_db.app_name,
                started_at_epoch_ms=now,
                rate_limited=False,
                recovery_attempts=ws.c.recovery_attempts + 1,
                updated_at=now,
                workflow_deadline_epoch_ms=sa.case(
                    (
                        sa.and_(timeout.isnot(None), ws.c.workflow_deadline_epoch_ms.is_(None)),
                        sa.case((timeout > _MAX_BIGINT - start_ms, _MAX_BIGINT), else_=start_ms + timeout),
                    ),
                    else_=ws.c.workflow_deadline_epoch_ms,
                ),
            )
        )
        columns = [ws.c[name] for name in _STATUS_COLUMNS]
        if self._postgres:
            claimed = claim.returning(*columns).cte("claimed")
            statement = sa.select(
                *(claimed.c[name] for name in _STATUS_COLUMNS if name != "inputs"),
                sa.func.coalesce(wi.c.inputs, claimed.c.inputs).label("inputs"),
            ).select_from(claimed.outerjoin(wi, wi.c.workflow_uuid == claimed.c.workflow_uuid))
            return statement
        # SQLite has no UPDATE in a CTE; its RETURNING reads the inputs through a subquery (one statement too)
        # (SQLAlchemy renders SQLite's RETURNING columns unqualified, so the updated row's id is named in full here)
        updated_id = sa.literal_column(f"{ws.name}.workflow_uuid")
        kept = sa.select(wi.c.inputs).where(wi.c.workflow_uuid == updated_id).scalar_subquery()
        returned = [sa.func.coalesce(kept, ws.c.inputs).label(name) if name == "inputs" else ws.c[name] for name in _STATUS_COLUMNS]
        return claim.returning(*returned)


    def _claim_limit(self, limited: bool) -> Any:
        """The free slots, and with a global concurrency (SQLite) what the queue's running runs leave of it."""
        free = sa.bindparam("claim_limit", type_=sa.Integer)
        if not limited:
            return free
        room = sa.bindparam("claim_concurrency", type_=sa.Integer) - self._running_count().scalar_subquery()
        return sa.func.max(0, sa.func.min(free, room))


_MAX_BIGINT = 2**63 - 1  # DBOS's cap of a deadline

#: the workflow_status columns DBOS's status read returns (`SystemDatabase.get_workflow_statuses`)
_STATUS_COLUMNS = (
    "workflow_uuid", "status", "name", "recovery_attempts", "config_name", "class_name", "authenticated_user",
    "authenticated_roles", "assumed_role", "queue_name", "executor_id", "created_at", "updated_at",
    "application_version", "application_id", "workflow_deadline_epoch_ms", "workflow_timeout_ms", "deduplication_id",
    "priority", "inputs", "queue_partition_key", "forked_from", "parent_workflow_id", "started_at_epoch_ms",
    "serialization", "delay_until_epoch_ms", "attributes", "schedule_name", "debounce_deadline_epoch_ms",
    "is_debounced", "application_name",
)


def _dequeued_status(m: Any) -> dict[str, Any]:
    """A claimed row in the shape of DBOS's `get_workflow_statuses` (a `WorkflowStatusInternal`)."""
    status = {name: m[name] for name in _STATUS_COLUMNS}
    status["app_version"] = status.pop("application_version")
    status["app_id"] = status.pop("application_id")
    status["is_debounced"] = bool(status["is_debounced"])
    status["shard_key"] = None
    return status


# -- SQLite: outcomes recorded in groups -------------------------------------------------------------------------------
class _GroupedOutcomes:
    """DBOS's `update_workflow_outcome` on SQLite, with the outcomes of runs ending together written in one
    transaction.

    DBOS records each run's outcome in a transaction of its own: the status update, the output's upsert, a commit
    (an fsync with FULL), with statements built on every call while the file's one writer lock is held. Eight runs
    ending at once queued eight transactions at that lock (~2 ms held each, most of a busy worker's time at the
    file). Here the first run to end writes, in one transaction, its outcome and those of every run that ended
    meanwhile: the same statements per run (DBOS's, compiled once), then one commit. Each run still learns whether its
    own write landed (the update found its run PENDING and owned by that execution, as DBOS's does); a group whose
    transaction fails hands each of its runs to DBOS's own write (with DBOS's retries)."""

    def __init__(self, sys_db: Any) -> None:
        self._sys_db = sys_db
        self._dbos_write = sys_db.update_workflow_outcome
        self._cv = threading.Condition()
        self._pending: list[_Outcome] = []
        self._writing = False
        ws, wo = sys_db.tables.workflow_status, sys_db.tables.workflow_output
        now = sys_db._now_ms_sql()
        update = (
            ws.update()
            .values(status=sa.bindparam("o_status"), deduplication_id=None, owner_xid=None, updated_at=now, completed_at=now)
            .where(ws.c.workflow_uuid == sa.bindparam("o_id"))
            .where(ws.c.status == _CLAIMED)
        )
        self._update = _Compiled(update, sys_db.engine)
        self._owned_update = _Compiled(update.where(ws.c.owner_xid == sa.bindparam("o_owner")), sys_db.engine)
        upsert = sys_db.dialect.insert(wo)
        upsert = upsert.on_conflict_do_update(
            index_elements=[wo.c.workflow_uuid], set_={"output": upsert.excluded.output, "error": upsert.excluded.error}
        )
        self._upsert = _Compiled(upsert.values(workflow_uuid=sa.bindparam("o_id"), output=sa.bindparam("o_output"),
                                               error=sa.bindparam("o_error")), sys_db.engine)

    def install(self) -> None:
        self._sys_db.update_workflow_outcome = self.update_workflow_outcome

    def update_workflow_outcome(self, workflow_id: str, status: str, *, output: str | None = None,
                                error: str | None = None, owner_xid: str | None = None) -> bool:
        if owner_xid is None:
            owner_xid = dbos_context.current_owner_xid(workflow_id)  # the calling execution's, as DBOS reads it
        mine = _Outcome(workflow_id, status, output, error, owner_xid)
        with self._cv:
            self._pending.append(mine)
            while self._writing and mine.landed is None:
                self._cv.wait()
            group: list[_Outcome] = []
            if mine.landed is None:
                self._writing = True
                group, self._pending = self._pending, []
        if group:
            try:
                self._write(group)
            except Exception as exc:  # noqa: BLE001 - each run of the group is written by DBOS instead
                log.warning("grouped outcome write failed (%s); each run's goes through DBOS", exc)
                for outcome in group:
                    outcome.landed = _FAILED
            finally:
                with self._cv:
                    self._writing = False
                    self._cv.notify_all()
        if mine.landed is _FAILED:
            return self._dbos_write(workflow_id, status, output=output, error=error, owner_xid=owner_xid)
        return bool(mine.landed)

    def _write(self, group: list["_Outcome"]) -> None:
        with self._sys_db.engine.begin() as conn:
            landed = []
            for outcome in group:
                params = {"o_id": outcome.workflow_id, "o_status": outcome.status, "o_owner": outcome.owner_xid}
                update = self._update if outcome.owner_xid is None else self._owned_update
                outcome.written = conn.exec_driver_sql(update.sql, update.params(params)).rowcount > 0
                if outcome.written:
                    landed.append(outcome)
            if landed:
                conn.exec_driver_sql(self._upsert.sql, [
                    self._upsert.params({"o_id": o.workflow_id, "o_output": o.output, "o_error": o.error}) for o in landed
                ])
        for outcome in group:
            outcome.landed = outcome.written


_FAILED = "failed"


@dataclass
class _Outcome:
    workflow_id: str
    status: str
    output: str | None
    error: str | None
    owner_xid: str | None
    written: bool = False
    landed: Any = None  # True / False once its group committed, _FAILED when the group's transaction failed


class _Compiled:
    """A statement compiled once for the SQLite driver: its SQL and the order of its parameters, its constants kept.

    Executed with `exec_driver_sql`, the statement skips what SQLAlchemy does per execution even with its compiled
    cache: the cache key (a walk over the whole statement), the execution context and the rendering of expanding
    parameters. Those (DBOS's `IN` of constant lists) are expanded once here, as SQLAlchemy would per call; values go
    through their types' bind processors, and `read` gives the columns a statement returns through their types'
    result processors (JSON, booleans), as SQLAlchemy's result would."""

    def __init__(self, statement: Any, engine: sa.Engine) -> None:
        dialect = engine.dialect
        compiled = statement.compile(  # DBOS's tables name a placeholder schema its engine translates
            dialect=dialect, schema_translate_map=engine.get_execution_options().get("schema_translate_map"),
            render_schema_translate=True,
        )
        # the statement's own bind parameters are given at execution: rendered as placeholders now
        expanded = compiled.construct_expanded_state({name: None for name, value in compiled.params.items() if value is None})
        self.sql = expanded.statement
        self._order = list(expanded.positiontup or [])
        self._names = set(expanded.parameters)
        self._processors = dict(expanded.processors)
        self._constants = {
            name: self._processors[name](value) if name in self._processors else value
            for name, value in expanded.parameters.items()
            if value is not None
        }
        self._readers = {}
        for column in getattr(statement, "_returning", ()) or ():
            name = getattr(column, "name", None)
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None) if name else None
            if processor is not None:
                self._readers[name] = processor

    def params(self, values: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters: a tuple in placeholder order (SQLite's `?`), or by name (psycopg's `%(name)s`)."""
        processors = self._processors
        if not self._order:
            named = dict(self._constants)
            for name, value in values.items():
                if name in self._names:
                    processor = processors.get(name)
                    named[name] = value if processor is None else processor(value)
            return named
        out = []
        for name in self._order:
            if name in values:
                value = values[name]
                processor = processors.get(name)
                out.append(value if processor is None else processor(value))
            else:
                out.append(self._constants.get(name))
        return tuple(out)

    def read(self, result: Any) -> list[dict[str, Any]]:
        """The rows a returning statement gave, as mappings with the values SQLAlchemy's result would give."""
        names = list(result.keys())
        readers = self._readers
        return [
            {name: readers[name](value) if name in readers else value for name, value in zip(names, row)}
            for row in result.fetchall()
        ]


#: SQLite's clock in milliseconds, on every SQLite version. Below Python 3.12 DBOS reads it as
#: `strftime('%s', 'now') * 1000` (its SQLite columns' defaults too): whole seconds, so on the embedded default a
#: run's created, started and finished times were the same second or a second apart (a 50 ms run lasted 0 s, a run
#: started "before" it was triggered), runs triggered in one second were queued in no particular order, and a
#: change since a millisecond time missed a run created in the same second. `julianday('now')` carries the
#: milliseconds SQLite's clock has (a double: ~50 us of resolution today).
_SQLITE_NOW_MS = sa.cast(sa.func.round((sa.func.julianday("now") - 2440587.5) * 86_400_000.0), sa.BigInteger)


def millisecond_clock(sys_db: Any) -> None:
    """DBOS's statements on a SQLite system database read the clock in milliseconds (`SystemDatabase._now_ms_sql`);
    installed before anything builds a statement with it."""
    if sys_db.engine.dialect.name == "sqlite":
        sys_db._now_ms_sql = lambda: _SQLITE_NOW_MS


class _PreparedOnSqlite:
    """DBOS's `_execute_prepared` (a statement built and compiled once per set of columns, values through their
    types' bind processors) on SQLite as well, with DBOS's values (plain values, as its PostgreSQL path passes them).

    DBOS builds those statements on every call on SQLite ("no schema to render ahead of time"), and a run's enqueue is
    two of them: building and compiling were ~40 % of a trigger's CPU, time a trigger from another process spends
    before it can take the file's write lock and after. The schema DBOS's tables name is translated as the engine
    translates it (`_Compiled`), so the SQL is the one SQLAlchemy renders per call. A caller's connection of another
    dialect goes to DBOS's own path."""

    def __init__(self, sys_db: Any) -> None:
        self._sys_db = sys_db
        self._dbos_execute = sys_db._execute_prepared
        self._prepared: dict[tuple[str, tuple[str, ...], bool], tuple[str, list[str], dict[str, Any], dict[str, Any]]] = {}

    def install(self) -> None:
        if self._sys_db.engine.dialect.name == "sqlite":
            self._sys_db._execute_prepared = self.execute

    def execute(self, conn: Any, name: str, values: dict[str, Any], build: Callable[[], Any], *,
                insert_columns: bool = True) -> Any:
        connection = conn.connection() if isinstance(conn, Session) else conn
        engine = self._sys_db.engine
        if connection.dialect is not engine.dialect:
            return self._dbos_execute(conn, name, values, build, insert_columns=insert_columns)
        if name == BATCH_STATUS_INSERT and "created_at" not in values:
            # the columns' SQLite defaults are DBOS's whole-second clock (see `_SQLITE_NOW_MS`): stamped here instead
            now_ms = round(time.time() * 1000)
            values = {**values, "created_at": now_ms, "updated_at": now_ms}
        key = (name, tuple(values), insert_columns)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = self._compile(build(), list(values) if insert_columns else None, engine)
        sql, order, processors, constants = prepared
        params = []
        for bind in order:
            value = values[bind] if bind in values else constants[bind]
            processor = processors.get(bind)
            params.append(value if processor is None else processor(value))
        return connection.exec_driver_sql(sql, tuple(params))

    @staticmethod
    def _compile(statement: Any, column_keys: list[str] | None, engine: sa.Engine) -> tuple[str, list[str], dict[str, Any], dict[str, Any]]:
        dialect = engine.dialect
        compiled = statement.compile(
            dialect=dialect, column_keys=column_keys, render_schema_translate=True,
            schema_translate_map=engine.get_execution_options().get("schema_translate_map"),
        )
        processors: dict[str, Any] = {}
        constants: dict[str, Any] = {}
        for bind_name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[bind_name] = processor
            constants[bind_name] = bind.value
        return str(compiled), list(compiled.positiontup or []), processors, constants


def destroy(workflow_completion_timeout: float) -> None:
    DBOS.destroy(workflow_completion_timeout_sec=workflow_completion_timeout)


# -- waking the queue threads between polls ------------------------------------------------------------------------------
# DBOS dequeues by polling: each queue's thread sleeps its polling interval, then claims what its slots allow. A run
# triggered into an idle worker waited up to a poll to start, and a slot freed by a finished run stayed empty until
# the next poll (at most `worker_concurrency` runs per poll: with 8 slots and 20 ms polls, 400 runs/s at best, and
# half an interval of latency on average). The queue threads are handed a stop event that a wake-up also ends, so a
# queue is polled at once when a run is enqueued into it (in this process, or announced by NOTIFY from another) and
# when one of its runs leaves its slot. Polls still happen on their interval: a lost wake-up costs what it did before.
_QUEUE_THREAD_PREFIX = "queue-worker-"


class _WakeableStop:
    """The stop event DBOS's queue threads wait on between polls; `wake(queue)` ends the wait of that queue's thread.

    A wake-up that comes while the thread is busy dequeuing is kept (a counter per queue), so its next wait returns
    at once: a run enqueued during a poll is not left for the following one.
    """

    def __init__(self, spacing: float = 0.0) -> None:
        self.spacing = spacing  # the least time between two dequeues of a queue while wake-ups keep coming
        self._cond = threading.Condition()
        self._flag = False
        self._wakes: dict[str, int] = {}
        self._everything = 0
        self._rescans = 0
        self._seen = threading.local()

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        with self._cond:
            self._flag = True
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._flag = False

    def wake(self, queues: Iterable[str] | None) -> None:
        with self._cond:
            if queues is None:
                self._everything += 1
            else:
                for queue in queues:
                    self._wakes[queue] = self._wakes.get(queue, 0) + 1
            self._cond.notify_all()

    def rescan(self) -> None:
        """End the queue manager's wait: it lists the queues again and starts a thread for each new one (it looks
        once a second otherwise)."""
        with self._cond:
            self._rescans += 1
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        name = threading.current_thread().name
        queue = name[len(_QUEUE_THREAD_PREFIX):] if name.startswith(_QUEUE_THREAD_PREFIX) else None
        with self._cond:
            if queue is None:  # the queue manager thread: the stop ends its wait, or a rescan (new queues to start)
                seen_rescans = getattr(self._seen, "rescans", 0)
                if not self._flag and seen_rescans == self._rescans:
                    self._cond.wait_for(lambda: self._flag or self._rescans != seen_rescans, timeout)
                self._seen.rescans = self._rescans
                return self._flag
            mark = lambda: (self._wakes.get(queue, 0), self._everything)  # noqa: E731
            seen = getattr(self._seen, "mark", (0, 0))  # wakes from before the thread's first wait count too
            if not self._flag and seen == mark():
                self._cond.wait_for(lambda: self._flag or mark() != seen, timeout)
            woken = mark() != seen
            last = getattr(self._seen, "woken_at", None)
            if woken and not self._flag and self.spacing and last is not None:
                # woken again right after a woken dequeue: the runs triggered meanwhile gather for one dequeue
                remaining = last + self.spacing - time.monotonic()
                if remaining > 0:
                    self._cond.wait_for(lambda: self._flag, remaining)
            self._seen.mark = mark()
            if woken:
                self._seen.woken_at = time.monotonic()
            return self._flag


_wakeable: list[_WakeableStop] = []  # the stop event of this process's launched DBOS queue thread, if any
#: On SQLite, the least time between two dequeues of one queue that wake-ups start. Every trigger wakes the queue, so
#: runs triggered one after another were dequeued one at a time: a transaction (a commit, and a turn at the file's
#: one writer) and ~3.8 ms of CPU per run, against one per ~8 runs when DBOS polled every 20 ms. A wake-up within
#: this time of the last woken dequeue now waits out the rest of it and its dequeue takes what came meanwhile; the
#: first wake-up after a quiet moment is served at once (idle trigger->start is unchanged). 1,000 no-op runs
#: triggered in the worker's process: 6.4-7.0 s -> 4.8-5.3 s (raw DBOS polling every 20 ms: 4.8-4.9 s; a 20 ms
#: spacing: 4.2-4.5 s, but a run triggered into a busy worker may wait that long). Not on PostgreSQL: its dequeues do
#: not queue for one writer, and a slot freed by a run would wait too (one worker's 100 ms runs).
SQLITE_DEQUEUE_SPACING_S = 0.01
_dequeue_spacing = [0.0]  # what the next launch's queue thread uses (set by `_install_queue_wakeups`)
_original_queue_thread = dbos_module.queue_thread


def _queue_thread(stop_event: Any, dbos_instance: Any) -> None:
    """DBOS's queue thread, on a stop event that wake-ups end too (DBOS.destroy still sets it: it replaces the one
    DBOS made in the list destroy goes through)."""
    wakeable = _WakeableStop(_dequeue_spacing[0])
    events = dbos_instance.background_thread_stop_events
    for index, event in enumerate(events):
        if event is stop_event:
            events[index] = wakeable
    if stop_event.is_set():
        wakeable.set()
    _wakeable[:] = [wakeable]
    try:
        _original_queue_thread(wakeable, dbos_instance)
    finally:
        if _wakeable and _wakeable[0] is wakeable:
            _wakeable.clear()


CLAIM_GRACE_S = 10.0  # a dequeued run not started by then is not waiting for a thread any more


class _SlotWatch(dbos_core.ActiveWorkflowById):
    """DBOS's count of the runs executing here, which also wakes a run's queue as the run leaves its slot, when runs
    may be waiting for one: the queue had all of this worker's slots taken, or its last dequeue filled every slot it
    had free (slots freed together: the second leaves while the dequeue the first woke is under way, and the queue
    no longer looks full). When the last dequeue left slots free, the queue was empty then, and a run enqueued since
    woke the queue itself; an extra poll per run (a dequeue transaction) would only take CPU and the SQLite writer
    from the runs and triggers under way."""

    def __init__(self, slots: dict[str, int], release_early: Iterable[str] = ()) -> None:
        super().__init__()
        self.slots = slots
        self._claimed: dict[str, tuple[str, float]] = {}  # run -> (queue, when): dequeued, not yet executing here
        #: PostgreSQL, queues limited only by this worker's slots: a run gives its slot back when its code returns, and
        #: the next run's claim overlaps the outcome write (two commits in a row per slot otherwise). A queue-wide
        #: limit counts the run until its outcome is written (a claim then would find no room), and SQLite has one
        #: writer per file (the claim would only queue behind the outcome): those keep the slot to the end.
        self.release_early = frozenset(release_early)
        self._code_done: set[str] = set()  # runs whose code has returned, their outcome not yet recorded
        #: runs whose recorded end is announced to other processes (child runs: their parent may wait elsewhere), and
        #: how (PostgreSQL: NOTIFY, set once DBOS is launched; None: nothing to announce with)
        self._announced: set[str] = set()
        self.announce: Callable[[str], None] | None = None

    def announce_end(self, run_id: str) -> None:
        if self.announce is not None:
            with self._lock:
                self._announced.add(run_id)

    def claimed(self, queue_name: str, run_ids: list[str]) -> None:
        """A dequeue took these runs for this worker. They count against its slots from now: DBOS adds a run to this
        set only once an executor thread starts it, and a dequeue that came before that (a wake-up right after
        this one) would see the slot free and take one run too many."""
        now = time.monotonic()
        with self._lock:
            for run_id in run_ids:
                if run_id not in self._m:
                    self._claimed[run_id] = (queue_name, now)

    def add(self, key: str, queue_name: str | None = None, queue_partition_key: str | None = None) -> Any:
        entry = super().add(key, queue_name, queue_partition_key)
        with self._lock:
            self._claimed.pop(key, None)
        return entry

    def count_for_queue(self, queue_name: str) -> int:
        """The queue's runs that hold a slot here: dequeued and not started yet, or executing. A dequeued run that
        never starts (its dispatch failed) stops counting after `CLAIM_GRACE_S`."""
        now = time.monotonic()
        with self._lock:
            for run_id, (_, when) in list(self._claimed.items()):
                if now - when > CLAIM_GRACE_S:
                    del self._claimed[run_id]
            running = sum(
                1 for run_id, buckets in self._m.items() for bucket in buckets
                if bucket is not None and bucket[0] == queue_name and run_id not in self._code_done
            )
            return running + sum(1 for queue, _ in self._claimed.values() if queue == queue_name)

    def code_returned(self, run_id: str) -> None:
        """The run's code is done; DBOS records its outcome next. In a `release_early` queue its slot is free now."""
        if not self.release_early:
            return
        with self._lock:
            buckets = self._m.get(run_id) or []
            queue_name = next((b[0] for b in buckets if b is not None), None)
        if queue_name not in self.release_early:
            return
        self._leave_slot(queue_name, lambda: self._code_done.add(run_id), claim_here=True)

    def _remove(self, key: str, bucket: Any) -> None:
        with self._lock:
            left_already = key in self._code_done
            self._code_done.discard(key)
            announced = key in self._announced and key in self._m and len(self._m[key]) == 1  # its last execution here
            if announced:
                self._announced.discard(key)
        if bucket is None or left_already:
            super()._remove(key, bucket)
        else:
            self._leave_slot(bucket[0], lambda: super(_SlotWatch, self)._remove(key, bucket))
        wakeups.run_ended()  # DBOS has recorded the run's outcome: this process's runs.wait callers read it now
        if announced and self.announce is not None:
            self.announce(key)  # ... and those of other processes (a parent waiting in another worker)

    def _leave_slot(self, queue_name: str, leave: Callable[[], None], *, claim_here: bool = False) -> None:
        slots = self.slots.get(queue_name)
        full = slots is not None and self.count_for_queue(queue_name) >= slots
        leave()
        if full or (slots is not None and queue_name in _backlogged):
            if not (claim_here and contextvars.Context().run(self._claim_here, queue_name)):
                wake_queues([queue_name])

    def _claim_here(self, queue_name: str) -> bool:
        """The freed slot's next run, claimed and started from this thread (the one whose run just returned): the
        queue thread would first have to be woken (~1-1.3 ms here, a sleeping thread scheduled again), on the path
        from one run's end to the next one's start. In an empty context (this thread's is the finished run's: DBOS
        would start the next run as its child). False when it did not dequeue: the queue thread is dequeuing (its
        turn counts the slot when it comes), the worker is stopping, or anything failed; the queue is woken then."""
        stop = _wakeable[0] if _wakeable else None
        turn = _dequeue_locks[queue_name]
        if stop is None or stop.is_set() or not turn.acquire(blocking=False):
            return False
        try:
            instance = dbos_module._get_dbos_instance()
            sys_db = instance._sys_db
            queue = sys_db.get_queue(queue_name)
            claim_and_note = getattr(sys_db, "taskpack_claim_and_note", None)
            if queue is None or claim_and_note is None:
                return False
            owner_xid = dbos_utils.generate_uuid()
            executor, version = dbos_utils.GlobalParams.executor_id, dbos_utils.GlobalParams.app_version
            claimed, _ = claim_and_note(queue, executor, version, None, 0, owner_xid=owner_xid)
        except Exception as exc:  # noqa: BLE001 - the queue thread dequeues instead, as it always could
            log.debug("a freed slot's own dequeue of %s failed: %s", queue_name, exc)
            return False
        finally:
            turn.release()
        try:  # the statuses the claim handed over (a read of DBOS's only if they are not these runs')
            statuses = {status["workflow_uuid"]: status for status in sys_db.get_workflow_statuses(claimed)} if claimed else {}
        except Exception as exc:  # noqa: BLE001 - each run's status is read alone below, as DBOS's queue thread does
            log.warning("Error fetching dequeued workflow statuses: %s", exc)
            statuses = {}
        for run_id in claimed:  # as DBOS's queue thread starts what it dequeued
            try:
                status = statuses.get(run_id) or sys_db.get_workflow_status(run_id)
                if status is None:
                    raise dbos_error.DBOSRecoveryError(run_id, "Workflow status not found")
                dbos_core.execute_dequeued_workflow(instance, status, owner_xid)
            except Exception as exc:  # noqa: BLE001 - DBOS's queue thread logs and goes on the same way
                log.error("Error executing workflow %s: %s", run_id, exc)
        return True


#: queue settings that share a budget with other workers (DBOS claims those queues, counting runs until recorded)
_SHARED_LIMITS = ("global_concurrency", "concurrency", "limiter", "partition_concurrency", "partition_limiter")


def _install_queue_wakeups(queues: list[QueueSettings], dequeue_spacing: float = 0.0, release_early: bool = False) -> None:
    """Before launch: DBOS's queue thread gets the wakeable stop event (with this spacing between woken dequeues),
    the slot count says when a slot frees."""
    _dequeue_spacing[0] = dequeue_spacing
    dbos_module.queue_thread = _queue_thread
    instance = dbos_module._get_dbos_instance()
    slots = {q.name: int(q.settings["worker_concurrency"]) for q in queues if q.settings.get("worker_concurrency")}
    if not isinstance(instance._active_workflows_set, _SlotWatch) and not instance._active_workflows_set.activeList():
        own = [q.name for q in queues if not any(q.settings.get(k) for k in _SHARED_LIMITS)] if release_early else []
        instance._active_workflows_set = _SlotWatch(slots, release_early=own)


def announce_end(run_id: str) -> None:
    """Tell other processes when this run's outcome is recorded (a child run: its parent may wait in another worker);
    PostgreSQL only (NOTIFY), a no-op elsewhere."""
    active = dbos_module._get_dbos_instance()._active_workflows_set
    if isinstance(active, _SlotWatch):
        active.announce_end(run_id)


def _notifier(engine: sa.Engine) -> Callable[[str], None]:
    def announce(run_id: str) -> None:
        try:
            with engine.connect() as conn:
                conn.execute(sa.select(sa.func.pg_notify(wakeups.RUN_ENDED_CHANNEL, run_id)))
                conn.commit()
        except Exception as exc:  # noqa: BLE001 - a hint: the waiter's poll still reads the run
            log.debug("could not announce the end of run %s: %s", run_id, exc)

    return announce


def recording_here(run_id: str) -> bool:
    """The run's code has returned in this process and DBOS is recording its outcome here: its recorded end wakes this
    process's waiters (`_SlotWatch._remove`), so a look before that finds it unfinished. False where no worker of
    this process watches its runs (nothing would wake the waiter)."""
    try:
        active = dbos_module._get_dbos_instance()._active_workflows_set
    except Exception:  # noqa: BLE001 - no DBOS in this process: no run of it executes here
        return False
    return isinstance(active, _SlotWatch) and run_id in active._m


def code_returned(run_id: str) -> None:
    """A run's code has returned in this process (DBOS records its outcome next)."""
    active = dbos_module._get_dbos_instance()._active_workflows_set
    if isinstance(active, _SlotWatch):
        active.code_returned(run_id)


def wake_queues(queues: Iterable[str] | None = None) -> None:
    """Poll these queues (all, with None) now, if this process runs a worker; otherwise nothing."""
    if _wakeable:
        _wakeable[0].wake(None if queues is None else list(queues))


def recover_runs_of(executor_ids: Iterable[str]) -> int:
    """Re-enqueue the unfinished runs of dead executors (idempotent: only runs still PENDING under them match)."""
    return len(DBOS._recover_pending_workflows(list(executor_ids)))


# -- DBOS's logs -----------------------------------------------------------------------------------------------------------
class _ExpectedEndings(logging.Filter):
    """DBOS logs every workflow that raises; a run ending FAILED/TIMED_OUT is an outcome, not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, RunFailed):
            return False
        if exc is not None and "Cancel" in type(exc).__name__:
            return False  # a canceled run (or a parent awaiting one) is a normal ending
        message = record.getMessage()
        return not ("was cancelled" in message or "outcome was not recorded" in message)


def quiet_dbos_logs() -> None:
    dbos_log = logging.getLogger("dbos")
    dbos_log.setLevel(logging.WARNING)
    if not any(isinstance(f, _ExpectedEndings) for f in dbos_log.filters):
        dbos_log.addFilter(_ExpectedEndings())
        for handler in dbos_log.handlers:
            handler.addFilter(_ExpectedEndings())


def drop_stale_log_handlers() -> None:
    """DBOS attaches a console handler at configuration; one left on a closed stream (a previous in-process run
    whose stdout was captured) would make the next DBOS start fail writing to it."""
    dbos_log = logging.getLogger("dbos")
    for handler in list(dbos_log.handlers):
        stream = getattr(handler, "stream", None)
        if stream is not None and getattr(stream, "closed", False):
            dbos_log.removeHandler(handler)

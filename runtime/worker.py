"""The worker: DBOS plus the runtime's housekeeping, inside the current process.

    with Worker(tasks=[my_tasks_module], concurrency=8) as worker:
        ...  # runs execute in background threads until the block ends

One Worker per process (DBOS is a process-wide singleton). Any number of processes, on any number of machines, may
run Workers against the same PostgreSQL database; they share the queues, and a worker that stops heartbeating has
its unfinished runs recovered by the others.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Iterable

import sqlalchemy as sa

from runtime import dbos_adapter as dbos
from runtime import wake_sockets, wakeups
from runtime.dbos_adapter import UNRUNNABLE_ON
from runtime.backend import Backend, get_backend, set_active
from runtime.config import load_config, resolve_database_url
from runtime.context import running
from runtime.definitions import Task
from runtime.execution import ensure_workflow
from runtime.executor_ids import ExecutorClaim, claim_executor_id, claim_free_slot, heartbeat, holds, live_executor_tasks, release
from runtime.loader import load_tasks
from runtime.queues import Queue
from runtime.run_state import states
from runtime.schedules import schedules
from runtime.serializer import SealingSerializer
from runtime.store import task_definitions, workers_table
from runtime.versions import code_version, gone_versions, live_versions, record_seen, record_tasks_seen, served_tasks

log = logging.getLogger("taskpack")
_instance_lock = threading.Lock()
_current_worker: list["Worker"] = []


class WorkerError(RuntimeError):
    pass


class Worker:
    def __init__(
        self,
        database_url: str | None = None,
        tasks: Iterable[Any] | None = None,
        concurrency: int = 8,
        *,
        executor_id: str | None = None,
        queue_polling_interval: float | None = None,
        heartbeat_interval: float | None = None,
        dead_worker_after: float | None = None,
        run_schedules: bool = True,
        shutdown_timeout: int = 0,
        version_adoption: str | None = None,
        version_grace_period: float | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        cfg = load_config()
        self.database_url = resolve_database_url(database_url)
        self.task_specs = tasks
        self.concurrency = concurrency
        self.requested_executor_id = executor_id
        self.queue_polling_interval = queue_polling_interval or cfg.queue_polling_interval
        self.heartbeat_interval = heartbeat_interval or cfg.heartbeat_interval
        self.dead_worker_after = dead_worker_after or cfg.dead_worker_after
        self.flush_interval = cfg.metadata_flush_interval
        self.run_schedules = run_schedules
        self.shutdown_timeout = shutdown_timeout
        self.version_adoption = version_adoption or cfg.version_adoption
        if self.version_adoption not in ("adopt", "strict"):
            raise ValueError(f"version_adoption must be 'adopt' or 'strict', not {self.version_adoption!r}")
        self.version_grace_period = version_grace_period or cfg.version_grace_period
        self.version: str | None = None
        self.handed_back: list[str] = []  # runs this worker returned to their queues when it stopped
        self.executor_id: str | None = None
        self._claim: ExecutorClaim | None = None
        self._id_lost = False
        self.tasks: list[Task] = []
        self.backend: Backend | None = None
        self._stop = threading.Event()
        # Set while stop() gives running runs their grace period: the worker still heartbeats (so no other worker
        # takes its runs over while they finish here) but recovers, expires and schedules nothing more.
        self._draining = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: wakeups.QueueListener | wake_sockets.SocketListener | None = None
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------------------------------------
    def __enter__(self) -> "Worker":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        with _instance_lock:
            if _current_worker:
                raise WorkerError("a Worker is already running in this process (DBOS is a process-wide singleton)")
            _current_worker.append(self)
        try:
            self._start()
        except BaseException:
            set_active(None)
            self._release_executor_id()  # a worker that never ran must not block its id until the heartbeat expires
            with _instance_lock:
                _current_worker.clear()
            raise

    def _start(self) -> None:
        self.tasks = load_tasks(self.task_specs)
        if not self.tasks:
            raise WorkerError("no tasks to run: pass tasks=[...] or define tasks under the configured dirs")
        self.backend = backend = get_backend(self.database_url)
        self.version = version = code_version()
        self.executor_id = self._claim_executor_id(backend)
        record_seen(backend.engine, version, time.time(), self.dead_worker_after)  # live before its first run: queued runs of it are not stranded
        record_tasks_seen(backend.engine, version, [t.id for t in self.tasks], time.time())
        for definition in self.tasks:
            ensure_workflow(definition)
        def before_launch() -> None:
            # Recovered or queued runs may start executing at once, and they reach the database through the
            # active backend; runs whose ttl passed while no worker was up must not start now.
            set_active(backend)
            self._expire_queued_runs()

        dbos.launch(
            self.database_url,
            self.executor_id,
            version,
            # The worker is the one reader that decrypts what DBOS recorded (runtime.serializer).
            SealingSerializer(backend.keyring, opens=True),
            self._queues(),
            self.queue_polling_interval,
            before_launch,
            load_config().sqlite_synchronous,
        )
        # runs triggered by other processes start now, not at the next poll: NOTIFY on PostgreSQL
        # (runtime/wakeups.py), a datagram on SQLite (runtime/wake_sockets.py)
        if backend.is_sqlite:
            self._listener = wake_sockets.SocketListener(backend.dbos.sqlite_path or "", dbos.wake_queues)
        else:
            self._listener = wakeups.QueueListener(backend.dbos.listen_connection, dbos.wake_queues)
        self._listener.start()
        self._publish_definitions(backend)
        if self.run_schedules:
            schedules.sync_declared(backend, {t.id for t in self.tasks})
        self._started = True
        self._spawn(self._fast_loop, "taskpack-monitor")
        self._spawn(self._slow_loop, "taskpack-housekeeping")
        log.info("worker %s started: version %s, %d tasks, concurrency %d", self.executor_id, version, len(self.tasks), self.concurrency)

    def stop(self) -> None:
        if not self._started:
            return
        self._draining.set()
        try:
            # Stops dequeuing at once, then waits up to shutdown_timeout for the runs in flight, heartbeating meanwhile
            # (so no other worker declares this one dead and re-runs them); what is left is handed back below.
            dbos.destroy(self.shutdown_timeout)
        finally:
            self._stop.set()
            if self._listener is not None:
                self._listener.stop()
                self._listener = None
            for thread in self._threads:
                thread.join(timeout=5)
            states.flush_all()
            self._started = False
            set_active(None)
            self._hand_back()
            self._release_executor_id()
            with _instance_lock:
                _current_worker.clear()

    # -- set-up ------------------------------------------------------------------------------------------------------------
    def _queues(self) -> list[dbos.QueueSettings]:
        seen: dict[str, Queue] = {}
        for definition in self.tasks:
            existing = seen.get(definition.queue.name)
            if existing is not None and existing.concurrency_limit != definition.queue.concurrency_limit:
                raise WorkerError(
                    f"queue {definition.queue.name!r} is declared with concurrency limits "
                    f"{existing.concurrency_limit} and {definition.queue.concurrency_limit}"
                )
            seen[definition.queue.name] = definition.queue
        result: list[dbos.QueueSettings] = []
        for queue in seen.values():
            limit = queue.concurrency_limit
            per_worker = min(self.concurrency, limit) if limit else self.concurrency
            result.append(dbos.QueueSettings(queue.name, {"global_concurrency": limit, "worker_concurrency": per_worker}))
            # Keyed runs are the rarer path: a slower poll keeps two queues per name from doubling the dequeue load.
            result.append(
                dbos.QueueSettings(
                    queue.keyed_name,
                    {
                        "partition_concurrency": limit or 1,
                        "worker_concurrency": self.concurrency,
                        "polling_interval_sec": max(0.1, 5 * self.queue_polling_interval),
                    },
                )
            )
        return result

    def _publish_definitions(self, backend: Backend) -> None:
        now = time.time()
        with backend.engine.begin() as conn:
            for definition in self.tasks:
                described = definition.describe()
                updated = conn.execute(
                    sa.update(task_definitions).where(task_definitions.c.id == definition.id).values(definition=described, updated_at=now)
                ).rowcount
                if not updated:
                    conn.execute(sa.insert(task_definitions).values(id=definition.id, definition=described, updated_at=now))

    def _claim_executor_id(self, backend: Backend) -> str:
        """The requested id, refused while another worker heartbeats on it (ExecutorIdInUseError); without one, the
        lowest free slot of this host, reusing a dead worker's slot so its runs resume here."""
        options = {
            "dead_after": self.dead_worker_after, "concurrency": self.concurrency, "tasks": [t.id for t in self.tasks],
            "version": self.version,
        }
        if self.requested_executor_id:
            self._claim = claim_executor_id(backend, self.requested_executor_id, **options)
        else:
            self._claim = claim_free_slot(backend, **options)
        return self._claim.executor_id

    def _hand_back(self) -> None:
        """Runs still executing after the grace period go back to their queues, so a worker of their version resumes
        them at once (from their recorded steps) rather than once this worker counts as dead. Only while this worker
        still holds its id: runs under an id another worker took over are that worker's."""
        if self.backend is None or self._claim is None or self.version is None or self._id_lost:
            return
        try:
            if not holds(self.backend, self._claim):
                return
            handed = self.handed_back = self.backend.dbos.hand_back(self._claim.executor_id, self.version)
        except Exception as exc:  # stopping must not fail: the runs are then recovered once this worker counts as dead
            log.warning("worker %s: handing back its runs failed: %s", self.executor_id, exc)
            return
        if handed:
            log.warning("worker %s stopped after its %gs grace period and handed back %d runs", self.executor_id, self.shutdown_timeout, len(handed))

    def _release_executor_id(self) -> None:
        if self.backend is not None and self._claim is not None:
            release(self.backend, self._claim)
            self._claim = None

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- housekeeping loops ----------------------------------------------------------------------------------------------
    def _fast_loop(self) -> None:
        """Cancel detection (a run canceled from any process stops here within ~100 ms) and metadata flushing."""
        last_flush = time.monotonic()
        while not self._stop.wait(0.1):
            try:
                self._detect_cancellations()
                if time.monotonic() - last_flush >= self.flush_interval:
                    states.flush_all()
                    last_flush = time.monotonic()
            except Exception as exc:
                log.warning("worker monitor: %s", exc)

    def _detect_cancellations(self) -> None:
        ids = list(running)
        if not ids or self.backend is None:
            return
        for run_id in self.backend.dbos.canceled_among(ids):
            ctx = running.get(run_id)
            if ctx is not None:
                ctx.signal_cancel("canceled")

    def _slow_loop(self) -> None:
        last_beat = 0.0
        while not self._stop.wait(min(0.5, self.heartbeat_interval)):
            now = time.monotonic()
            try:
                if now - last_beat >= self.heartbeat_interval:
                    self._heartbeat()
                    last_beat = now
                    if not self._draining.is_set():
                        self._recover_dead_workers()
                        self._settle_versions()
                if self._draining.is_set():
                    continue
                self._expire_queued_runs()
                if self.run_schedules:
                    schedules.tick(self.backend, {t.id for t in self.tasks})
            except Exception as exc:
                log.warning("worker housekeeping: %s", exc)

    def _heartbeat(self) -> None:
        assert self.backend is not None and self._claim is not None
        kept = heartbeat(
            self.backend, self._claim, concurrency=self.concurrency, tasks=[t.id for t in self.tasks],
            dead_after=self.dead_worker_after, version=self.version,
        )
        if kept is None:
            if not self._id_lost:
                log.error(
                    "worker %s was silent past %gs and another worker has taken its executor id over (and its runs)",
                    self.executor_id, self.dead_worker_after,
                )
            self._id_lost = True
            return
        self._claim, self._id_lost = kept, False
        assert self.version is not None
        record_seen(self.backend.engine, self.version, time.time(), self.dead_worker_after)
        record_tasks_seen(self.backend.engine, self.version, [t.id for t in self.tasks], time.time())

    def _settle_versions(self) -> None:
        """Runs waiting for a version no worker runs any more: adopt the not-yet-started ones (unless strict), and end
        CRASHED the started ones whose version has had no worker for the grace period (they only resume on it)."""
        assert self.backend is not None and self.version is not None
        now = time.time()
        live = live_versions(self.backend.engine, now)
        if self.version_adoption == "adopt":
            adopted = self.backend.dbos.adopt_waiting(self.version, [t.id for t in self.tasks], live | {self.version})
            if adopted:
                log.info("worker %s adopted %d queued runs of versions no worker runs", self.executor_id, len(adopted))
        gone = gone_versions(self.backend.engine, now, self.version_grace_period) - live
        for run_id, version in self.backend.dbos.started_runs_of(gone):
            self.backend.dbos.crash(
                run_id,
                f"no worker of code version {version} has been alive for {self.version_grace_period:g} s, and a started "
                "run only resumes on the version it started on",
            )
            log.warning("run %s ended CRASHED: its code version %s has no worker left", run_id, version)
        self._settle_tasks(live | {self.version}, now)
        self._settle_foreign_runs(now)

    def _settle_foreign_runs(self, now: float) -> None:
        """Runs DBOS handed this worker for tasks it does not define (one shared queue): back to their queue when a
        living worker defines the task; else held, marked so they read WAITING_FOR_WORKER, until such a worker comes
        or `_settle_tasks` ends them (handing them back then would only have this worker dequeue them again)."""
        assert self.backend is not None and self.executor_id is not None
        self.backend.dbos.clear_stale_unrunnable(self.executor_id, [t.id for t in self.tasks])
        foreign = self.backend.dbos.foreign_runs(self.executor_id, [t.id for t in self.tasks])
        if not foreign:
            return
        # DBOS hands a run only to workers of its version: a worker of another version defining the task cannot take it
        living = live_executor_tasks(self.backend, now, version=self.version)
        defined_elsewhere = {task for executor_id, tasks in living.items() if executor_id != self.executor_id for task in tasks}
        handed = 0
        for run_id, task_id, attrs in foreign:
            if task_id in defined_elsewhere:
                handed += self.backend.dbos.hand_back_run(run_id, self.executor_id)
            elif attrs.get(UNRUNNABLE_ON) != self.executor_id:
                self.backend.dbos.mark_unrunnable(run_id, self.executor_id)
                log.warning("worker %s was handed run %s of task %s, which no living worker defines", self.executor_id, run_id, task_id)
        if handed:
            log.warning("worker %s handed back %d runs of tasks it does not define", self.executor_id, handed)

    def _settle_tasks(self, live: frozenset[str], now: float) -> None:
        """End CRASHED the started runs of living versions whose task no worker of their version has defined for the
        grace period (the task was removed, or its dedicated workers never came back): no worker will resume them,
        and DBOS would leave them executing, or hand them to a worker that cannot run them, for ever."""
        assert self.backend is not None
        served = served_tasks(self.backend.engine, live, now - self.version_grace_period)
        # only versions whose workers record their tasks (a worker of an older release records none: leave its runs)
        defined = {version: {task for v, task in served if v == version} for version in {v for v, _ in served}}
        stranded = self.backend.dbos.started_runs_of_other_tasks(defined)
        if not stranded:
            return
        running_here = live_executor_tasks(self.backend, now)  # never end a run a living worker of its task holds
        for run_id, version, task_id, executor_id in stranded:
            if executor_id is not None and task_id in running_here.get(executor_id, ()):
                continue
            self.backend.dbos.crash(
                run_id,
                f"task {task_id!r} is not defined by any living worker of code version {version} (none has defined it "
                f"for {self.version_grace_period:g} s), so the started run cannot resume",
                error_type="TaskNotRegistered",
                code="TASK_NOT_REGISTERED",
            )
            log.warning("run %s ended CRASHED: no living worker of version %s defines task %s", run_id, version, task_id)

    def _recover_dead_workers(self) -> None:
        """Re-enqueue the unfinished runs of workers that stopped heartbeating (one living worker claims each)."""
        assert self.backend is not None
        now = time.time()
        with self.backend.engine.connect() as conn:
            dead = conn.execute(
                sa.select(workers_table.c.executor_id, workers_table.c.last_seen_at).where(
                    workers_table.c.last_seen_at < now - self.dead_worker_after, workers_table.c.executor_id != self.executor_id
                )
            ).all()
        for executor_id, seen in dead:
            with self.backend.engine.begin() as conn:
                claimed = conn.execute(
                    sa.delete(workers_table).where(workers_table.c.executor_id == executor_id, workers_table.c.last_seen_at == seen)
                ).rowcount
            if claimed == 1:
                recovered = dbos.recover_runs_of([executor_id])
                log.warning("worker %s is dead: recovered %d runs", executor_id, recovered)
        self._recover_orphans(now)

    def _recover_orphans(self, now: float) -> None:
        """Runs left executing by a worker that stopped (or vanished) without a heartbeat row at all.

        Re-enqueueing is idempotent in DBOS (it only matches runs still PENDING under that executor), so two living
        workers doing this at once cannot start a run twice.
        """
        assert self.backend is not None
        with self.backend.engine.connect() as conn:
            alive = {r[0] for r in conn.execute(sa.select(workers_table.c.executor_id)).all()}
        owners = self.backend.dbos.executors_silent_since(now - self.dead_worker_after)
        orphaned = sorted(o for o in owners - alive if o and o != self.executor_id)
        if orphaned:
            recovered = dbos.recover_runs_of(orphaned)  # only those of this worker's version: others wait for theirs
            if recovered:
                log.warning("recovered %d runs left by stopped workers %s", recovered, ", ".join(orphaned))

    def _expire_queued_runs(self) -> None:
        assert self.backend is not None
        for run_id in self.backend.dbos.expired_waiting(time.time()):
            self.backend.dbos.expire(run_id)


def current_worker() -> Worker | None:
    return _current_worker[0] if _current_worker else None

"""A worker polls its queues every `queue_polling_interval`; wake-ups make it poll at once when a run is triggered
(in its own process, or from another one: by NOTIFY on PostgreSQL, by a datagram on SQLite) and when a run leaves its slot. The polling
interval is set to 2 s here, so only a wake-up can start runs within a fraction of it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from runtime import RunStatus, Worker, dbos_adapter, runs, tasks
from runtime.backend import get_backend
from tests.runtime import queue_wake_tasks

ROOT = Path(__file__).resolve().parents[2]
POLL_S = 2.0
FAST_S = 0.5  # well under the poll: a run that started this soon after its trigger was woken, not polled


# -- the wakeable stop event, alone ------------------------------------------------------------------------------------
def _waiter(stop: dbos_adapter._WakeableStop, queue: str, timeout: float, out: list) -> threading.Thread:
    def run() -> None:
        started = time.monotonic()
        flag = stop.wait(timeout)
        out.append((flag, time.monotonic() - started))

    return threading.Thread(target=run, name=f"queue-worker-{queue}")


def test_a_wake_ends_the_wait_of_its_queue_only_and_is_kept_for_a_thread_not_waiting_yet() -> None:
    stop = dbos_adapter._WakeableStop()
    a_out: list = []
    b_out: list = []
    a, b = _waiter(stop, "a", 10.0, a_out), _waiter(stop, "b", 0.5, b_out)
    a.start(), b.start()
    time.sleep(0.2)
    stop.wake(["a"])
    a.join(5), b.join(5)
    assert a_out[0][0] is False and a_out[0][1] < 5.0  # woken (not stopped), long before its 10 s
    assert b_out[0][0] is False and b_out[0][1] >= 0.45  # another queue's wake-up: b slept its timeout

    stop.wake(["c"])  # while no thread of queue c waits: its next wait returns at once
    c_out: list = []
    c = _waiter(stop, "c", 10.0, c_out)
    c.start(), c.join(5)
    assert c_out[0][0] is False and c_out[0][1] < 1.0

    d_out: list = []
    d = _waiter(stop, "d", 10.0, d_out)
    d.start()
    time.sleep(0.1)
    stop.set()  # DBOS.destroy: every wait ends, reporting the stop
    d.join(5)
    assert d_out[0][0] is True and d_out[0][1] < 5.0
    assert stop.is_set() and stop.wait(10.0) is True


def test_the_queue_manager_thread_is_not_woken_by_queue_wake_ups() -> None:
    stop = dbos_adapter._WakeableStop()
    out: list = []

    def manager() -> None:
        started = time.monotonic()
        out.append((stop.wait(0.6), time.monotonic() - started))

    thread = threading.Thread(target=manager, name="queue-manager")
    thread.start()
    time.sleep(0.1)
    stop.wake(None)
    thread.join(5)
    assert out[0][0] is False and out[0][1] >= 0.55


def test_a_dequeue_right_after_another_waits_out_the_spacing_and_takes_the_wakes_of_meanwhile() -> None:
    """SQLite: with a spacing, a queue woken again right after a dequeue waits until `spacing` after that dequeue,
    folding the wakes that came meanwhile into one dequeue; after a quiet moment a wake is served at once; a stop
    ends the spacing at once."""
    stop = dbos_adapter._WakeableStop(spacing=0.3)
    out: list = []

    def queue_thread() -> None:
        for timeout in (10.0, 10.0, 0.2, 10.0, 10.0):
            started = time.monotonic()
            out.append((stop.wait(timeout), time.monotonic() - started))

    thread = threading.Thread(target=queue_thread, name="queue-worker-q")
    stop.wake(["q"])
    thread.start()
    time.sleep(0.05)
    stop.wake(["q"]), stop.wake(["q"])  # two triggers right after the first dequeue began
    time.sleep(0.6)  # the third wait (0.2 s) times out: a quiet moment
    stop.wake(["q"])
    time.sleep(0.1)
    stop.set()
    thread.join(5)
    assert out[0][0] is False and out[0][1] < 0.1  # the first wake: at once
    assert out[1][0] is False and 0.2 <= out[1][1] < 0.5  # woken at 0.05 s, held until 0.3 s after the first
    assert out[2][0] is False and out[2][1] >= 0.19  # both wakes went into that one dequeue: nothing left to wake it
    assert out[3][0] is False and out[3][1] < 0.45  # woken after the quiet moment: no spacing to wait out
    assert out[4][0] is True and out[4][1] < 0.3  # the stop ends the wait at once


def test_a_rescan_ends_the_queue_managers_wait_once() -> None:
    stop = dbos_adapter._WakeableStop()
    out: list = []

    def manager() -> None:  # DBOS's manager: one thread, waiting its check interval between listings of the queues
        for timeout in (10.0, 0.5):
            started = time.monotonic()
            out.append((stop.wait(timeout), time.monotonic() - started))

    thread = threading.Thread(target=manager, name="queue-manager")
    thread.start()
    time.sleep(0.1)
    stop.rescan()
    thread.join(5)
    assert out[0][0] is False and out[0][1] < 5.0  # rescanned, not stopped, long before its 10 s
    assert out[1][0] is False and out[1][1] >= 0.45  # the rescan was seen: the next wait sleeps its timeout again


def test_a_started_worker_is_dequeuing_its_queues(db_url: str) -> None:
    """DBOS's queue manager starts a thread per registered queue when it lists them, once a second; the queues are
    registered after launch, so a worker used to take its first runs up to a second after it had started."""
    with Worker(database_url=db_url, tasks=[queue_wake_tasks], concurrency=2, queue_polling_interval=POLL_S):
        alive = {t.name for t in threading.enumerate() if t.is_alive()}
        queues = {q.name for q in queue_wake_tasks_queues()}
        assert {f"queue-worker-{q}" for q in queues} <= alive, (queues, sorted(alive))
        before = time.time()
        run = runs.wait(tasks.trigger("qw-clock", {}).id, timeout=30)
        assert run.status is RunStatus.COMPLETED and run.output - before < FAST_S


def queue_wake_tasks_queues() -> list:
    from runtime.registry import get_task

    return [get_task(task_id).queue for task_id in ("qw-clock", "qw-span")]


def test_the_dequeuing_engine_gets_over_connections_the_server_dropped(tmp_path: Path) -> None:
    """On PostgreSQL the worker's DBOS engine checks connections out without a ping (dbos_adapter
    DEQUEUE_ENGINE_KWARGS). Every connection of the worker's process is ended by the server; runs triggered after
    that still complete: the first statement on a dead connection fails, the pool is discarded, DBOS retries."""
    from tests.runtime.conftest import fresh_database

    with fresh_database("postgres", tmp_path) as url:
        with Worker(database_url=url, tasks=[queue_wake_tasks], concurrency=2, queue_polling_interval=0.2):
            assert runs.wait(tasks.trigger("qw-clock", {}, database_url=url).id, timeout=30, database_url=url).status is RunStatus.COMPLETED
            import dbos._dbos as dbos_instance

            engine = dbos_instance._get_dbos_instance()._sys_db.engine
            assert engine.pool._pre_ping is False
            database = url.rsplit("/", 1)[1]
            admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + "/test",
                                     isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                ended = conn.execute(sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"
                ), {"d": database}).scalar_one()
            admin.dispose()
            assert ended >= 1
            handles = [tasks.trigger("qw-clock", {"i": i}, database_url=url) for i in range(3)]
            assert [runs.wait(h.id, timeout=60, database_url=url).status for h in handles] == [RunStatus.COMPLETED] * 3


def test_a_dequeued_run_holds_its_slot_until_an_executor_thread_starts_it(monkeypatch: pytest.MonkeyPatch) -> None:
    watch = dbos_adapter._SlotWatch({"q": 2})
    watch.claimed("q", ["r1", "r2"])  # dequeued: no executor thread has started them yet
    assert watch.count_for_queue("q") == 2 and watch.count_for_queue("other") == 0
    entry = watch.add("r1", "q", None)  # started: counted once, not twice
    watch.add("r2", "q", None)
    assert watch.count_for_queue("q") == 2
    entry.release()  # DBOS recorded its outcome: the slot is free
    assert watch.count_for_queue("q") == 1

    monkeypatch.setattr(dbos_adapter, "CLAIM_GRACE_S", 0.05)
    watch.claimed("q", ["r3"])  # a dequeued run whose dispatch failed: it never starts
    assert watch.count_for_queue("q") == 2
    time.sleep(0.1)
    assert watch.count_for_queue("q") == 1


@pytest.mark.parametrize("release_early", [True, False])
def test_on_postgresql_a_run_gives_its_slot_back_when_its_code_returns(monkeypatch: pytest.MonkeyPatch, release_early: bool) -> None:
    """PostgreSQL workers (release_early): a run whose code has returned no longer holds its slot while DBOS writes
    its outcome, and a full queue is woken then, once; on SQLite the slot is held until the outcome is recorded."""
    woken: list[list[str]] = []
    monkeypatch.setattr(dbos_adapter, "wake_queues", lambda queues=None: woken.append(list(queues or [])))
    watch = dbos_adapter._SlotWatch({"q": 2}, release_early=["q"] if release_early else [])
    first = watch.add("r1", "q", None)
    watch.add("r2", "q", None)
    watch.code_returned("r1")
    assert watch.count_for_queue("q") == (1 if release_early else 2)
    assert woken == ([["q"]] if release_early else [])
    first.release()  # DBOS recorded the outcome
    assert watch.count_for_queue("q") == 1
    assert woken == [["q"]], "one wake-up per freed slot"
    watch.code_returned("r-unknown")  # a run that holds no slot here (recovered without a queue, or gone)
    assert watch.count_for_queue("q") == 1 and woken == [["q"]]


def test_a_queue_with_a_queue_wide_limit_keeps_the_slot_until_the_outcome_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue-wide limit counts a run until its outcome is written: a slot given back earlier would wake a dequeue
    that finds no room, and the wake-up at the real end would be missing. Such a queue keeps the slot to the end."""
    woken: list[list[str]] = []
    monkeypatch.setattr(dbos_adapter, "wake_queues", lambda queues=None: woken.append(list(queues or [])))
    watch = dbos_adapter._SlotWatch({"own": 1, "limited": 1}, release_early=["own"])
    limited = watch.add("r1", "limited", None)
    watch.code_returned("r1")
    assert watch.count_for_queue("limited") == 1 and woken == []
    limited.release()
    assert watch.count_for_queue("limited") == 0 and woken == [["limited"]]


# -- a worker in this process ---------------------------------------------------------------------------------------------
@pytest.fixture
def slow_polling_worker(db_url: str) -> Iterator[Worker]:
    with Worker(database_url=db_url, tasks=[queue_wake_tasks], concurrency=4, queue_polling_interval=POLL_S) as worker:
        # a started worker is dequeuing its queues (test_a_started_worker_is_dequeuing_its_queues); one run to warm up
        assert runs.wait(tasks.trigger("qw-clock", {}).id, timeout=30).status is RunStatus.COMPLETED
        yield worker


def _start_lags(n: int, database_url: str | None = None) -> list[float]:
    lags = []
    for i in range(n):
        time.sleep(0.1)  # the worker is idle, its queue thread asleep in its 2 s poll
        before = time.time()
        handle = tasks.trigger("qw-clock", {"i": i}, database_url=database_url)
        run = runs.wait(handle.id, timeout=30, database_url=database_url)
        assert run.status is RunStatus.COMPLETED
        lags.append(run.output - before)
    return lags


def test_a_run_triggered_in_the_workers_process_starts_without_waiting_for_the_poll(slow_polling_worker: Worker) -> None:
    lags = _start_lags(5)
    assert max(lags) < FAST_S, lags


def test_a_freed_slot_takes_the_next_queued_run_without_waiting_for_the_poll(slow_polling_worker: Worker) -> None:
    handles = [tasks.trigger("qw-span", {"seconds": 0.2}) for _ in range(3)]
    spans = sorted(runs.wait(h.id, timeout=60).output for h in handles)
    gaps = [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
    assert all(0 <= gap < FAST_S for gap in gaps), gaps  # one slot: each started as the previous one ended


def test_slots_freed_together_take_every_waiting_run_without_waiting_for_the_poll(db_url: str) -> None:
    """Two slots, both taken, two runs waiting; the running two end at the same moment. The first to leave finds the
    queue full and wakes it; the second leaves while that dequeue is under way and the queue no longer looks full,
    yet runs still wait (the last dequeue filled every free slot): it wakes the queue too, and both waiting runs
    start at once rather than one of them a poll later."""
    with Worker(database_url=db_url, tasks=[queue_wake_tasks], concurrency=2, queue_polling_interval=POLL_S):
        assert runs.wait(tasks.trigger("qw-clock", {}).id, timeout=30).status is RunStatus.COMPLETED
        for _ in range(3):
            end = time.time() + 0.6
            busy = [tasks.trigger("qw-until", {"until": end}) for _ in range(2)]
            waiting = [tasks.trigger("qw-clock", {"i": i}) for i in range(2)]
            ended = [runs.wait(h.id, timeout=30).output[1] for h in busy]
            started = [runs.wait(h.id, timeout=30).output for h in waiting]
            assert all(s - max(ended) < FAST_S for s in started), (ended, started)


def test_wake_ups_never_run_more_than_the_workers_slots_at_once(db_url: str) -> None:
    """Every freed slot and every trigger wakes the queue, so dequeues follow each other closely: a run dequeued by
    one counts against the slots before its executor thread starts it, or the next dequeue takes one too many."""
    queue_wake_tasks.RUNNING.update(now=0, most=0)
    with Worker(database_url=db_url, tasks=[queue_wake_tasks], concurrency=3, queue_polling_interval=POLL_S):
        batch = tasks.batch_trigger("qw-counted", [{"seconds": 0.03} for _ in range(24)])
        more = [tasks.trigger("qw-counted", {"seconds": 0.03}) for _ in range(12)]  # each a wake-up too
        ended = [runs.wait(h.id, timeout=60) for h in [*batch.runs, *more]]
    assert all(run.status is RunStatus.COMPLETED for run in ended)
    assert queue_wake_tasks.RUNNING["most"] == 3


def test_the_next_run_starts_while_the_last_ones_outcome_is_written_on_postgresql_only(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One slot; the first run's outcome write is held 0.5 s. On PostgreSQL the second run starts before that write
    lands (the slot was given back when the first run's code returned); on SQLite it waits for it."""
    from dbos import _dbos

    held: dict[str, float] = {}

    with Worker(database_url=db_url, tasks=[queue_wake_tasks], concurrency=1, queue_polling_interval=POLL_S):
        assert runs.wait(tasks.trigger("qw-clock", {}).id, timeout=30).status is RunStatus.COMPLETED
        sys_db = _dbos._get_dbos_instance()._sys_db
        write_outcome = sys_db.update_workflow_outcome  # DBOS's, or on SQLite the grouped writer standing in for it

        def slow_outcome(workflow_id: str, *args: object, **kwargs: object) -> bool:
            if not held:
                held[workflow_id] = time.time()
                time.sleep(0.5)
            return write_outcome(workflow_id, *args, **kwargs)

        monkeypatch.setattr(sys_db, "update_workflow_outcome", slow_outcome)
        first = tasks.trigger("qw-until", {"until": time.time() + 0.3})
        second = tasks.trigger("qw-clock", {})
        first_ended = runs.wait(first.id, timeout=30).output[1]
        second_started = runs.wait(second.id, timeout=30).output
    assert list(held) == [first.id]
    if db_url.startswith("postgresql"):
        assert second_started - first_ended < 0.3, (first_ended, second_started)
    else:
        assert second_started - first_ended >= 0.5, (first_ended, second_started)


def test_the_queue_thread_reads_its_queue_and_the_latest_version_once_a_second_not_every_poll(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DBOS reloads both on every poll and wake-up (a statement each, a third of the queue thread's time on
    PostgreSQL); reused for `RELOAD_EVERY_S`, they are read a few times over two seconds of 20 ms polls."""
    from dbos._sys_db import SystemDatabase

    reads: list[str] = []
    for name in ("get_queue", "_is_latest_version"):
        original = getattr(SystemDatabase, name)

        def counted(self, *args, __original=original, __name=name, **kwargs):  # type: ignore[no-untyped-def]
            if threading.current_thread().name == "queue-worker-taskpack-default":
                reads.append(__name)
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(SystemDatabase, name, counted)
    with Worker(database_url=db_url, tasks=[queue_wake_tasks], concurrency=2, queue_polling_interval=0.02):
        assert runs.wait(tasks.trigger("qw-clock", {}).id, timeout=30).status is RunStatus.COMPLETED
        reads.clear()
        started = time.monotonic()
        for i in range(20):  # a wake-up and a dequeue each
            assert runs.wait(tasks.trigger("qw-clock", {"i": i}).id, timeout=30).status is RunStatus.COMPLETED
        # ~100 polls; two reload periods, so at least one falls wholly inside the window however the last read
        # before it was timed (with one second, a read due right at its end was missed once on a loaded host)
        time.sleep(2 * dbos_adapter.RELOAD_EVERY_S)
        window = time.monotonic() - started  # the seconds the reads were counted over (a slow host stretches them)
    assert 1 <= reads.count("get_queue") <= 2 + window / dbos_adapter.RELOAD_EVERY_S, reads
    assert reads.count("_is_latest_version") <= 2 + window / dbos_adapter.RELOAD_EVERY_S, reads


# -- a worker in another process (PostgreSQL: NOTIFY; SQLite: a datagram, runtime/wake_sockets.py) ---------------------
@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    from runtime.backend import reset_backends
    from tests.runtime.conftest import make_database

    url, drop = make_database(request.param, tmp_path)
    try:
        yield url
    finally:
        reset_backends()
        drop()


def test_a_run_triggered_in_another_process_starts_without_waiting_for_the_poll(shared_url: str) -> None:
    get_backend(shared_url)  # tables exist before the worker starts
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.queue_wake_worker", shared_url, str(POLL_S)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY"), line + proc.stdout.read()
        from tests.runtime import queue_wake_tasks  # noqa: F401 - the task definitions, as a triggering app has them

        first = tasks.trigger("qw-clock", {}, database_url=shared_url)
        assert runs.wait(first.id, timeout=30, database_url=shared_url).status is RunStatus.COMPLETED
        lags = _start_lags(5, shared_url)
        assert max(lags) < FAST_S, lags
        assert statistics.median(lags) < 0.1, lags
        batch = tasks.batch_trigger("qw-clock", [{"i": i} for i in range(3)], database_url=shared_url)
        before = time.time()
        for handle in batch.runs:
            run = runs.wait(handle.id, timeout=30, database_url=shared_url)
            assert run.status is RunStatus.COMPLETED and run.output - before < FAST_S, run.output - before
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- batch triggers ---------------------------------------------------------------------------------------------------------
def test_a_batch_is_enqueued_whole_in_its_order_and_keyed_items_keep_their_key(db_url: str, token: str) -> None:
    earlier = tasks.trigger("qw-clock", {"n": -1}, idempotency_key=f"k-{token}", database_url=db_url)
    items = [{"n": i} for i in range(300)]
    items[7] = {"payload": {"n": 7}, "options": {"idempotency_key": f"k-{token}"}}
    batch = tasks.batch_trigger("qw-clock", items, database_url=db_url)
    assert len(batch.runs) == 300
    assert batch.runs[7].id == earlier.id and batch.runs[7].is_cached
    fresh = [h for i, h in enumerate(batch.runs) if i != 7]
    assert not any(h.is_cached for h in fresh) and len({h.id for h in fresh}) == 299
    backend = get_backend(db_url)
    ws = backend.workflows
    with backend.sys_engine.connect() as conn:
        stored = conn.execute(sa.select(ws.c.workflow_uuid).where(ws.c.workflow_uuid.in_([h.id for h in fresh]))).scalars().all()
    assert set(stored) == {h.id for h in fresh}
    first, last = runs.retrieve(fresh[0].id, database_url=db_url), runs.retrieve(fresh[-1].id, database_url=db_url)
    assert first.payload == {"n": 0} and last.payload == {"n": 299}
    assert first.status is RunStatus.QUEUED and first.task_id == "qw-clock" and first.version == earlier_run_version(db_url, earlier.id)


def earlier_run_version(db_url: str, run_id: str) -> str | None:
    return runs.retrieve(run_id, database_url=db_url).version


def test_a_batch_whose_enqueue_fails_midway_leaves_no_run(db_url: str) -> None:
    """The batch's status rows are written, then its input rows fail: the transaction takes the status rows back too."""
    backend = get_backend(db_url)
    engine = backend.dbos.engine
    statements: list[str] = []

    def fail_inputs(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement.split("(")[0].strip())
        if "workflow_input" in statement.split("(")[0]:
            raise RuntimeError("the database went away")

    sa.event.listen(engine, "before_cursor_execute", fail_inputs)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            tasks.batch_trigger("qw-clock", [{"n": i} for i in range(5)], database_url=db_url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", fail_inputs)
    assert any("workflow_status" in s for s in statements), statements  # the status rows went in first
    ws = backend.workflows
    with backend.sys_engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(ws).where(ws.c.name == "taskpack:qw-clock")).scalar_one()
    assert stored == 0

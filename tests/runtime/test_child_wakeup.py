"""A parent waiting for its children notices each one finishing within milliseconds (a child's end wakes it: in the
worker's process, and across worker processes on PostgreSQL), where DBOS's own wait reads once a second: a fan-out
in rounds lost up to a second per round. Sync and async parents, SQLite and PostgreSQL runtime databases."""

from __future__ import annotations

import statistics
from typing import Iterator

import pytest

from runtime import RunStatus, Worker, runs, tasks
from runtime import triggering
from tests.runtime.conftest import assert_looked_only_as_woken, record_looks
from tests.runtime import wake_tasks

# Each child finishes ~1.05 s after it starts: just after DBOS's one-second poll has looked and found it running, so
# that poll would notice it ~0.95 s late. The runtime's backoff reads at most every CHILD_POLL_MAX_S (0.25 s).
ROUNDS = [1.05, 1.05, 1.05]
#: A child's end wakes the waiting parent (runtime/wakeups.py): ~10-45 ms here, where sleeping out the backed-off
#: poll delay was ~100-140 ms (and DBOS's once-a-second poll ~0.9 s); generous for a loaded 2-core machine
MEDIAN_LAG_BOUND_S = 0.09


@pytest.fixture
def worker(db_url: str) -> Iterator[Worker]:
    with Worker(database_url=db_url, tasks=[wake_tasks], concurrency=4, queue_polling_interval=0.05) as w:
        yield w


@pytest.mark.parametrize("task_id", ["wake-parent", "wake-parent-async"])
def test_a_waiting_parent_notices_a_finished_child_promptly(worker: Worker, task_id: str) -> None:
    assert triggering.CHILD_POLL_MAX_S <= 0.25
    run = runs.wait(tasks.trigger(task_id, {"rounds": ROUNDS}).id, timeout=90)
    assert run.status is RunStatus.COMPLETED, run.error
    lags = run.output["lags"]
    assert len(lags) == len(ROUNDS) and all(lag >= 0 for lag in lags)
    assert statistics.median(lags) < MEDIAN_LAG_BOUND_S, lags


def test_a_parent_does_not_poll_a_child_executing_in_its_process(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child's end wakes the parent, so while the child executes here the parent reads its status once (the look
    that finds it started) and not as its code returns; backing off from 20 ms to 250 ms over a 1.2 s child read it ~8
    times meanwhile."""
    looks = record_looks(monkeypatch, triggering)
    run = runs.wait(tasks.trigger("wake-parent", {"rounds": [1.2]}).id, timeout=60)
    assert run.status is RunStatus.COMPLETED, run.error
    assert_looked_only_as_woken(looks)
    assert run.output["lags"][0] < 0.5  # noticed as the child ended, not at the next look


def test_a_parent_canceled_while_waiting_stops_waiting(worker: Worker) -> None:
    handle = tasks.trigger("wake-parent", {"rounds": [30]})
    deadline = 20.0
    import time

    started = time.monotonic()
    while runs.retrieve(handle.id).status is not RunStatus.WAITING and time.monotonic() - started < deadline:
        time.sleep(0.05)
    assert runs.retrieve(handle.id).status is RunStatus.WAITING
    runs.cancel(handle.id)
    run = runs.wait(handle.id, timeout=20)
    assert run.status is RunStatus.CANCELED
    children = runs.list(task_id="wake-child", limit=5).data
    assert len(children) == 1 and children[0].status is RunStatus.CANCELED


def test_a_parent_notices_a_child_finished_by_another_worker_process_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: the worker that records a child's end NOTIFYs it, and the parent's worker (LISTENing) wakes its
    waiters. Without it the parent read the child's status every 200 ms at most: ~100 ms late on average, per round
    of a fan-out (children 1.2 s long, so each wait has backed off to its longest interval)."""
    from tests.runtime import announce_parent
    from tests.runtime.conftest import make_database
    from tests.runtime.test_crash_recovery import stop
    import subprocess
    import sys
    import time
    from pathlib import Path

    url, drop = make_database("postgres", tmp_path)
    child_worker = None
    try:
        root = Path(__file__).resolve().parents[2]
        child_worker = subprocess.Popen([sys.executable, "-m", "tests.runtime.announce_tasks", url], cwd=root,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not (line := child_worker.stdout.readline()).startswith("READY"):
            assert line and time.monotonic() < deadline, "the child worker did not start"
        with Worker(database_url=url, tasks=[announce_parent], concurrency=2) as worker:
            run = runs.wait(tasks.trigger("announce-parent", {"rounds": [1.2] * 6}, database_url=url).id, timeout=90, database_url=url)
            assert run.status is RunStatus.COMPLETED, run.error
            children = runs.list(task_id="announce-child", limit=10, database_url=url).data
            assert {c.executor_id for c in children} != {worker.executor_id}  # executed in the other process
        lags = run.output["lags"]
        assert len(lags) == 6 and all(lag >= 0 for lag in lags), lags
        assert statistics.median(lags) < 0.05, lags
    finally:
        if child_worker is not None:
            stop(child_worker)
        drop()

"""A run that ends in this process wakes this process's `runs.wait` at once, instead of after its poll delay."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest

from runtime import RunStatus, Worker, runs, tasks, wakeups  # noqa: F401
import sys

import runtime.run_reader  # noqa: F401 - where runs.wait polls (its poll bounds are patched below)

runs_module = sys.modules["runtime.run_reader"]
from tests.runtime.conftest import assert_looked_only_as_woken, record_looks
from tests.runtime import wake_tasks


def test_wait_returns_when_a_run_ends_and_at_once_when_one_ended_since() -> None:
    seen = wakeups.generation()
    timer = threading.Timer(0.2, wakeups.run_ended)
    started = time.monotonic()
    timer.start()
    now = wakeups.wait(seen, 10.0)
    assert now == seen + 1 and time.monotonic() - started < 5.0  # woken, not the 10 s timeout
    started = time.monotonic()
    assert wakeups.wait(seen, 10.0) == now and time.monotonic() - started < 1.0  # ended since `seen`: no sleep
    assert wakeups.wait(now, 0.05) == now  # nothing ended: the timeout


@pytest.fixture
def worker(db_url: str) -> Iterator[Worker]:
    with Worker(database_url=db_url, tasks=[wake_tasks], concurrency=2, queue_polling_interval=0.05) as w:
        yield w


def test_runs_wait_in_the_workers_process_notices_the_end_without_its_poll_delay(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With every poll 6 s apart, only the wake-up can make wait() return soon after the 0.3 s run.
    monkeypatch.setattr(runs_module, "POLL_MIN_S", 6.0)
    monkeypatch.setattr(runs_module, "POLL_MAX_S", 6.0)
    handle = tasks.trigger("wake-child", {"seconds": 0.3})
    started = time.monotonic()
    run = runs.wait(handle.id, timeout=60)
    assert run.status is RunStatus.COMPLETED
    assert time.monotonic() - started < 5.0


def test_runs_wait_reads_the_outcome_once_dbos_has_recorded_it_without_a_second_poll(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's code ending wakes the waiter before DBOS writes the outcome; the waiter is woken again once it is
    written (the run leaves DBOS's active set), so no poll delay is spent between the two, however long."""
    for name in ("POLL_MIN_S", "POLL_MAX_S", "WAKE_POLL_S"):
        monkeypatch.setattr(runs_module, name, 6.0)
    for _ in range(3):
        handle = tasks.trigger("wake-child", {"seconds": 0.1})
        started = time.monotonic()
        run = runs.wait(handle.id, timeout=60)
        assert run.status is RunStatus.COMPLETED
        assert time.monotonic() - started < 3.0


def test_runs_wait_does_not_poll_a_run_executing_in_this_process(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its end wakes the wait, so while the run executes here its status is read once (the look that finds it
    started) and not as its code returns (its outcome is still being recorded); its recorded end is read whole, with
    no look at its status first. Backing off from 10 ms to 200 ms over a 1.2 s run read it ~8 times meanwhile, each
    look taking the GIL from the run."""
    looks = record_looks(monkeypatch, runs_module)
    handle = tasks.trigger("wake-child", {"seconds": 1.2})
    run = runs.wait(handle.id, timeout=60)
    ended = time.time()
    assert run.status is RunStatus.COMPLETED
    assert_looked_only_as_woken(looks, ends_with_a_look=False)  # woken by its recorded end: read whole at once
    assert ended - run.output < 0.5  # noticed as it ended, not at the next look a second later

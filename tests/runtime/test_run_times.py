"""A run's created, started and finished times are the moments they happened, to the millisecond, on both runtime
databases. On SQLite, DBOS reads the clock in whole seconds below Python 3.12 (`strftime('%s', 'now') * 1000`, its
columns' defaults too): a run of 250 ms lasted 0 s or 1 s, started "before" it was triggered, and runs triggered within
one second listed in no particular order (dbos_adapter.millisecond_clock)."""

from __future__ import annotations

import time

from runtime import RunStatus, runs, tasks


def test_a_runs_created_started_and_finished_times_are_the_moments_they_happened(worker, token: str) -> None:
    before = time.time()
    run = runs.wait(tasks.trigger("t-sleep", {"token": token, "seconds": 0.25}).id, timeout=20)
    after = time.time()
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.started_at is not None and run.finished_at is not None
    created, started, finished = (t.timestamp() for t in (run.created_at, run.started_at, run.finished_at))
    assert before - 0.005 <= created <= started <= finished <= after + 0.005, (before, created, started, finished, after)
    assert 0.25 <= finished - started < 0.9, finished - started


def test_runs_triggered_a_few_milliseconds_apart_were_created_in_that_order(db_url: str) -> None:
    """No worker: the runs stay queued (the queue hands them out by creation time, oldest first)."""
    ids = []
    for _ in range(6):
        ids.append(tasks.trigger("t-noop", {}, database_url=db_url).id)
        time.sleep(0.004)
    created = {run.id: run.created_at for run in runs.list(task_id="t-noop", limit=10, database_url=db_url).data}
    in_trigger_order = [created[run_id] for run_id in ids]
    assert all(a < b for a, b in zip(in_trigger_order, in_trigger_order[1:])), in_trigger_order

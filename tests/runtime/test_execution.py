"""Attempts, retries, payload validation, hooks and max_duration, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from runtime import RunStatus, runs, tasks
from tests.runtime.sample_tasks import EVENTS, FAST_RETRY


def test_completed_run_keeps_payload_output_and_timestamps(worker, token) -> None:
    handle = tasks.trigger("t-echo", {"q": token}, tags=["chat:1"])
    run = runs.wait(handle.id, timeout=20)
    assert run.status is RunStatus.COMPLETED
    assert run.output == {"echo": {"q": token}, "attempt": 1}
    assert run.payload == {"q": token}
    assert run.attempts == 1
    assert run.tags == ["chat:1"]
    assert run.created_at <= run.started_at <= run.finished_at


def test_failing_run_is_retried_max_attempts_times_with_bounded_delays(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-always-fails", {"token": token}).id, timeout=30)
    assert run.status is RunStatus.FAILED
    assert run.attempts == FAST_RETRY.max_attempts == 3
    stamps = [e[2] for e in EVENTS[token]]
    assert [e[1] for e in EVENTS[token]] == [1, 2, 3]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    # randomize=False: waits of min_timeout * factor^(n-1) = 0.2 s then 0.4 s, plus scheduling overhead
    assert 0.2 <= gaps[0] < 0.2 + 1.0
    assert 0.4 <= gaps[1] < 0.4 + 1.0
    assert run.error is not None and run.error.type == "ValueError"
    assert "planned failure on attempt 3" in run.error.message
    assert any(log.message == "attempt failed, retrying" for log in runs.logs(run.id))


def test_max_attempts_override_on_trigger(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-always-fails", {"token": token}, max_attempts=1).id, timeout=20)
    assert run.status is RunStatus.FAILED and run.attempts == 1
    assert len(EVENTS[token]) == 1


def test_run_that_succeeds_on_a_later_attempt_completes(worker) -> None:
    run = runs.wait(tasks.trigger("t-fails-then-succeeds", {"succeed_on": 2}).id, timeout=20)
    assert run.status is RunStatus.COMPLETED
    assert run.output == 2 and run.attempts == 2


def test_abort_error_is_not_retried(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-aborts", {"token": token}).id, timeout=20)
    assert run.status is RunStatus.FAILED
    assert EVENTS[token] == [("attempt", 1)]
    assert run.error.type == "AbortTaskRunError"


def test_catch_error_can_skip_retrying(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-catch-error", {"token": token}).id, timeout=20)
    assert run.status is RunStatus.FAILED
    assert EVENTS[token] == [("attempt", 1)]


def test_schema_task_rejects_invalid_payload_once_naming_the_field(worker, db_url) -> None:
    """A payload that reached a worker without the trigger-time check (tasks.trigger refuses it: test_hostile_input)."""
    from tests.runtime.raw_store import enqueue_unchecked

    EVENTS.pop("schema-called", None)
    run = runs.wait(enqueue_unchecked(db_url, "t-schema", {"name": "", "times": 9}), timeout=20)
    assert run.status is RunStatus.FAILED
    assert run.attempts == 1
    assert run.error.type == "PayloadValidationError"
    assert "name" in run.error.message and "times" in run.error.message
    assert "schema-called" not in EVENTS  # the run function never ran
    assert run.payload == {"name": "", "times": 9}  # a failed run keeps its payload


def test_schema_task_receives_the_validated_model(worker) -> None:
    run = runs.wait(tasks.trigger("t-schema", {"name": "ada", "times": 2}).id, timeout=20)
    assert run.status is RunStatus.COMPLETED
    assert run.output == "hello ada hello ada"


def test_hooks_run_in_order_on_success(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-hooks", {"token": token}).id, timeout=20)
    assert run.status is RunStatus.COMPLETED
    assert EVENTS[token] == ["on_start", "run:1", "cleanup", "on_success"]


def test_hooks_run_in_order_across_retries_and_failure(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-hooks", {"token": token, "succeed_on": 99}).id, timeout=30)
    assert run.status is RunStatus.FAILED
    assert EVENTS[token] == ["on_start", "run:1", "cleanup", "run:2", "cleanup", "run:3", "cleanup", "on_failure"]


def test_broken_hooks_are_logged_and_do_not_change_the_result(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-hooks", {"token": token, "broken_hooks": True}).id, timeout=20)
    assert run.status is RunStatus.COMPLETED and run.output == "done"
    assert EVENTS[token] == ["on_start", "run:1", "cleanup", "on_success"]
    messages = [log.message for log in runs.logs(run.id)]
    assert "cleanup hook failed" in messages and "on_success hook failed" in messages


def test_max_duration_stops_sync_sleep_and_runs_cleanup(worker, token) -> None:
    started = time.monotonic()
    run = runs.wait(tasks.trigger("t-sleep", {"token": token, "seconds": 10}).id, timeout=20)
    elapsed = time.monotonic() - started
    assert run.status is RunStatus.TIMED_OUT
    # max_duration is 1 s and the sleep 10 s: stopped long before the sleep would end (the margin absorbs a loaded
    # 2-core machine's scheduling and the queue's polling, not a late stop)
    assert elapsed < 5.0
    assert run.attempts == 1  # a timeout is not retried
    assert ("cleanup", "timeout") in EVENTS[token]
    assert "finished" not in EVENTS[token]
    assert run.error.code == "MAX_DURATION_EXCEEDED"


def test_max_duration_cancels_async_task(worker, token) -> None:
    started = time.monotonic()
    run = runs.wait(tasks.trigger("t-sleep-async", {"token": token, "seconds": 10}).id, timeout=20)
    assert run.status is RunStatus.TIMED_OUT
    assert time.monotonic() - started < 5.0  # max_duration 1 s, sleep 10 s (margin: see the sync test)
    assert ("cleanup", "timeout") in EVENTS[token]


def test_max_duration_override_on_trigger(worker, token) -> None:
    run = runs.wait(tasks.trigger("t-sleep", {"token": token, "seconds": 0.6}, max_duration=0.3).id, timeout=20)
    assert run.status is RunStatus.TIMED_OUT

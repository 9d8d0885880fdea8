"""Tasks for test_queue_wakeups.py: they report when they started, as the worker's clock saw it."""

from __future__ import annotations

import time

from runtime import Queue, RetryConfig, task

ONE = RetryConfig(max_attempts=1)
SINGLE = Queue(name="qw-single", concurrency_limit=1)


@task(id="qw-clock", retry=ONE)
def clock(payload: dict) -> float:
    return time.time()


@task(id="qw-span", retry=ONE, queue=SINGLE)
def span(payload: dict) -> list[float]:
    """Runs one at a time (its queue has one slot): [start, end]."""
    started = time.time()
    time.sleep(payload["seconds"])
    return [started, time.time()]


@task(id="qw-until", retry=ONE)
def until(payload: dict) -> list[float]:
    """Sleeps until the epoch second `payload["until"]`, so runs started apart end together: [start, end]."""
    started = time.time()
    time.sleep(max(0.0, payload["until"] - started))
    return [started, time.time()]


RUNNING = {"now": 0, "most": 0}
_running_lock = __import__("threading").Lock()


@task(id="qw-counted", retry=ONE)
def counted(payload: dict) -> None:
    """Counts how many of its runs execute at once in this process (RUNNING["most"])."""
    with _running_lock:
        RUNNING["now"] += 1
        RUNNING["most"] = max(RUNNING["most"], RUNNING["now"])
    try:
        time.sleep(payload["seconds"])
    finally:
        with _running_lock:
            RUNNING["now"] -= 1

"""Wake-ups inside one process: a run that ends here wakes this process's `runs.wait` callers at once.

`runs.wait` polls the run's status with a backoff (10 ms up to 200 ms). When the waiter and the worker share a process
(`taskpack trigger --local --wait`, a Worker in a script or a test), the worker says so as each run ends, and the
waiters look again right away instead of sleeping out their delay: the end of a run is noticed in milliseconds, not
up to 200 ms later. Waiters in other processes keep polling; nothing here crosses a process.
"""

from __future__ import annotations

import threading

_changed = threading.Condition()
_generation = 0


def generation() -> int:
    """A counter that grows each time a run of this process ends."""
    with _changed:
        return _generation


def run_ended() -> None:
    """Called by the worker as a run's execution ends in this process (just before DBOS records its final status)."""
    global _generation
    with _changed:
        _generation += 1
        _changed.notify_all()


def wait(seen: int, timeout: float) -> int:
    """Sleep up to `timeout` seconds, less if a run ends (or has ended since `seen`); returns the current generation."""
    with _changed:
        if _generation == seen and timeout > 0:
            _changed.wait(timeout)
        return _generation

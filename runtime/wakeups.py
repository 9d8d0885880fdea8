"""Wake-ups inside one process: a run that ends here wakes this process's `runs.wait` callers at once.

`runs.wait` polls the run's status with a backoff (10 ms up to 200 ms). When the waiter and the worker share a process
(`taskpack trigger --local --wait`, a Worker in a script or a test), the worker says so as each run ends, and the
waiters look again right away instead of sleeping out their delay: the end of a run is noticed in milliseconds, not
up to 200 ms later. Waiters in other processes keep polling.

The other direction, a worker noticing a newly triggered run without waiting for its next queue poll, is below
(`QueueListener`, PostgreSQL NOTIFY across processes) and in runtime/wake_sockets.py (SQLite across processes: a
datagram to each worker's Unix socket); inside the worker's own process the DBOS adapter wakes the queue threads
directly (runtime/dbos_adapter.py, `wake_queues`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger("taskpack")

_changed = threading.Condition()
_generation = 0


def generation() -> int:
    """A counter that grows each time a run of this process ends."""
    with _changed:
        return _generation


def run_ended() -> None:
    """Called by the worker as a run's execution ends in this process (just before DBOS records its final status),
    and again once DBOS has recorded it (the run left DBOS's active set): a waiter that looked in between is woken
    by the second call instead of sleeping out its poll delay."""
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


# -- queue wake-ups across processes (PostgreSQL) -----------------------------------------------------------------------
# A worker polls its queues every `queue_polling_interval`; a run triggered from another process (the API, the CLI,
# another worker's child run) would wait up to that long to start. On PostgreSQL the trigger sends
# NOTIFY QUEUE_CHANNEL '<queue>' once the run is committed, and each worker LISTENs on one connection of its own and
# polls that queue at once. A notification is only a hint: a lost one (a dropped connection) costs one polling
# interval, never a run, and after a reconnect every queue is polled once for what may have been missed.
QUEUE_CHANNEL = "taskpack_queue_ready"
#: NOTIFY RUN_ENDED_CHANNEL '<run id>' once a child run's outcome is recorded (runtime/dbos_adapter.py): its parent,
#: waiting in another worker process, reads it at once (`run_ended` here) instead of at its next poll, up to 200 ms
#: later (a fan-out of 4 rounds of children across two workers lost ~0.2 s of a 6 s run). A hint, as above.
RUN_ENDED_CHANNEL = "taskpack_run_ended"


class QueueListener:
    """LISTENs for queue notifications on its own PostgreSQL connection and calls `on_ready(queues)` for each batch
    (None: poll every queue, after a reconnect). `connect()` returns a DBAPI connection (psycopg 3), closed on stop."""

    def __init__(self, connect: Callable[[], Any], on_ready: Callable[[list[str] | None], None]) -> None:
        self._connect = connect
        self._on_ready = on_ready
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set once LISTEN is in place (tests wait for it)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="taskpack-queue-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                conn.autocommit = True
                conn.execute(f"LISTEN {QUEUE_CHANNEL}")
                conn.execute(f"LISTEN {RUN_ENDED_CHANNEL}")
                self.listening.set()
                self._on_ready(None)  # anything announced while not listening
                run_ended()  # and any run that ended meanwhile: waiters look again
                backoff = 0.1
                while not self._stop.is_set():
                    for notification in conn.notifies(timeout=0.5):  # each as it arrives; ends every 0.5 s
                        if notification.channel == RUN_ENDED_CHANNEL:
                            run_ended()
                        else:
                            self._on_ready([notification.payload])
                        if self._stop.is_set():
                            break
            except Exception as exc:  # the database restarted or the connection dropped: polling covers the gap
                self.listening.clear()
                if self._stop.is_set():
                    return
                log.warning("queue listener: %s; reconnecting in %.1f s", type(exc).__name__, backoff)
                self._stop.wait(backoff)
                backoff = min(5.0, backoff * 2)
            finally:
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass

"""Client-side time limits on driver calls: the last line behind the server's own timeout and cancel.

Two shapes, for two kinds of driver:
- `watchdog(delay_s, fire)`: the driver call runs on the caller's thread and can be stopped from another one
  (PostgreSQL cancel request, MySQL `KILL QUERY`, ODBC/Databricks `cursor.cancel()`); a daemon timer calls `fire()`
  (which stops the statement on the server) if the block is still running after `delay_s`. Where the stop is the
  cursor's own thread-safe `cancel()`, `RunningCursor` keeps the cursor where cancel() and the watchdog can reach it.
- `run_with_deadline(work, ...)`: warehouse drivers that block inside HTTP calls that cannot be interrupted from
  another thread (snowflake-connector-python, google-cloud-bigquery). The call runs on a daemon helper thread while
  the caller waits until it finishes, the deadline passes, or `cancel_requested` has been set for `cancel_grace_s`
  (time for the server to confirm the cancel). Then the caller gets `Abandoned` and must treat whatever the call was
  using (a session) as lost; the helper thread ends on its own when the driver returns.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from connectors.base import close_quietly

T = TypeVar("T")

_POLL_S = 0.02


class Abandoned(Exception):
    """The call did not finish in time (`canceled` False) or after cancel() (`canceled` True)."""

    def __init__(self, *, canceled: bool) -> None:
        super().__init__("canceled" if canceled else "deadline passed")
        self.canceled = canceled


def run_with_deadline(
    work: Callable[[], T],
    *,
    deadline_s: float,
    cancel_requested: threading.Event,
    cancel_grace_s: float = 1.0,
    thread_name: str = "connector-call",
) -> T:
    """`work()`'s result or exception, or `Abandoned` at the deadline / `cancel_grace_s` after a cancel request."""
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed over to the waiting thread
            outcome["error"] = exc
        finally:
            finished.set()

    started = time.monotonic()
    threading.Thread(target=target, name=thread_name, daemon=True).start()
    cancel_seen_at: float | None = None
    while not finished.wait(_POLL_S):
        now = time.monotonic()
        if cancel_requested.is_set():
            cancel_seen_at = cancel_seen_at or now
            if now - cancel_seen_at >= cancel_grace_s:
                raise Abandoned(canceled=True)
        if now - started >= deadline_s:
            raise Abandoned(canceled=cancel_requested.is_set())
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@contextmanager
def watchdog(delay_s: float | None, fire: Callable[[], None]) -> Iterator[None]:
    """Call `fire()` on a daemon timer thread if the block is still running after `delay_s` seconds (None: no
    watchdog). The timer is canceled as soon as the block ends, however it ends."""
    if delay_s is None:
        yield
        return
    timer = threading.Timer(delay_s, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class RunningCursor:
    """The cursor a statement is running on, reachable from other threads: `cancel()` (a user's cancel, a watchdog)
    calls the driver's thread-safe `cursor.cancel()` (ODBC `SQLCancel`, Databricks `CancelOperation`)."""

    def __init__(self, logger: logging.Logger, source: str) -> None:
        self._lock = threading.Lock()
        self._cursor: Any = None
        self._log = logger
        self._source = source

    @contextmanager
    def track(self, cursor: Any) -> Iterator[Any]:
        """Make `cursor` the one `cancel()` stops for the block; then forget and close it, however the block ended."""
        with self._lock:
            self._cursor = cursor
        try:
            yield cursor
        finally:
            with self._lock:
                self._cursor = None
            close_quietly(cursor)

    def cancel(self) -> None:
        """Stop the running statement, if any; best effort, never raises."""
        with self._lock:
            cursor = self._cursor
        if cursor is not None and self.cancel_cursor(cursor):
            self._log.info("cancel sent", extra={"source": self._source})

    def cancel_cursor(self, cursor: Any) -> bool:
        """`cursor.cancel()`; False (logged) when it failed: nothing runs any more, or the connection is gone."""
        try:
            cursor.cancel()
        except Exception as exc:
            self._log.warning("cancel failed", extra={"source": self._source, "error": type(exc).__name__})
            return False
        return True


__all__ = ["Abandoned", "RunningCursor", "run_with_deadline", "watchdog"]

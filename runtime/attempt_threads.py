"""Threads that run task attempts, kept for the next attempt once theirs is over.

An attempt runs in a thread of its own so that max_duration and cancel can stop waiting for it (Python cannot kill a
thread: an attempt past its time is signalled and abandoned). Starting a thread per attempt cost ~0.1 ms of a busy
worker's CPU per run; a thread whose attempt returned now waits for the next one. An abandoned attempt keeps its
thread until its code returns, so a stuck attempt never holds up another: a new thread is started whenever none is
idle. At most `MAX_IDLE` threads wait; the others end.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from typing import Callable

MAX_IDLE = 64
IDLE_NAME = "taskpack-attempt-idle"

log = logging.getLogger("taskpack")

_idle: list["_AttemptThread"] = []
_idle_lock = threading.Lock()


class _AttemptThread:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], None], str, threading.Event]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name=IDLE_NAME, daemon=True)
        self.thread.start()

    def give(self, fn: Callable[[], None], name: str, done: threading.Event) -> None:
        self._jobs.put((fn, name, done))

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            fn, name, done = self._jobs.get()
            me.name = name  # as a thread of its own was named: logs and debuggers show the run and attempt
            try:
                fn()
            except BaseException:  # noqa: BLE001 - the attempt reports its own outcome; this thread must live on
                log.exception("attempt thread: an attempt raised past its own handler")
            me.name = IDLE_NAME
            with _idle_lock:  # idle again before the waiter hears of the end: its next attempt finds this thread
                keep = len(_idle) < MAX_IDLE
                if keep:
                    _idle.append(self)
            done.set()
            # nothing of the attempt stays reachable from an idle thread (its context holds the run's secrets)
            fn = done = None  # type: ignore[assignment]
            if not keep:
                return


def start(fn: Callable[[], None], name: str) -> threading.Event:
    """Run `fn` in the caller's context (a copy of its contextvars) on an attempt thread; the event is set when `fn`
    has returned or raised (`fn` is expected to catch what it raises)."""
    done = threading.Event()
    context = contextvars.copy_context()
    with _idle_lock:
        runner = _idle.pop() if _idle else None
    if runner is None:
        runner = _AttemptThread()
    runner.give(lambda: context.run(fn), name, done)
    return done

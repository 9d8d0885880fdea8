"""Attempt threads (runtime/attempt_threads.py): a thread whose attempt returned runs the next one, an attempt that
never returns holds up no other, and each attempt sees its caller's context and carries its run's name."""

from __future__ import annotations

import contextvars
import threading

from runtime import attempt_threads

probe: contextvars.ContextVar[str] = contextvars.ContextVar("probe", default="unset")


def _run(fn, name: str = "taskpack-run_x-1", timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    assert attempt_threads.start(fn, name).wait(timeout), "the attempt ended"


def test_an_idle_thread_runs_the_next_attempt_under_that_attempts_name() -> None:
    seen: list[tuple[int, str]] = []
    for attempt in (1, 2, 3):
        _run(lambda: seen.append((threading.get_ident(), threading.current_thread().name)), f"taskpack-run_a-{attempt}")
    assert [name for _, name in seen] == ["taskpack-run_a-1", "taskpack-run_a-2", "taskpack-run_a-3"]
    assert len({ident for ident, _ in seen}) == 1, "one thread served the three attempts one after the other"
    idle = [t for t in threading.enumerate() if t.name == attempt_threads.IDLE_NAME]
    assert idle, "between attempts the thread waits under the idle name"


def test_an_attempt_that_never_returns_holds_up_no_other() -> None:
    release = threading.Event()
    stuck_started = threading.Event()
    stuck = attempt_threads.start(lambda: (stuck_started.set(), release.wait(10)), "taskpack-run_stuck-1")
    try:
        assert stuck_started.wait(5)
        ran: list[int] = []
        _run(lambda: ran.append(threading.get_ident()), "taskpack-run_b-1", timeout=2)
        assert ran and not stuck.is_set(), "a second attempt ran while the first still held its thread"
    finally:
        release.set()
    assert stuck.wait(5)


def test_an_attempt_sees_the_context_of_the_caller_that_started_it() -> None:
    seen: list[str] = []
    token = probe.set("from-the-run")
    try:
        _run(lambda: seen.append(probe.get()))
    finally:
        probe.reset(token)
    _run(lambda: seen.append(probe.get()))
    assert seen == ["from-the-run", "unset"], "the context is the caller's copy, not what an earlier attempt left"


def test_no_more_than_max_idle_threads_wait(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(attempt_threads, "MAX_IDLE", 2)
    with attempt_threads._idle_lock:
        attempt_threads._idle.clear()
    gate = threading.Event()
    events = [attempt_threads.start(lambda: gate.wait(5), f"taskpack-run_c-{i}") for i in range(4)]
    gate.set()
    assert all(e.wait(5) for e in events)
    for _ in range(100):  # the threads put themselves back just after the event
        with attempt_threads._idle_lock:
            if len(attempt_threads._idle) == 2:
                break
        threading.Event().wait(0.01)
    with attempt_threads._idle_lock:
        assert len(attempt_threads._idle) == 2


def test_a_thread_whose_attempt_raised_past_its_handler_still_serves_the_next() -> None:
    """`fn` is expected to catch what it raises; if it does not, its thread is already back among the idle ones, so
    it must live on and run the next attempt given to it (a dead idle thread would leave that attempt hanging)."""
    with attempt_threads._idle_lock:
        attempt_threads._idle.clear()

    def boom() -> None:
        raise RuntimeError("escaped")

    _run(boom, "taskpack-run_d-1")
    ran: list[int] = []
    _run(lambda: ran.append(1), "taskpack-run_d-2", timeout=2)
    assert ran == [1]

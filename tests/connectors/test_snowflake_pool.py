"""The warm-session pool's own rules, with stand-in session objects (the pool only calls is_closed/close and the
health check; live pooling against fakesnow is in test_snowflake_fakesnow.py)."""

from __future__ import annotations

import itertools
import threading
import time

from connectors.snowflake.pool import WarmPool

_ids = itertools.count(1)


class Session:
    def __init__(self) -> None:
        self.id = next(_ids)
        self.closed = False
        self.healthy = True
        self.in_use = False

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _pool(**kwargs: object) -> WarmPool:
    return WarmPool(health_check=lambda s: s.healthy and not s.closed, **kwargs)  # type: ignore[arg-type]


def test_sessions_are_reused_per_key_newest_first_and_never_across_keys() -> None:
    pool = _pool()
    a1, a2, b1 = Session(), Session(), Session()
    pool.release("a", a1)
    pool.release("a", a2)
    pool.release("b", b1)
    assert pool.acquire("a", Session) is a2 and pool.acquire("a", Session) is a1
    fresh = pool.acquire("a", Session)
    assert fresh not in (a1, a2, b1) and pool.stats["opened"] == 1
    assert pool.acquire("b", Session) is b1
    pool.clear()


def test_unhealthy_and_closed_sessions_are_dropped_not_handed_out() -> None:
    pool = _pool()
    sick, closed = Session(), Session()
    pool.release("k", sick)
    sick.healthy = False
    pool.release("k", closed)
    closed.closed = True  # closed after release: the health check sees it
    got = pool.acquire("k", Session)
    assert got not in (sick, closed) and sick.closed and pool.stats["discarded"] == 2
    pool.release("k", Session())
    pool.release("k", dead := Session())
    dead.close()
    pool.release("k", dead)  # releasing a closed session keeps nothing
    assert pool.idle_count("k") == 2
    pool.clear()


def test_idle_limit_per_key_closes_the_surplus() -> None:
    pool = _pool(max_idle_per_key=2)
    sessions = [Session() for _ in range(3)]
    for s in sessions:
        pool.release("k", s)
    assert pool.idle_count("k") == 2 and sessions[2].closed and not sessions[0].closed
    pool.clear()
    assert all(s.closed for s in sessions)


def test_reaper_closes_sessions_idle_past_the_timeout() -> None:
    pool = _pool(idle_timeout_s=0.1)
    s = Session()
    pool.release("k", s)
    deadline = time.monotonic() + 2
    while pool.idle_count() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool.idle_count() == 0 and s.closed and pool.stats["expired"] == 1


def test_concurrent_acquire_and_release_never_share_a_session() -> None:
    pool = _pool(max_idle_per_key=8)  # room for every thread's session: nothing is closed as surplus
    errors: list[str] = []

    def worker() -> None:
        for _ in range(200):
            s = pool.acquire("k", Session)
            if s.in_use:
                errors.append(f"session {s.id} handed out twice")
            s.in_use = True
            time.sleep(0)
            s.in_use = False
            pool.release("k", s)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pool.stats["opened"] <= 8  # never more sessions than threads using them at once
    assert pool.stats["reused"] + pool.stats["opened"] == 8 * 200
    pool.clear()

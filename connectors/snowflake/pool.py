"""A small process-wide pool of warm Snowflake sessions, reused across runs of the same login.

A Snowflake login costs a round trip to the authenticator (and often a warehouse resume after it); introspection and
agent runs against the same account+user+warehouse come in bursts, so the connector hands its session back here on
`close()` instead of logging out. Rules:
- an idle session is health-checked with a cheap `SELECT 1` before it is handed out again; a failing one is closed;
- a session idle for longer than `idle_timeout_s` is closed by a reaper timer (sessions expire server-side anyway);
- a session whose last statement failed at the network level, timed out or was canceled is *discarded*, never pooled;
- at most `max_idle_per_key` idle sessions per login; everything is guarded by one lock (thread-safe).
Nothing secret is stored: the key holds a digest of the credentials (see `auth.pool_key`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Hashable

log = logging.getLogger("connectors.snowflake")

DEFAULT_IDLE_TIMEOUT_S = 300.0
DEFAULT_MAX_IDLE_PER_KEY = 4
HEALTH_CHECK_TIMEOUT_S = 10


@dataclass
class _Idle:
    conn: Any
    released_at: float


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception as exc:  # a dead session cannot log out; nothing else to do
        log.debug("closing pooled snowflake session failed: %s", type(exc).__name__)


def is_healthy(conn: Any) -> bool:
    """A cheap round trip on the session; False when it is closed or the query fails."""
    try:
        if conn.is_closed():
            return False
        with conn.cursor() as cur:
            cur.execute("SELECT 1", timeout=HEALTH_CHECK_TIMEOUT_S)
            return cur.fetchone() is not None
    except Exception:
        return False


class WarmPool:
    """Idle sessions by login key. `acquire` returns a healthy idle session or opens one with `factory`."""

    def __init__(
        self,
        *,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        max_idle_per_key: int = DEFAULT_MAX_IDLE_PER_KEY,
        health_check: Callable[[Any], bool] = is_healthy,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.max_idle_per_key = max_idle_per_key
        self._health_check = health_check
        self._idle: dict[Hashable, list[_Idle]] = {}
        self._lock = threading.Lock()
        self._reaper: threading.Timer | None = None
        self.stats = {"opened": 0, "reused": 0, "discarded": 0, "expired": 0}

    def acquire(self, key: Hashable, factory: Callable[[], Any]) -> Any:
        """A warm session for `key` (health-checked, newest first) or a fresh one from `factory()`."""
        while True:
            with self._lock:
                entries = self._idle.get(key)
                entry = entries.pop() if entries else None
                if entries == []:
                    del self._idle[key]
            if entry is None:
                break
            if time.monotonic() - entry.released_at > self.idle_timeout_s or not self._health_check(entry.conn):
                _close_quietly(entry.conn)
                with self._lock:
                    self.stats["discarded"] += 1
                continue
            with self._lock:
                self.stats["reused"] += 1
            log.info("reusing warm snowflake session")
            return entry.conn
        conn = factory()
        with self._lock:
            self.stats["opened"] += 1
        return conn

    def release(self, key: Hashable, conn: Any) -> None:
        """Hand a session back for reuse (closed instead when the pool for this key is full or it is closed)."""
        try:
            closed = conn.is_closed()
        except Exception:
            closed = True
        if closed:
            return
        with self._lock:
            entries = self._idle.setdefault(key, [])
            if len(entries) < self.max_idle_per_key:
                entries.append(_Idle(conn, time.monotonic()))
                self._schedule_reaper()
                return
        _close_quietly(conn)

    def discard(self, conn: Any) -> None:
        """Close a session that must not be reused (broken, or a statement may still run on it)."""
        with self._lock:
            self.stats["discarded"] += 1
        _close_quietly(conn)

    def idle_count(self, key: Hashable | None = None) -> int:
        with self._lock:
            if key is not None:
                return len(self._idle.get(key, []))
            return sum(len(v) for v in self._idle.values())

    def reap(self) -> int:
        """Close sessions idle longer than the idle timeout; returns how many were closed."""
        now = time.monotonic()
        expired: list[Any] = []
        with self._lock:
            for key in list(self._idle):
                keep = [e for e in self._idle[key] if now - e.released_at <= self.idle_timeout_s]
                expired += [e.conn for e in self._idle[key] if now - e.released_at > self.idle_timeout_s]
                if keep:
                    self._idle[key] = keep
                else:
                    del self._idle[key]
            self.stats["expired"] += len(expired)
            self._reaper = None
            if self._idle:
                self._schedule_reaper()
        for conn in expired:
            _close_quietly(conn)
        return len(expired)

    def clear(self) -> None:
        """Close every idle session (tests, process shutdown)."""
        with self._lock:
            conns = [e.conn for entries in self._idle.values() for e in entries]
            self._idle.clear()
            if self._reaper is not None:
                self._reaper.cancel()
                self._reaper = None
        for conn in conns:
            _close_quietly(conn)

    def _schedule_reaper(self) -> None:  # caller holds the lock
        if self._reaper is None:
            self._reaper = threading.Timer(max(0.05, self.idle_timeout_s / 2), self.reap)
            self._reaper.daemon = True
            self._reaper.start()


#: the process-wide pool every SnowflakeConnector uses unless given another
POOL = WarmPool()

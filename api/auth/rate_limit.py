"""Per-key rate limiting: a token bucket per secret key, as Trigger.dev's self-hosted default (750, +250 / 10 s).

In this process's memory: with several API processes each keeps its own buckets (a key's limit is per process),
which is what a load balancer in front of N processes gives anyway. A refused request gets the seconds until one
token is back, for `Retry-After`.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, burst: int, refill: int, interval_s: float, *, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        if burst < 1 or refill < 1 or interval_s <= 0:
            raise ValueError("rate limit: burst and refill must be at least 1 and the interval positive")
        self.burst = burst
        self.rate = refill / interval_s  # tokens per second
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)

    def take(self, key: str) -> float | None:
        """Spend one token of `key`'s bucket: None when allowed, else the seconds to wait before retrying."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after_header(wait_s: float) -> str:
        return str(max(1, math.ceil(wait_s)))

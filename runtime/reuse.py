"""A value read again only once it is a given number of seconds old: for reads on a hot path (every dequeue, every
trigger) whose answer changes rarely (a deploy, a settings change). A miss (None) is never kept."""

from __future__ import annotations

import time
from typing import Any, Callable


class Reused:
    def __init__(self, read: Callable[..., Any], ttl: float) -> None:
        self.read = read
        self._ttl = ttl
        self._kept: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any, *args: Any, **kwargs: Any) -> Any:
        """The value kept for `key`, or `read(*args, **kwargs)` when there is none younger than the ttl."""
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self._ttl:
            return kept[1]
        value = self.read(*args, **kwargs)
        if value is not None:
            self._kept[key] = (now, value)
        return value

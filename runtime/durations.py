"""Turning the duration forms users pass (seconds, timedelta, '1h30m', a datetime) into seconds."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.I)
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def to_seconds(value: float | int | str | timedelta | datetime | None, *, what: str) -> float | None:
    """Seconds from now. A datetime means 'until then'; strings use Trigger.dev's '1h30m', '15s', '2d' form."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a duration, got a boolean")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, datetime):
        at = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        seconds = at.timestamp() - datetime.now(timezone.utc).timestamp()
        return max(0.0, seconds)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _PART.findall(text)
        if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
            raise ValueError(f"{what}: cannot read duration {value!r}; use forms like '30s', '15m', '1h30m', '2d'")
        seconds = sum(float(n) * _UNIT[u.lower()] for n, u in parts)
    else:
        raise ValueError(f"{what}: expected seconds, a timedelta, a datetime or a string like '1h', got {type(value).__name__}")
    if seconds < 0:
        raise ValueError(f"{what}: must not be negative")
    return seconds

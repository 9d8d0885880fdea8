"""How long to wait before retrying a transient model failure, and for how many tries.

The `openai` client's own retries are turned off (`max_retries=0`) so this is the one place that decides: bounded
attempts, exponential delay with jitter (so runs that failed together do not retry together), and an endpoint's
`Retry-After` honoured up to a cap.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    #: never sleep more than this in total across one call's retries
    max_total_wait: float = 90.0
    #: a Retry-After longer than this is cut to it (an endpoint asking for an hour is not waited for)
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_wait < 0:
            raise ValueError("delays must not be negative")

    def delay(self, failed_attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `failed_attempts`-th failure: Retry-After when given, else base·2^(n-1) with
        "equal jitter" (half fixed, half random), capped at max_delay."""
        rng = rng or random
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after) * (1 + 0.1 * rng.random())
        exponential = min(self.max_delay, self.base_delay * 2 ** max(failed_attempts - 1, 0))
        return exponential * (0.5 + 0.5 * rng.random())


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The endpoint's requested wait: `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)

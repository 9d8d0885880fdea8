"""Retry policy: how many attempts a run gets and how long to wait between them."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RetryConfig(BaseModel):
    """Trigger.dev-compatible retry settings (`maxAttempts`, `factor`, `minTimeoutInMs`, `maxTimeoutInMs`, `randomize`)."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(3, ge=1, le=100)
    factor: float = Field(2.0, ge=1.0)
    min_timeout: float = Field(1.0, ge=0.0, description="seconds before the second attempt")
    max_timeout: float = Field(60.0, ge=0.0, description="ceiling of any single delay, seconds")
    randomize: bool = True

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        min(max_timeout, min_timeout * factor^(attempt-1) * (1 + random() if randomize)). The caller passes a
        random source seeded by the run and attempt, so a replayed workflow computes the same delay.
        """
        if attempt < 1:
            raise ValueError("attempt numbers start at 1")
        jitter = 1.0 + (rng or random).random() if self.randomize else 1.0
        return min(self.max_timeout, self.min_timeout * self.factor ** (attempt - 1) * jitter)


class RetryDecision(BaseModel):
    """What a `catch_error` hook may return to override the retry policy for one failure."""

    skip_retry: bool = False
    retry_at: datetime | None = None
    retry_delay: float | None = Field(None, ge=0.0, description="seconds")

    @classmethod
    def coerce(cls, value: Any) -> "RetryDecision | None":
        if value is None or isinstance(value, RetryDecision):
            return value
        if isinstance(value, dict):
            return cls.model_validate(value)
        raise TypeError(f"catch_error must return None, a dict or a RetryDecision, not {type(value).__name__}")

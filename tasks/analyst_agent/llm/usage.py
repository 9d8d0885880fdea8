"""What the model cost a run: tokens, calls and seconds, accumulated as the run goes.

The agent puts `ModelUsage.snapshot()` into run metadata after every call and into `AnalystResult.usage`; the bench
subtracts `seconds_in_model` from wall time to get the agent's own overhead, so it counts the time spent in every
HTTP request to the model (failed attempts included) and nothing else (not backoff sleeps, not parsing).
"""

from __future__ import annotations

import threading

from pydantic import BaseModel, Field, PrivateAttr


class ModelUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = Field(0, description="completions received, re-asks included; failed attempts excluded")
    seconds_in_model: float = Field(0.0, description="wall time inside model HTTP requests, failed attempts included")

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def add(
        self,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        model_calls: int = 0,
        seconds_in_model: float = 0.0,
    ) -> None:
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.model_calls += model_calls
            self.seconds_in_model += seconds_in_model

    def merge(self, other: ModelUsage) -> None:
        self.add(**other.snapshot())

    def snapshot(self) -> dict[str, int | float]:
        """A plain dict for run metadata (seconds rounded to milliseconds)."""
        with self._lock:
            return {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "model_calls": self.model_calls,
                "seconds_in_model": round(self.seconds_in_model, 3),
            }

"""Tasks whose runs produce the webhook events under test (one of each ending)."""

from __future__ import annotations

import time
from typing import Any

from runtime import AbortTaskRunError, RetryConfig, task


@task(id="wh-ok", retry=RetryConfig(max_attempts=1))
def ok(payload: Any) -> dict:
    return {"ok": True, "password": "never-in-a-webhook"}


@task(id="wh-fails", retry=RetryConfig(max_attempts=1))
def fails(payload: Any) -> None:
    raise AbortTaskRunError("planned failure")


@task(id="wh-slow", retry=RetryConfig(max_attempts=1))
def slow(payload: Any, ctx) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ctx.is_cancelled:
        time.sleep(0.05)

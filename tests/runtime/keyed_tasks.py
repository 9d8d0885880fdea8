"""Parent tasks that trigger children by idempotency key, for the race tests of keys triggered inside runs."""

from __future__ import annotations

from typing import Any

from runtime import task
from tests.runtime.sample_tasks import echo


@task(id="t-keyed-parent", max_duration=120)
def keyed_parent(payload: dict, ctx) -> list[Any]:
    handles = [echo.trigger({"key": key}, idempotency_key=key) for key in payload["keys"]]
    return [[h.id, h.is_cached] for h in handles]


@task(id="t-keyed-parent-async", max_duration=120)
async def keyed_parent_async(payload: dict, ctx) -> list[Any]:
    handles = [await echo.trigger_async({"key": key}, idempotency_key=key) for key in payload["keys"]]
    return [[h.id, h.is_cached] for h in handles]

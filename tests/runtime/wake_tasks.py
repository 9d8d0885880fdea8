"""Tasks for test_child_wakeup.py: parents that time how soon they notice their children finishing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from runtime import Queue, task

CHILDREN = Queue(name="wake-children", concurrency_limit=4)


@task(id="wake-child", queue=CHILDREN)
def wake_child(payload: dict, ctx) -> float:  # type: ignore[no-untyped-def]
    ctx.cancel_event.wait(payload["seconds"])  # a canceled child stops at once
    return time.time()  # when it finished, as the child saw it


@task(id="wake-parent", max_duration=120)
def wake_parent(payload: dict, ctx) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    lags = []
    for seconds in payload["rounds"]:
        (result,) = wake_child.batch_trigger_and_wait([{"seconds": seconds}])
        lags.append(time.time() - result.output)
    return {"lags": lags}


@task(id="wake-parent-async", max_duration=120)
async def wake_parent_async(payload: dict, ctx) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    lags = []
    for seconds in payload["rounds"]:
        result = await wake_child.trigger_and_wait_async({"seconds": seconds})
        lags.append(time.time() - result.output)
        await asyncio.sleep(0)
    return {"lags": lags}

"""Tasks the tracing tests run: two steps with a log line in between and inside, a run that fails once, an async one."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime import RetryConfig, logger, task

QUICK_RETRY = RetryConfig(max_attempts=3, factor=1.0, min_timeout=0.05, max_timeout=0.1, randomize=False)


def _logged(value: int) -> int:
    logger.info("inside the first step", value=value)
    return value + 1


@task(id="tr-two-steps")
def two_steps(payload: dict[str, Any], ctx) -> int:
    first = ctx.step("first", _logged, payload.get("n", 1))
    logger.info("between the steps")
    return ctx.step("second", lambda: first * 10)


@task(id="tr-fails-once", retry=QUICK_RETRY)
def fails_once(payload: dict[str, Any], ctx) -> int:
    if ctx.attempt == 1:
        raise RuntimeError(f"planned failure carrying {payload.get('secret', 'nothing')}")
    return ctx.step("after-retry", lambda: ctx.attempt)


async def _double(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2


@task(id="tr-async-two-steps")
async def async_two_steps(payload: dict[str, Any], ctx) -> int:
    first = await ctx.step_async("a-first", _double, 2)
    return await ctx.step_async("a-second", _double, first)


@task(id="tr-parent")
def parent(payload: dict[str, Any], ctx) -> int:
    from runtime import tasks

    result = tasks.trigger_and_wait("tr-two-steps", {"n": 1}, timeout=60)
    return result.output

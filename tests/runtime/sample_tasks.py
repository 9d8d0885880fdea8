"""Tasks the runtime tests execute. They record what happened in EVENTS (the worker runs in the test's process)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from typing import Any

from pydantic import BaseModel, Field

from runtime import AbortTaskRunError, Queue, RetryConfig, RetryDecision, logger, metadata, schedules, schema_task, task

EVENTS: dict[str, list[Any]] = defaultdict(list)
_lock = threading.Lock()


def record(token: str, event: Any) -> None:
    with _lock:
        EVENTS[token].append(event)


FAST_RETRY = RetryConfig(max_attempts=3, factor=2.0, min_timeout=0.2, max_timeout=5.0, randomize=False)


@task(id="t-echo")
def echo(payload: dict, ctx) -> dict:
    return {"echo": payload, "attempt": ctx.attempt}


@task(id="t-noop", retry=RetryConfig(max_attempts=1))
def noop(payload: Any) -> None:
    return None


@task(id="t-always-fails", retry=FAST_RETRY)
def always_fails(payload: dict, ctx) -> None:
    record(payload["token"], ("attempt", ctx.attempt, time.monotonic()))
    raise ValueError(f"planned failure on attempt {ctx.attempt}")


@task(id="t-fails-then-succeeds", retry=FAST_RETRY)
def fails_then_succeeds(payload: dict, ctx) -> int:
    if ctx.attempt < payload.get("succeed_on", 2):
        raise RuntimeError("not yet")
    return ctx.attempt


@task(id="t-aborts", retry=FAST_RETRY)
def aborts(payload: dict, ctx) -> None:
    record(payload["token"], ("attempt", ctx.attempt))
    raise AbortTaskRunError("no point retrying")


def _skip_retry(payload: Any, error: BaseException, ctx) -> RetryDecision | None:
    if isinstance(error, KeyError):
        return RetryDecision(skip_retry=True)
    return None


@task(id="t-catch-error", retry=FAST_RETRY, catch_error=_skip_retry)
def catch_error_task(payload: dict, ctx) -> None:
    record(payload["token"], ("attempt", ctx.attempt))
    raise KeyError("missing")


class Greeting(BaseModel):
    name: str = Field(min_length=1)
    times: int = Field(1, ge=1, le=5)


@schema_task(id="t-schema", schema=Greeting, retry=FAST_RETRY)
def greet(payload: Greeting, ctx) -> str:
    record("schema-called", payload.name)
    return " ".join([f"hello {payload.name}"] * payload.times)


def _hook(name: str):
    def hook(payload: dict, *args: Any) -> None:
        record(payload["token"], name)
        if payload.get("broken_hooks"):
            raise RuntimeError(f"{name} hook is broken")

    return hook


@task(
    id="t-hooks",
    retry=FAST_RETRY,
    on_start=_hook("on_start"),
    on_success=_hook("on_success"),
    on_failure=_hook("on_failure"),
    cleanup=_hook("cleanup"),
)
def hooks_task(payload: dict, ctx) -> str:
    record(payload["token"], f"run:{ctx.attempt}")
    if ctx.attempt < payload.get("succeed_on", 1):
        raise RuntimeError("fail this attempt")
    return "done"


def _cleanup_marker(payload: dict, ctx) -> None:
    record(payload["token"], ("cleanup", ctx.cancel_reason))


@task(id="t-sleep", max_duration=1, retry=FAST_RETRY, cleanup=_cleanup_marker)
def sleeper(payload: dict, ctx) -> str:
    record(payload["token"], "started")
    time.sleep(payload.get("seconds", 10))
    record(payload["token"], "finished")
    return "woke up"


@task(id="t-sleep-async", max_duration=1, retry=FAST_RETRY, cleanup=_cleanup_marker)
async def async_sleeper(payload: dict, ctx) -> str:
    record(payload["token"], "started")
    await asyncio.sleep(payload.get("seconds", 10))
    return "woke up"


@task(id="t-cooperative", max_duration=600, cleanup=_cleanup_marker)
def cooperative(payload: dict, ctx) -> str:
    """Long sync work that watches the cancellation signal, as connectors do."""
    record(payload["token"], "started")
    ctx.on_cancel(lambda: record(payload["token"], "on_cancel"))
    while not ctx.is_cancelled:
        time.sleep(0.02)
    record(payload["token"], "saw-cancel")
    return "stopped"


@task(id="t-parent", max_duration=600, cleanup=_cleanup_marker)
def parent(payload: dict, ctx) -> Any:
    results = cooperative.batch_trigger_and_wait([{"token": payload["token"] + "-child1"}, {"token": payload["token"] + "-child2"}])
    return [r.ok for r in results]


@task(id="t-parent-simple")
def parent_simple(payload: dict, ctx) -> Any:
    metadata.set("stage", "children")
    result = child_reports.trigger_and_wait({"n": payload["n"]})
    failed = always_fails.trigger_and_wait({"token": payload["token"]})
    return {"child": result.output, "child_ok": result.ok, "failed_status": failed.status.value, "failed_ok": failed.ok}


@task(id="t-child-reports")
def child_reports(payload: dict, ctx) -> int:
    metadata.parent.increment("children_done")
    metadata.root.set("root_seen", True)
    return payload["n"] * 2


@task(id="t-progress", max_duration=60)
def progress(payload: dict, ctx) -> int:
    total = payload["steps"]
    for i in range(total):
        metadata.set("progress", (i + 1) / total)
        metadata.increment("done")
        metadata.append("seen", i)
        logger.info("step done", step=i, api_key="sk-live-123456", dsn="postgresql://app:hunter2@db/x")
        metadata.flush()
        record(payload["token"], i)
        time.sleep(payload.get("pause", 0.05))
    metadata.remove("seen", 0)
    return total


@task(id="t-big-metadata")
def big_metadata(payload: dict, ctx) -> str:
    try:
        metadata.set("blob", "x" * (300 * 1024))
    except Exception as exc:  # the cap error is the result
        return f"{type(exc).__name__}: {exc}"
    return "no error"


LIMITED = Queue(name="q-limited", concurrency_limit=1)


@task(id="t-limited", queue=LIMITED)
def limited(payload: dict, ctx) -> None:
    start = time.monotonic()
    time.sleep(payload.get("seconds", 0.3))
    record(payload["token"], (payload.get("key"), start, time.monotonic()))


@task(id="t-keyed-from", queue=Queue(name="q-keyed-from", concurrency_limit=1, concurrency_key_from="key"))
def keyed_from(payload: dict, ctx) -> None:
    limited.fn(payload, ctx)


@task(id="t-three-steps", max_duration=600)
def three_steps(payload: dict, ctx) -> str:
    """For the crash tests: each step appends a line to a file, step 2 waits for a go-file."""
    import pathlib

    log = pathlib.Path(payload["log"])

    def mark(name: str) -> str:
        with log.open("a") as fh:
            fh.write(name + "\n")
        return name

    ctx.step("one", mark, "step1")

    def two() -> str:
        mark("step2-started")
        go = pathlib.Path(payload["go"])
        while not go.exists():
            time.sleep(0.05)
        return mark("step2")

    ctx.step("two", two)
    ctx.step("three", mark, "step3")
    return "all steps done"


@schedules.task(id="t-nightly", cron="0 3 * * *", timezone="Europe/Paris")
def nightly(payload: dict, ctx) -> dict:
    return payload


@task(id="t-async-parent")
async def async_parent(payload: dict, ctx) -> dict:
    one = await child_reports.trigger_and_wait_async({"n": payload["n"]})
    many = await child_reports.batch_trigger_and_wait_async([{"n": 1}, {"n": 2}])
    failed = await always_fails.trigger_and_wait_async({"token": payload["token"]}, max_attempts=1)
    return {"one": one.output, "many": [r.output for r in many], "failed": failed.status.value}


@task(id="t-async-parent-wrong-call")
async def async_parent_wrong(payload: dict, ctx) -> str:
    child_reports.trigger({"n": 1})
    return "unreachable"

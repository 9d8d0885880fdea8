"""Several processes doing the same thing at the same instant, for the race tests.

`race(target, *args)` starts fresh interpreters (spawn: nothing inherited from the test process), lets each one
prepare (connect, migrate), releases them together through one barrier, and returns what each target returned.
Targets live here because spawn re-imports them by module name.
"""

from __future__ import annotations

import multiprocessing
from typing import Any, Callable


def _child(target: Callable[..., Any], args: tuple[Any, ...], start: Any, out: Any) -> None:
    from runtime.backend import reset_backends

    try:
        out.put(("ok", target(start.wait, *args)))
    except BaseException as exc:  # reported to the test instead of dying silently in the child
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        reset_backends()


def race(target: Callable[..., Any], *args: Any, processes: int = 2, timeout: float = 300) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes, timeout=timeout)
    out = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(target, args, start, out)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    try:
        results = [out.get(timeout=timeout) for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
    errors = [value for kind, value in results if kind == "error"]
    assert not errors, errors
    return [value for _, value in results]


def trigger_keys(ready: Callable[[], Any], url: str, keys: list[tuple[str, str]]) -> dict[str, tuple[str, bool]]:
    """Trigger every (task id, idempotency key) in order: key -> (run id, is_cached)."""
    from runtime import tasks
    from runtime.backend import get_backend

    get_backend(url)
    ready()
    results = {}
    for task_id, key in keys:
        handle = tasks.trigger(task_id, {"key": key}, idempotency_key=key, database_url=url)
        results[key] = (handle.id, handle.is_cached)
    return results


def claim_ids(ready: Callable[[], Any], url: str, executor_ids: list[str], dead_after: float) -> dict[str, bool]:
    """Claim every executor id in order: id -> True if this process got it."""
    from runtime.backend import get_backend
    from runtime.executor_ids import ExecutorIdInUseError, claim_executor_id

    backend = get_backend(url)
    ready()
    won = {}
    for executor_id in executor_ids:
        try:
            claim_executor_id(backend, executor_id, dead_after=dead_after, concurrency=1, tasks=[])
            won[executor_id] = True
        except ExecutorIdInUseError:
            won[executor_id] = False
    return won


def start_worker_as(ready: Callable[[], Any], url: str, executor_id: str, hold: float) -> str:
    """Start a full Worker on `executor_id`; "started" (after holding the id `hold` seconds) or "refused"."""
    import time

    from runtime import ExecutorIdInUseError, Worker
    from runtime.backend import get_backend
    from tests.runtime import sample_tasks

    get_backend(url)
    worker = Worker(database_url=url, tasks=[sample_tasks], executor_id=executor_id, run_schedules=False)
    ready()
    try:
        worker.start()
    except ExecutorIdInUseError:
        return "refused"
    time.sleep(hold)  # the loser must meet a living holder, not a released row
    worker.stop()
    return "started"

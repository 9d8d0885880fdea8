"""Tasks the dashboard tests and browser tests run: one moves through introspect-data-like stages with a progress
bar, waiting on a file between stages so a test sees each state; one is slow enough to cancel from the page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from runtime import RetryConfig, logger, metadata, task


@task(id="dash-stages", retry=RetryConfig(max_attempts=1))
def stages(payload: dict, ctx) -> dict:
    """Goes connecting -> introspecting -> profiling -> saving, 0 -> 100 %, pausing `pause` seconds at each stage
    (or until the file `go` exists, when given)."""
    pause = float(payload.get("pause", 0.0))
    go = Path(payload["go"]) if payload.get("go") else None
    for index, (stage, progress) in enumerate([("connecting", 0.0), ("introspecting", 0.25), ("profiling", 0.5), ("saving", 0.9)]):
        metadata.set("stage", stage).set("progress", progress)
        logger.info("stage started", stage=stage)
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline and not ctx.is_cancelled:
            if go is not None and go.exists():
                break
            time.sleep(0.05)
    metadata.set("stage", "done").set("progress", 1.0)
    return {"tables": 3, "password": payload.get("password")}


@task(id="dash-agent", retry=RetryConfig(max_attempts=1))
def agent(payload: Any) -> dict:
    """The analyst agent's shape of metadata: `state` and a `states` timeline."""
    states = []
    for name in ["initialization", "searching", "planning", "analyzing", "reviewing"]:
        states.append({"name": name, "started_at": time.time(), "finished_at": time.time(), "summary": f"{name} ok"})
        metadata.set("state", name).set("states", list(states))
    return {"answer": 42}


@task(id="dash-slow", retry=RetryConfig(max_attempts=1))
def slow(payload: Any, ctx) -> None:
    metadata.set("progress", 0.1)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not ctx.is_cancelled:
        time.sleep(0.05)


@task(id="dash-echo", retry=RetryConfig(max_attempts=1))
def echo(payload: Any) -> Any:
    return payload

"""Tasks the API tests trigger over HTTP (the worker runs in the test process, beside the live server)."""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, Field, SecretStr

from runtime import RetryConfig, logger, metadata, schema_task, task

GATES: dict[str, threading.Event] = {}
ONE_ATTEMPT = RetryConfig(max_attempts=1)


def gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


@task(id="api-echo", retry=ONE_ATTEMPT)
def echo(payload: Any, ctx) -> Any:
    logger.info("echoing", size=len(str(payload)))
    return {"echo": payload}


@task(id="api-fails", retry=ONE_ATTEMPT)
def fails(payload: Any, ctx) -> None:
    raise ValueError("planned failure")


@task(id="api-steps", retry=ONE_ATTEMPT)
def steps(payload: dict, ctx) -> dict:
    """Moves its progress in `steps` steps, each waiting for the test to open the gate `<token>:<i>` (or 20 ms)."""
    for i in range(payload.get("steps", 3)):
        metadata.set("progress", (i + 1) / payload.get("steps", 3))
        metadata.set("stage", f"step {i + 1}")
        metadata.flush()
        if payload.get("gated"):
            gate(f"{payload['token']}:{i}").wait(30)
        elif ctx.cancel_event.wait(payload.get("pause", 0.02)):
            return {"canceled": True}
    return {"done": payload.get("steps", 3)}


@task(id="api-holds", retry=ONE_ATTEMPT)
def holds(payload: dict, ctx) -> str:
    """Executes until canceled (or 60 s)."""
    metadata.set("holding", True)
    metadata.flush()
    ctx.cancel_event.wait(60)
    return "released"


class Login(BaseModel):
    user: str = Field(min_length=1)
    password: SecretStr
    port: int = Field(5432, ge=1, le=65535)


@schema_task(id="api-typed", schema=Login, retry=ONE_ATTEMPT)
def typed(payload: Login, ctx) -> dict:
    return {"user": payload.user, "port": payload.port}

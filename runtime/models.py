"""The shapes callers see: runs, their statuses and results (handles, which can read their run, are in runtime.handles)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from runtime.errors import RunError


class RunStatus(str, Enum):
    QUEUED = "QUEUED"
    PENDING_VERSION = "PENDING_VERSION"  # queued for a code version no living worker runs
    DELAYED = "DELAYED"
    EXECUTING = "EXECUTING"
    # started, and the worker executing it stopped heartbeating: it resumes from its recorded steps once a worker of
    # its version recovers it, or ends CRASHED with the reason when none can (runtime/worker.py)
    WAITING_FOR_WORKER = "WAITING_FOR_WORKER"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    TIMED_OUT = "TIMED_OUT"
    CRASHED = "CRASHED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def frees_idempotency_key(self) -> bool:
        """A run that did not succeed lets the next trigger with its key start afresh."""
        return self in FINAL_STATUSES and self is not RunStatus.COMPLETED


FINAL_STATUSES = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED, RunStatus.TIMED_OUT, RunStatus.CRASHED, RunStatus.EXPIRED}
)


class Run(BaseModel):
    id: str
    task_id: str
    status: RunStatus
    payload: Any = None
    output: Any = None
    error: RunError | None = None
    attempts: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    queue: str | None = None
    idempotency_key: str | None = None
    concurrency_key: str | None = None
    parent_id: str | None = None
    root_id: str | None = None
    delay_until: datetime | None = None
    expires_at: datetime | None = None
    executor_id: str | None = None
    version: str | None = Field(None, description="the code version that runs the run (or that it waits for)")
    triggered_version: str | None = Field(None, description="the code version the run was triggered for")
    warnings: list[str] = Field(default_factory=list, description="parts of the stored run that could not be read")
    status_reason: str | None = Field(None, description="why the run is in its status, when that is not plain (WAITING_FOR_WORKER)")

    @property
    def is_final(self) -> bool:
        return self.status.is_final


class RunList(BaseModel):
    data: list[Run]
    next_cursor: str | None = None


class LogEntry(BaseModel):
    run_id: str
    attempt: int | None = None
    level: str
    message: str
    fields: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class TaskRunResult(BaseModel):
    """Outcome of a trigger-and-wait: `ok` with `output`, or not ok with `error` (never raises for a failed child)."""

    id: str
    task_id: str
    ok: bool
    status: RunStatus
    output: Any = None
    error: RunError | None = None

    def unwrap(self) -> Any:
        """The output, or raise when the child run did not complete."""
        if not self.ok:
            raise RuntimeError(f"run {self.id} ({self.task_id}) ended {self.status.value}: {self.error.message if self.error else ''}")
        return self.output

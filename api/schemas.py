"""The API's JSON shapes, camelCase as Trigger.dev's (`taskIdentifier`, `idempotencyKey`, `createdAt`, ...).

Requests forbid unknown fields (a misspelt option is a 422 naming it, not an option silently ignored) and accept the
snake_case names too. Responses are built from the runtime's models (`run_out`, `schedule_out`, `task_out`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pydantic.alias_generators import to_camel

import runtime
from runtime.triggering import MAX_BATCH_ITEMS


class ApiModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class RequestModel(ApiModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


Duration = Annotated[
    float | str | None,
    Field(description="seconds, a duration such as '30s', '15m', '1h30m', '2d', or (delay) an ISO 8601 date-time"),
]


class TriggerOptions(RequestModel):
    idempotency_key: str | None = None
    idempotency_key_ttl: Duration = Field(None, alias="idempotencyKeyTTL")
    concurrency_key: str | None = None
    delay: Duration = None
    ttl: Duration = None
    tags: str | list[str] | None = None
    max_attempts: StrictInt | None = None
    max_duration: Duration = None
    metadata: dict[str, Any] | None = None


class TriggerRequest(RequestModel):
    payload: Any = None
    options: TriggerOptions = Field(default_factory=TriggerOptions)


class TriggerResponse(ApiModel):
    id: str
    is_cached: bool = Field(description="true when an idempotency key pointed at an existing run")
    public_access_token: str = Field(description="a JWT that can read this run only (15 minutes)")


class BatchItemRequest(RequestModel):
    task: str
    payload: Any = None
    options: TriggerOptions = Field(default_factory=TriggerOptions)


class BatchRequest(RequestModel):
    items: list[BatchItemRequest] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class BatchRun(ApiModel):
    id: str
    task_identifier: str
    is_cached: bool


class BatchResponse(ApiModel):
    batch_id: str
    runs: list[BatchRun]
    public_access_token: str = Field(description="a JWT that can read these runs (15 minutes)")


class RunErrorOut(ApiModel):
    type: str
    message: str
    code: str | None = None
    retryable: bool | None = None
    details: dict[str, Any] | None = None
    stack_trace: str | None = None


class RunOut(ApiModel):
    id: str
    task_identifier: str
    status: runtime.RunStatus
    status_reason: str | None = Field(None, description="why the run is in its status when that is not plain (WAITING_FOR_WORKER: which worker stopped and what happens next)")
    is_finished: bool
    payload: Any = None
    output: Any = None
    error: RunErrorOut | None = None
    attempts: int = Field(description="attempts started so far")
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    delay_until: datetime | None = None
    expires_at: datetime | None = None
    queue: str | None = None
    idempotency_key: str | None = None
    concurrency_key: str | None = None
    parent_id: str | None = None
    root_id: str | None = None
    warnings: list[str] = Field(default_factory=list)


class RunListOut(ApiModel):
    data: list[RunOut]
    next_cursor: str | None = None


class RunIdOut(ApiModel):
    id: str


class LogOut(ApiModel):
    run_id: str
    attempt: int | None = None
    level: str
    message: str
    fields: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class LogListOut(ApiModel):
    data: list[LogOut]


class ScheduleCreate(RequestModel):
    task: str
    cron: str
    timezone: str = "UTC"
    external_id: str | None = None
    deduplication_key: str | None = None


class ScheduleUpdate(RequestModel):
    task: str
    cron: str
    timezone: str = "UTC"
    external_id: str | None = None


class ScheduleOut(ApiModel):
    id: str
    task: str
    type: str = Field(description="DECLARATIVE (declared in code) or IMPERATIVE (made through the API or CLI)")
    cron: str
    timezone: str
    external_id: str | None = None
    deduplication_key: str | None = None
    active: bool
    next_run: datetime
    last_run: datetime | None = None
    upcoming: list[datetime]


class ScheduleListOut(ApiModel):
    data: list[ScheduleOut]


class TaskOut(ApiModel):
    id: str
    queue: str | None = None
    concurrency_limit: int | None = None
    max_duration: float | None = None
    retry: dict[str, Any] | None = None
    machine: str | None = None
    description: str | None = None
    has_schema: bool = False
    payload_schema: dict[str, Any] | None = None
    defined_in_this_process: bool = False


class TaskListOut(ApiModel):
    data: list[TaskOut]


class ReadScopes(RequestModel):
    runs: list[str] = Field(default_factory=list, max_length=100)
    tags: list[str] = Field(default_factory=list, max_length=100)


class TokenScopesIn(RequestModel):
    read: ReadScopes


class PublicTokenRequest(RequestModel):
    scopes: TokenScopesIn
    expires_in: StrictInt | None = Field(None, description="seconds; default 900, at most 7 days")


class PublicTokenResponse(ApiModel):
    token: str
    expires_at: datetime


def run_out(run: runtime.Run) -> RunOut:
    error = None
    if run.error is not None:
        error = RunErrorOut(
            type=run.error.type, message=run.error.message, code=run.error.code, retryable=run.error.retryable,
            details=run.error.details, stack_trace=run.error.stack,
        )
    return RunOut(
        id=run.id, task_identifier=run.task_id, status=run.status, status_reason=run.status_reason, is_finished=run.is_final, payload=run.payload,
        output=run.output, error=error, attempts=run.attempts, metadata=run.metadata, tags=run.tags,
        created_at=run.created_at, started_at=run.started_at, finished_at=run.finished_at, delay_until=run.delay_until,
        expires_at=run.expires_at, queue=run.queue, idempotency_key=run.idempotency_key,
        concurrency_key=run.concurrency_key, parent_id=run.parent_id, root_id=run.root_id, warnings=run.warnings,
    )


def run_json(run: runtime.Run) -> dict[str, Any]:
    """The run as the API sends it (also the data of each realtime event)."""
    return run_out(run).model_dump(mode="json", by_alias=True)


def schedule_out(schedule: runtime.Schedule) -> ScheduleOut:
    return ScheduleOut(
        id=schedule.id, task=schedule.task_id, type=schedule.kind, cron=schedule.cron, timezone=schedule.timezone,
        external_id=schedule.external_id, deduplication_key=schedule.deduplication_key, active=schedule.active,
        next_run=schedule.next_run_at, last_run=schedule.last_run_at, upcoming=schedule.upcoming,
    )

"""`/api/v1/schedules`: create, list, retrieve, update, delete cron schedules.

A schedule declared in code (`@schedules.task`, type DECLARATIVE) belongs to its code: a worker puts it back as
declared on every start, so changing or deleting it here would silently come undone. Those are refused with a 409
naming the task; change the decorator instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

import runtime
from api.auth.dependencies import SecretKey
from api.errors import ApiError
from api.schemas import ScheduleCreate, ScheduleListOut, ScheduleOut, ScheduleUpdate, schedule_out
from runtime.backend import get_backend
from runtime.limits import MAX_ID_CHARS, MAX_TASK_ID_CHARS, check_text
from runtime.schedules import ScheduleError, next_times, validate_cron
from runtime.triggering import task_info

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"], dependencies=[SecretKey])


def _url(request: Request) -> str | None:
    return request.app.state.settings.database_url


def _existing(request: Request, schedule_id: str) -> runtime.Schedule:
    try:
        return runtime.schedules.retrieve(schedule_id, database_url=_url(request))
    except ScheduleError:
        raise ApiError(404, "schedule_not_found", f"no schedule with id {schedule_id[:80]!r}") from None


def _declared(schedule: runtime.Schedule, action: str) -> ApiError:
    return ApiError(409, "schedule_declared_in_code",
                    f"schedule {schedule.id} is declared in code by task {schedule.task_id!r}; {action} it there",
                    metadata={"task": schedule.task_id})


@router.post("", response_model=ScheduleOut, summary="Create a schedule (or update the one with this deduplicationKey)")
def create_schedule(body: ScheduleCreate, request: Request) -> ScheduleOut:
    created = runtime.schedules.create(
        task=body.task, cron=body.cron, timezone=body.timezone, external_id=body.external_id,
        deduplication_key=body.deduplication_key, database_url=_url(request),
    )
    return schedule_out(created)


@router.get("", response_model=ScheduleListOut, summary="List schedules")
def list_schedules(request: Request, task: str | None = Query(None)) -> ScheduleListOut:
    return ScheduleListOut(data=[schedule_out(s) for s in runtime.schedules.list(task=task, database_url=_url(request))])


@router.get("/{schedule_id}", response_model=ScheduleOut, summary="Retrieve a schedule")
def retrieve_schedule(schedule_id: str, request: Request) -> ScheduleOut:
    return schedule_out(_existing(request, schedule_id))


@router.put("/{schedule_id}", response_model=ScheduleOut, summary="Change a schedule's task, cron, timezone or externalId")
def update_schedule(schedule_id: str, body: ScheduleUpdate, request: Request) -> ScheduleOut:
    current = _existing(request, schedule_id)
    if current.kind == "DECLARATIVE":
        raise _declared(current, "change")
    check_text(body.task, "task", max_chars=MAX_TASK_ID_CHARS, error=ScheduleError)
    cron = validate_cron(body.cron)
    next_times(cron, body.timezone, 0, 1)  # refuses an unknown timezone (ScheduleError naming it)
    if body.external_id is not None:
        check_text(body.external_id, "external_id", max_chars=MAX_ID_CHARS, error=ScheduleError)
    task_info(get_backend(_url(request)), body.task)  # 404 for a task nobody defined
    updated = runtime.schedules.update(
        schedule_id, task=body.task, cron=cron, timezone=body.timezone, external_id=body.external_id, database_url=_url(request)
    )
    return schedule_out(updated)


@router.delete("/{schedule_id}", response_model=ScheduleOut, summary="Delete a schedule")
def delete_schedule(schedule_id: str, request: Request) -> ScheduleOut:
    current = _existing(request, schedule_id)
    if current.kind == "DECLARATIVE":
        raise _declared(current, "remove")
    try:
        runtime.schedules.delete(schedule_id, database_url=_url(request))
    except ScheduleError:
        raise ApiError(404, "schedule_not_found", f"no schedule with id {schedule_id[:80]!r}") from None
    return schedule_out(current)

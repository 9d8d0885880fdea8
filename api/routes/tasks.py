"""`POST /api/v1/tasks/{task}/trigger`, `POST /api/v1/tasks/batch`, `GET /api/v1/tasks`."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Request

import runtime
from api.auth import Principal, TokenScopes
from api.auth.dependencies import SecretKey
from api.auth.tokens import issue
from api.errors import ApiError
from api.routes.options import api_field, trigger_kwargs
from api.schemas import (
    BatchRequest,
    BatchResponse,
    BatchRun,
    TaskListOut,
    TaskOut,
    TriggerRequest,
    TriggerResponse,
)
from runtime.backend import get_backend
from runtime.config import resolve_database_url
from runtime.definitions import all_tasks
from runtime.store import task_definitions
from runtime.triggering import BatchItem, check_batch

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])


def _refused(exc: runtime.InputError, prefix: str = "") -> ApiError:
    """A runtime refusal (runtime.limits) as a 422 naming the field as the client spelt it."""
    field = api_field(exc.field, prefix)
    errors = [{"field": api_field(e.get("field"), prefix) or "", "message": e.get("message", "")} for e in getattr(exc, "errors", None) or []]
    if not errors and field:
        errors = [{"field": field, "message": str(exc)}]
    code = "invalid_payload" if isinstance(exc, runtime.PayloadError) else "invalid_request"
    return ApiError(422, code, str(exc), metadata={"field": field, "errors": errors})


def trigger_slots(request: Request) -> asyncio.Semaphore:
    """How many triggers this process runs at once. Requests wait here first come, first served (an asyncio
    semaphore is FIFO; threads racing for SQLite's one write lock are not: its busy handler sleeps up to 100 ms
    between retries, so some requests wait seconds while others pass). On SQLite 2 at a time (one writes while the
    other prepares), on PostgreSQL as many as the connection pool holds."""
    slots = getattr(request.app.state, "trigger_slots", None)
    if slots is None:
        settings = request.app.state.settings
        size = settings.trigger_concurrency
        if size is None:
            size = 2 if resolve_database_url(settings.database_url).startswith("sqlite") else 16
        slots = request.app.state.trigger_slots = asyncio.Semaphore(size)
    return slots


def _token(request: Request, principal: Principal, runs: list[str]) -> str:
    settings = request.app.state.settings
    return issue(principal.key_id, principal.environment, TokenScopes(runs=frozenset(runs)),
                 settings.public_token_default_ttl_s, database_url=settings.database_url)


@router.post("/batch", response_model=BatchResponse, summary="Trigger a batch of runs (of one or several tasks)")
async def batch_trigger(body: BatchRequest, request: Request, principal: Principal = SecretKey) -> BatchResponse:
    """Every item is checked before the first run is created: one invalid item refuses the whole batch (422 naming
    `items[i]...`), an unknown task is a 404 and nothing is triggered."""
    async with trigger_slots(request):
        return await asyncio.to_thread(_batch_trigger, body, request, principal)


def _batch_trigger(body: BatchRequest, request: Request, principal: Principal) -> BatchResponse:
    url = request.app.state.settings.database_url
    backend = get_backend(url)
    by_task: dict[str, list[tuple[int, BatchItem]]] = {}
    for index, item in enumerate(body.items):
        by_task.setdefault(item.task, []).append((index, BatchItem(payload=item.payload, options=trigger_kwargs(item.options))))
    for task_id, entries in by_task.items():
        try:
            check_batch(backend, task_id, [entry for _, entry in entries], {})
        except runtime.InputError as exc:
            # the runtime numbers items within this task's group: name them by their place in the request
            raise _renumbered(exc, [index for index, _ in entries]) from None
    handles: list[BatchRun] = []
    for item in body.items:
        handle = runtime.tasks.trigger(item.task, item.payload, database_url=url, **trigger_kwargs(item.options))
        handles.append(BatchRun(id=handle.id, task_identifier=item.task, is_cached=handle.is_cached))
    return BatchResponse(
        batch_id=f"batch_{uuid.uuid4().hex[:16]}", runs=handles, public_access_token=_token(request, principal, [h.id for h in handles])
    )


def _renumbered(exc: runtime.InputError, indexes: list[int]) -> ApiError:
    def fix(text: str | None) -> str | None:
        if text is None:
            return None
        return re.sub(r"^items\[(\d+)\]", lambda m: f"items[{indexes[int(m.group(1))]}]", text)

    exc.field = fix(exc.field)
    message = fix(str(exc)) or ""
    errors = [{**e, "field": fix(e.get("field"))} for e in getattr(exc, "errors", None) or []]
    raised = type(exc)(message, field=exc.field)
    if errors and isinstance(raised, runtime.PayloadError):
        raised.errors = errors
    return _refused(raised)


@router.post("/{task_id}/trigger", response_model=TriggerResponse, summary="Trigger a run")
async def trigger(
    task_id: str, request: Request, body: Annotated[TriggerRequest | None, Body()] = None, principal: Principal = SecretKey
) -> TriggerResponse:
    """Start a run of `task_id` (no body: no payload, default options). With `options.idempotencyKey`, triggering
    again returns the same run (`isCached`). The response carries a public access token that can read this run only."""
    async with trigger_slots(request):
        return await asyncio.to_thread(_trigger, task_id, body or TriggerRequest(), request, principal)


def _trigger(task_id: str, body: TriggerRequest, request: Request, principal: Principal) -> TriggerResponse:
    url = request.app.state.settings.database_url
    try:
        handle = runtime.tasks.trigger(task_id, body.payload, database_url=url, **trigger_kwargs(body.options))
    except runtime.InputError as exc:
        raise _refused(exc) from None
    return TriggerResponse(id=handle.id, is_cached=handle.is_cached, public_access_token=_token(request, principal, [handle.id]))


@router.get("", response_model=TaskListOut, summary="The registered tasks with their settings", dependencies=[SecretKey])
def list_tasks(request: Request) -> TaskListOut:
    """Tasks the workers published (and those defined in this process), with queue, limits, retry and payload schema."""
    engine = runtime.database_engine(request.app.state.settings.database_url)
    found: dict[str, TaskOut] = {}
    with engine.connect() as conn:
        for task_id, definition in conn.execute(sa.select(task_definitions.c.id, task_definitions.c.definition)).all():
            try:
                described = definition if isinstance(definition, dict) else json.loads(definition)
            except ValueError:
                continue
            found[task_id] = _task_out(described, local=False)
    for definition in all_tasks():
        found[definition.id] = _task_out(definition.describe(), local=True)
    return TaskListOut(data=[found[k] for k in sorted(found)])


def _task_out(described: dict[str, Any], *, local: bool) -> TaskOut:
    return TaskOut(
        id=described["id"], queue=described.get("queue"), concurrency_limit=described.get("concurrency_limit"),
        max_duration=described.get("max_duration"), retry=described.get("retry"), machine=described.get("machine"),
        description=described.get("description"), has_schema=bool(described.get("has_schema")),
        payload_schema=described.get("payload_schema"), defined_in_this_process=local,
    )

"""`/api/v1/runs`: list, retrieve, logs, cancel, replay.

A public access token may retrieve a run (and its logs) it is scoped to, by id or by one of its tags; a run outside
its scope is a 403 whether or not it exists, so a token cannot probe for other runs' ids. Everything else needs a
secret key. Payloads, outputs, errors, logs and metadata come masked by the runtime (secrets as `[REDACTED]`).
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

import runtime
from api.auth import Principal
from api.auth.dependencies import Reader, SecretKey
from api.errors import ApiError
from api.schemas import LogListOut, LogOut, RunIdOut, RunListOut, RunOut, run_out

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
MAX_PAGE = 100
STATUSES = [s.value for s in runtime.RunStatus]


def _url(request: Request) -> str | None:
    return request.app.state.settings.database_url


def _values(raw: list[str] | None) -> list[str]:
    """Repeated (`?status=A&status=B`) and comma-separated (`?status=A,B`) values alike."""
    return [v.strip() for item in raw or [] for v in item.split(",") if v.strip()]


def _forbidden() -> ApiError:
    return ApiError(403, "forbidden", "this public access token may not read this run")


def readable_run(request: Request, principal: Principal, run_id: str) -> runtime.Run:
    """The run, when `principal` may read it: 404 for a secret key asking for an unknown run, 403 for a token outside
    its scope (existing or not)."""
    scopes = principal.scopes
    if scopes is not None and run_id not in scopes.runs and not scopes.tags:
        raise _forbidden()
    try:
        run = runtime.runs.retrieve(run_id, database_url=_url(request))
    except runtime.RunNotFoundError:
        if scopes is not None and run_id not in scopes.runs:
            raise _forbidden() from None
        raise
    if not principal.can_read_run(run.id, run.tags):
        raise _forbidden()
    return run


@router.get("", response_model=RunListOut, summary="List runs, newest first")
def list_runs(
    request: Request,
    status: list[str] | None = Query(None, description=f"one or more of {', '.join(STATUSES)} (comma-separated or repeated)"),
    task_identifier: list[str] | None = Query(None, alias="taskIdentifier"),
    tag: list[str] | None = Query(None, description="runs having any of these tags"),
    limit: int = Query(25, ge=1, le=MAX_PAGE),
    cursor: str | None = Query(None, max_length=400, description="the previous page's nextCursor"),
    principal: Principal = SecretKey,
) -> RunListOut:
    statuses = _values(status)
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise ApiError(422, "invalid_request", f"status: unknown status {unknown[0][:40]!r}; expected one of {', '.join(STATUSES)}",
                       metadata={"field": "status"})
    found = runtime.runs.list(
        status=statuses or None, task_id=_values(task_identifier) or None, tag=_values(tag) or None, limit=limit,
        cursor=cursor or None, database_url=_url(request),
    )
    return RunListOut(data=[run_out(r) for r in found.data], next_cursor=found.next_cursor)


@router.get("/{run_id}", response_model=RunOut, summary="Retrieve a run")
def retrieve_run(run_id: str, request: Request, principal: Principal = Reader) -> RunOut:
    return run_out(readable_run(request, principal, run_id))


@router.get("/{run_id}/logs", response_model=LogListOut, summary="A run's log lines, oldest first")
def run_logs(run_id: str, request: Request, principal: Principal = Reader) -> LogListOut:
    readable_run(request, principal, run_id)
    entries = runtime.runs.logs(run_id, database_url=_url(request))
    return LogListOut(data=[LogOut(**e.model_dump()) for e in entries])


@router.post("/{run_id}/cancel", response_model=RunIdOut, summary="Cancel a run and its child runs")
def cancel_run(run_id: str, request: Request, principal: Principal = SecretKey) -> RunIdOut:
    """409 when the run has finished already (its status cannot change any more)."""
    run = runtime.runs.retrieve(run_id, database_url=_url(request))
    if run.is_final:
        raise ApiError(409, "run_finished", f"run {run.id} has finished ({run.status.value}); it cannot be canceled",
                       metadata={"status": run.status.value})
    runtime.runs.cancel(run_id, database_url=_url(request))
    return RunIdOut(id=run.id)


@router.post("/{run_id}/replay", response_model=RunIdOut, summary="A new run with the same task, payload and tags")
def replay_run(run_id: str, request: Request, principal: Principal = SecretKey) -> RunIdOut:
    handle = runtime.runs.replay(run_id, database_url=_url(request))
    return RunIdOut(id=handle.id)

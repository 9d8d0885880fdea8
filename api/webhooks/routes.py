"""`/api/v1/webhooks`: register endpoints for run events, list and delete them, read their deliveries.

    POST   /api/v1/webhooks                      {"url", "events": [...], "description"?} -> the endpoint + "secret" (once)
    GET    /api/v1/webhooks                      the endpoints (never a secret)
    GET    /api/v1/webhooks/{id}                 one endpoint
    DELETE /api/v1/webhooks/{id}                 remove it; deliveries still scheduled stop
    POST   /api/v1/webhooks/{id}/enable          re-enable an endpoint a 410 disabled
    GET    /api/v1/webhooks/{id}/deliveries      its messages, newest first, each with its attempts (cursor paging)

A URL on loopback, a private network, link-local or a cloud metadata address is refused with a 422 naming `url`
(api.webhooks.ssrf) unless TASKPACK_WEBHOOK_ALLOW_PRIVATE=1. Secret keys only: a public access token gets a 403.
The module also starts this process's event emitter (`startup`), which turns run status changes into deliveries.
"""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import Field

from api.auth.dependencies import SecretKey
from api.errors import ApiError
from api.schemas import ApiModel, RequestModel
from api.webhooks import ssrf
from api.webhooks.emitter import EventEmitter
from store import webhooks as registry

log = logging.getLogger("taskpack.webhooks")

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], dependencies=[SecretKey])


class WebhookCreate(RequestModel):
    url: str = Field(max_length=ssrf.MAX_URL_CHARS, description="http(s) URL on a public address")
    events: list[str] = Field(min_length=1, max_length=len(registry.RUN_EVENTS), description=", ".join(registry.RUN_EVENTS))
    description: str | None = Field(None, max_length=500)


class WebhookOut(ApiModel):
    id: str
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool
    disabled_reason: str | None = None
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_…: verify signatures with it; shown only now")


class WebhookList(ApiModel):
    data: list[WebhookOut]


class DeletedWebhook(ApiModel):
    id: str
    deleted: bool = True


class AttemptOut(ApiModel):
    attempt: int
    started_at: datetime
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    response: str | None = None


class DeliveryOut(ApiModel):
    id: str = Field(description="the webhook-id header: the same on every attempt")
    event_type: str
    run_id: str
    status: str = Field(description="pending, succeeded, failed or skipped")
    attempts: int
    delivery_run_id: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime
    attempt_log: list[AttemptOut]


class DeliveryList(ApiModel):
    data: list[DeliveryOut]
    next_cursor: str | None = None


def _url(request: Request) -> str | None:
    return request.app.state.settings.database_url


def _out(endpoint: registry.Endpoint) -> WebhookOut:
    return WebhookOut(**endpoint.model_dump())


def _found(request: Request, webhook_id: str) -> registry.Endpoint:
    try:
        return registry.get_endpoint(webhook_id, database_url=_url(request))
    except registry.WebhookNotFoundError as exc:
        raise ApiError(404, "webhook_not_found", exc.message) from None


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_request", message, metadata={"field": field, "errors": [{"field": field, "message": message}]})


@router.post("", status_code=201, response_model=WebhookCreated, summary="Register an endpoint for run events")
def create_webhook(body: WebhookCreate, request: Request) -> WebhookCreated:
    try:
        registry.check_events(body.events)  # the cheap check first: no DNS lookup for a body refused anyway
    except registry.InvalidWebhookError as exc:
        raise _invalid(exc.field, exc.message) from None
    try:
        checked = ssrf.check_url(body.url)
    except ssrf.UnsafeWebhookURLError as exc:
        raise _invalid("url", str(exc)) from None
    try:
        created = registry.create_endpoint(checked.url, body.events, description=body.description, database_url=_url(request))
    except registry.InvalidWebhookError as exc:
        raise _invalid(exc.field, exc.message) from None
    return WebhookCreated(**created.model_dump())


@router.get("", response_model=WebhookList, summary="List webhook endpoints")
def list_webhooks(request: Request) -> WebhookList:
    return WebhookList(data=[_out(e) for e in registry.list_endpoints(database_url=_url(request))])


@router.get("/{webhook_id}", response_model=WebhookOut, summary="Retrieve a webhook endpoint")
def retrieve_webhook(webhook_id: str, request: Request) -> WebhookOut:
    return _out(_found(request, webhook_id))


@router.delete("/{webhook_id}", response_model=DeletedWebhook, summary="Delete a webhook endpoint and its deliveries")
def delete_webhook(webhook_id: str, request: Request) -> DeletedWebhook:
    endpoint = _found(request, webhook_id)
    registry.delete_endpoint(endpoint.id, database_url=_url(request))
    return DeletedWebhook(id=endpoint.id)


@router.post("/{webhook_id}/enable", response_model=WebhookOut, summary="Re-enable an endpoint (after a 410)")
def enable_webhook(webhook_id: str, request: Request) -> WebhookOut:
    endpoint = _found(request, webhook_id)
    try:
        ssrf.check_url(endpoint.url)
    except ssrf.UnsafeWebhookURLError as exc:
        raise _invalid("url", str(exc)) from None
    return _out(registry.enable_endpoint(endpoint.id, database_url=_url(request)))


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList, summary="An endpoint's deliveries and their attempts")
def list_deliveries(
    webhook_id: str, request: Request, limit: int = Query(20, ge=1, le=100), cursor: str | None = Query(None, max_length=300)
) -> DeliveryList:
    endpoint = _found(request, webhook_id)
    try:
        page = registry.list_messages(endpoint.id, limit=limit, cursor=cursor, database_url=_url(request))
    except registry.InvalidWebhookError as exc:
        raise _invalid(exc.field, exc.message) from None
    data = [
        DeliveryOut(**{**m.model_dump(exclude={"attempt_log"}), "attempt_log": [AttemptOut(**a.model_dump()) for a in m.attempt_log]})
        for m in page.data
    ]
    return DeliveryList(data=data, next_cursor=page.next_cursor)


def startup(app: FastAPI) -> None:
    """Watch run status changes in this process and send their events (one emitter per API process)."""
    emitter = EventEmitter(database_url=app.state.settings.database_url)
    app.state.webhook_emitter = emitter.start()


def shutdown(app: FastAPI) -> None:
    emitter = getattr(app.state, "webhook_emitter", None)
    if emitter is not None:
        emitter.stop()

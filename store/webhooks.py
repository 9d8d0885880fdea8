"""Webhook endpoints, the messages sent to them and every delivery attempt, in the runtime's database.

An endpoint is a URL subscribed to run events, with its own Standard Webhooks secret (`whsec_` + base64 of 32 random
bytes). The secret is returned once, when the endpoint is created, and stored only as a Fernet token written with
the runtime's keys (store/secrets.py): a listing never shows it, the delivery task decrypts it just before signing.

A message is one event for one endpoint (`webhook-id` = the message id, the same on every retry). It is inserted
once per (endpoint, run, event): the unique constraint makes emitting idempotent, so several API processes watching
the same runs, or one re-reading a window after a restart, never send an event twice. Its body is fixed when it is
inserted; every attempt signs the same bytes with a fresh timestamp.

The tables live beside the store's others but in their own `MetaData`, created on first use like them.
"""

from __future__ import annotations

import base64
import secrets as _random
import threading
import time
import uuid
import weakref
from datetime import datetime, timezone
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field

from store.database import store_engine
from store.errors import StoreError
from store.secrets import keyring

ENDPOINT_PREFIX = "whk_"
MESSAGE_PREFIX = "msg_"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_URL_CHARS = 2048
MAX_ENDPOINTS = 100
MAX_RESPONSE_CHARS = 1000

RUN_EVENTS = ("run.started", "run.completed", "run.failed", "run.canceled")
EventType = Literal["run.started", "run.completed", "run.failed", "run.canceled"]
MessageStatus = Literal["pending", "succeeded", "failed", "skipped"]

schema = sa.MetaData()

endpoints = sa.Table(
    "store_webhook_endpoints",
    schema,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.JSON, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),  # Fernet token of {"secret": "whsec_..."}
    sa.Column("description", sa.String(500), nullable=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("disabled_reason", sa.String(500), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

messages = sa.Table(
    "store_webhook_messages",
    schema,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("endpoint_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delivery_run_id", sa.String(64), nullable=True),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("next_attempt_at", sa.Float, nullable=True),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("endpoint_id", "run_id", "event_type", name="uq_store_webhook_messages_event"),
    sa.Index("ix_store_webhook_messages_endpoint_created", "endpoint_id", "created_at"),
)

attempts = sa.Table(
    "store_webhook_attempts",
    schema,
    sa.Column("message_id", sa.String(64), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("endpoint_id", sa.String(64), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("response", sa.Text, nullable=True),
)

cursors = sa.Table(
    "store_webhook_cursors",
    schema,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)

_ready: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()
_ready_lock = threading.Lock()


class WebhookError(StoreError):
    """Base of the webhook registry's errors."""


class WebhookNotFoundError(WebhookError, LookupError):
    """No webhook endpoint has this id."""


class InvalidWebhookError(WebhookError, ValueError):
    """An endpoint's URL, events or description cannot be accepted; `field` names which."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class Endpoint(BaseModel):
    """An endpoint as listings show it: never its secret."""

    id: str
    url: str
    events: list[str]
    description: str | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    created_at: datetime
    updated_at: datetime


class CreatedEndpoint(Endpoint):
    """What creating an endpoint returns: the only time its secret is shown."""

    secret: str = Field(repr=False)


class Attempt(BaseModel):
    attempt: int
    started_at: datetime
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    response: str | None = None


class Message(BaseModel):
    id: str
    endpoint_id: str
    event_type: str
    run_id: str
    status: str
    attempts: int
    delivery_run_id: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    created_at: datetime
    attempt_log: list[Attempt] = Field(default_factory=list)


class MessagePage(BaseModel):
    data: list[Message]
    next_cursor: str | None = None


def engine(database_url: str | None = None) -> sa.Engine:
    """The runtime database's engine, with the webhook tables created once per engine."""
    eng = store_engine(database_url)
    with _ready_lock:
        if eng not in _ready:
            try:
                schema.create_all(eng, checkfirst=True)
            except sa.exc.DBAPIError:  # another process created them between our check and our CREATE
                missing = set(schema.tables) - set(sa.inspect(eng).get_table_names())
                if missing:
                    raise
            _ready.add(eng)
    return eng


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode()


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        url=row.url,
        events=list(row.events or []),
        description=row.description,
        enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason,
        created_at=_dt(row.created_at),
        updated_at=_dt(row.updated_at),
    )


def check_events(events: Any) -> list[str]:
    """The subscribed events, deduplicated in a stable order; InvalidWebhookError naming an unknown one."""
    if not isinstance(events, list) or not events:
        raise InvalidWebhookError(f"events: a non-empty list of {', '.join(RUN_EVENTS)}", field="events")
    for index, event in enumerate(events):
        if event not in RUN_EVENTS:
            shown = event[:40] if isinstance(event, str) else type(event).__name__
            raise InvalidWebhookError(
                f"events[{index}]: unknown event {shown!r}; one of {', '.join(RUN_EVENTS)}", field=f"events[{index}]"
            )
    return [e for e in RUN_EVENTS if e in events]


def create_endpoint(
    url: str, events: list[str], *, description: str | None = None, database_url: str | None = None
) -> CreatedEndpoint:
    """Register an endpoint. The URL must already have passed the caller's address check (api.webhooks.ssrf):
    the store only keeps it. Returns the endpoint with its secret, which is never shown again."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
        raise InvalidWebhookError(f"url: 1 to {MAX_URL_CHARS} characters", field="url")
    chosen = check_events(events)
    if description is not None and (not isinstance(description, str) or len(description) > 500):
        raise InvalidWebhookError("description: at most 500 characters", field="description")
    eng = engine(database_url)
    ring = keyring(database_url)
    secret = new_secret()
    now = time.time()
    row = {
        "id": ENDPOINT_PREFIX + uuid.uuid4().hex[:20],
        "url": url,
        "events": chosen,
        "secret": ring.encrypt_json({"secret": secret}),
        "description": description,
        "enabled": True,
        "disabled_reason": None,
        "created_at": now,
        "updated_at": now,
    }
    with eng.begin() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(endpoints)).scalar_one()
        if count >= MAX_ENDPOINTS:
            raise InvalidWebhookError(f"url: at most {MAX_ENDPOINTS} webhook endpoints; delete one first", field="url")
        conn.execute(sa.insert(endpoints).values(**row))
    return CreatedEndpoint(**_endpoint(_Obj(row)).model_dump(), secret=secret)


class _Obj:
    """A dict read with attribute access, like a result row."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.__dict__.update(data)


def list_endpoints(*, database_url: str | None = None) -> list[Endpoint]:
    with engine(database_url).connect() as conn:
        rows = conn.execute(sa.select(endpoints).order_by(endpoints.c.created_at, endpoints.c.id)).all()
    return [_endpoint(r) for r in rows]


def get_endpoint(endpoint_id: str, *, database_url: str | None = None) -> Endpoint:
    row = _endpoint_row(endpoint_id, database_url)
    if row is None:
        raise WebhookNotFoundError(f"no webhook endpoint with id {_shown(endpoint_id)}")
    return _endpoint(row)


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:64] + "…" if len(text) > 64 else text)


def _endpoint_row(endpoint_id: Any, database_url: str | None) -> Any:
    if not isinstance(endpoint_id, str) or not endpoint_id.startswith(ENDPOINT_PREFIX) or len(endpoint_id) > 64:
        return None
    with engine(database_url).connect() as conn:
        return conn.execute(sa.select(endpoints).where(endpoints.c.id == endpoint_id)).first()


def endpoint_secret(endpoint_id: str, *, database_url: str | None = None) -> str:
    """The endpoint's `whsec_` secret, decrypted: only the delivery task asks for it, to sign."""
    row = _endpoint_row(endpoint_id, database_url)
    if row is None:
        raise WebhookNotFoundError(f"no webhook endpoint with id {_shown(endpoint_id)}")
    plain = keyring(database_url).decrypt_json(row.secret, what=f"the secret of webhook endpoint {row.id}")
    return str(plain["secret"])


def delete_endpoint(endpoint_id: str, *, database_url: str | None = None) -> Endpoint:
    """Remove an endpoint with its messages and attempts; deliveries still scheduled find it gone and stop."""
    found = get_endpoint(endpoint_id, database_url=database_url)
    with engine(database_url).begin() as conn:
        conn.execute(sa.delete(attempts).where(attempts.c.endpoint_id == found.id))
        conn.execute(sa.delete(messages).where(messages.c.endpoint_id == found.id))
        conn.execute(sa.delete(endpoints).where(endpoints.c.id == found.id))
    return found


def disable_endpoint(endpoint_id: str, reason: str, *, database_url: str | None = None) -> None:
    with engine(database_url).begin() as conn:
        conn.execute(
            sa.update(endpoints)
            .where(endpoints.c.id == endpoint_id)
            .values(enabled=False, disabled_reason=reason[:500], updated_at=time.time())
        )


def enable_endpoint(endpoint_id: str, *, database_url: str | None = None) -> Endpoint:
    get_endpoint(endpoint_id, database_url=database_url)
    with engine(database_url).begin() as conn:
        conn.execute(
            sa.update(endpoints).where(endpoints.c.id == endpoint_id).values(enabled=True, disabled_reason=None, updated_at=time.time())
        )
    return get_endpoint(endpoint_id, database_url=database_url)


# -- messages ------------------------------------------------------------------------------------------------------
def add_message(
    endpoint_id: str, event_type: str, run_id: str, body: str, *, database_url: str | None = None
) -> str | None:
    """Insert the message for this (endpoint, run, event) and return its id; None when it exists already."""
    message_id = MESSAGE_PREFIX + uuid.uuid4().hex[:24]
    try:
        with engine(database_url).begin() as conn:
            conn.execute(
                sa.insert(messages).values(
                    id=message_id,
                    endpoint_id=endpoint_id,
                    event_type=event_type,
                    run_id=run_id,
                    body=body,
                    status="pending",
                    attempts=0,
                    created_at=time.time(),
                )
            )
    except sa.exc.IntegrityError:
        return None
    return message_id


def message_row(message_id: str, *, database_url: str | None = None) -> Any:
    with engine(database_url).connect() as conn:
        return conn.execute(sa.select(messages).where(messages.c.id == message_id)).first()


def set_delivery_run(message_id: str, run_id: str, *, database_url: str | None = None) -> None:
    with engine(database_url).begin() as conn:
        conn.execute(sa.update(messages).where(messages.c.id == message_id).values(delivery_run_id=run_id))


def undispatched_messages(older_than: float, *, limit: int = 100, database_url: str | None = None) -> list[str]:
    """Messages whose delivery run was never recorded (the emitting process stopped in between)."""
    with engine(database_url).connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.id)
            .where(messages.c.delivery_run_id.is_(None), messages.c.status == "pending", messages.c.created_at < older_than)
            .order_by(messages.c.created_at)
            .limit(limit)
        ).all()
    return [r[0] for r in rows]


def record_attempt(
    message_id: str,
    endpoint_id: str,
    attempt: int,
    *,
    started_at: float,
    duration_ms: float,
    status_code: int | None,
    error: str | None,
    response: str | None,
    outcome: MessageStatus,
    next_attempt_at: float | None = None,
    database_url: str | None = None,
) -> None:
    """One attempt and the message's state after it, in one transaction (repeating it changes nothing)."""
    with engine(database_url).begin() as conn:
        exists = conn.execute(
            sa.select(attempts.c.attempt).where(attempts.c.message_id == message_id, attempts.c.attempt == attempt)
        ).first()
        if exists is None:
            conn.execute(
                sa.insert(attempts).values(
                    message_id=message_id,
                    attempt=attempt,
                    endpoint_id=endpoint_id,
                    started_at=started_at,
                    duration_ms=duration_ms,
                    status_code=status_code,
                    error=error[:MAX_RESPONSE_CHARS] if error else None,
                    response=response[:MAX_RESPONSE_CHARS] if response else None,
                )
            )
        conn.execute(
            sa.update(messages)
            .where(messages.c.id == message_id)
            .values(
                status=outcome,
                attempts=sa.func.max(messages.c.attempts, attempt) if conn.dialect.name == "sqlite" else sa.func.greatest(messages.c.attempts, attempt),
                last_status_code=status_code,
                last_error=error[:MAX_RESPONSE_CHARS] if error else None,
                next_attempt_at=next_attempt_at,
                delivered_at=started_at if outcome == "succeeded" else None,
            )
        )


def set_message_state(
    message_id: str, status: MessageStatus, *, next_attempt_at: float | None = None, database_url: str | None = None
) -> None:
    with engine(database_url).begin() as conn:
        conn.execute(sa.update(messages).where(messages.c.id == message_id).values(status=status, next_attempt_at=next_attempt_at))


def list_messages(
    endpoint_id: str, *, limit: int = 50, cursor: str | None = None, database_url: str | None = None
) -> MessagePage:
    """An endpoint's messages, newest first, each with its attempts; `cursor` is the last page's next_cursor."""
    get_endpoint(endpoint_id, database_url=database_url)
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise InvalidWebhookError("limit: between 1 and 100", field="limit")
    query = sa.select(messages).where(messages.c.endpoint_id == endpoint_id)
    if cursor:
        created, last_id = _decode_cursor(cursor)
        query = query.where(
            sa.or_(messages.c.created_at < created, sa.and_(messages.c.created_at == created, messages.c.id < last_id))
        )
    query = query.order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(limit + 1)
    with engine(database_url).connect() as conn:
        rows = conn.execute(query).all()
        page, more = rows[:limit], len(rows) > limit
        ids = [r.id for r in page]
        tried = conn.execute(
            sa.select(attempts).where(attempts.c.message_id.in_(ids)).order_by(attempts.c.message_id, attempts.c.attempt)
        ).all() if ids else []
    by_message: dict[str, list[Attempt]] = {}
    for a in tried:
        by_message.setdefault(a.message_id, []).append(
            Attempt(
                attempt=a.attempt,
                started_at=_dt(a.started_at),
                duration_ms=a.duration_ms,
                status_code=a.status_code,
                error=a.error,
                response=a.response,
            )
        )
    data = [
        Message(
            id=r.id,
            endpoint_id=r.endpoint_id,
            event_type=r.event_type,
            run_id=r.run_id,
            status=r.status,
            attempts=r.attempts,
            delivery_run_id=r.delivery_run_id,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            next_attempt_at=_dt(r.next_attempt_at),
            delivered_at=_dt(r.delivered_at),
            created_at=_dt(r.created_at),
            attempt_log=by_message.get(r.id, []),
        )
        for r in page
    ]
    next_cursor = _encode_cursor(page[-1].created_at, page[-1].id) if more and page else None
    return MessagePage(data=data, next_cursor=next_cursor)


def _encode_cursor(created: float, message_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created!r}|{message_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        created, message_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        if not message_id.startswith(MESSAGE_PREFIX) or len(message_id) > 64:
            raise ValueError
        return float(created), message_id
    except Exception:
        raise InvalidWebhookError("cursor: not a cursor this listing returned", field="cursor") from None


# -- the emitter's watermark -----------------------------------------------------------------------------------------
def read_cursor(name: str, *, database_url: str | None = None) -> float | None:
    with engine(database_url).connect() as conn:
        row = conn.execute(sa.select(cursors.c.value).where(cursors.c.name == name)).first()
    return float(row[0]) if row is not None else None


def write_cursor(name: str, value: float, *, database_url: str | None = None) -> None:
    """Move the watermark forward (never back: two processes may write it)."""
    with engine(database_url).begin() as conn:
        current = conn.execute(sa.select(cursors.c.value).where(cursors.c.name == name)).first()
        if current is None:
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(cursors).values(name=name, value=value))
                return
            except sa.exc.IntegrityError:
                pass
        conn.execute(sa.update(cursors).where(cursors.c.name == name, cursors.c.value < value).values(value=value))

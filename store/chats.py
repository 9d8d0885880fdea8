"""Chats: the conversation a user has with the analyst agent about one data source, one turn per run.

    from store import chats
    chat = chats.ensure_chat("chat_42", data_source_id=source.id, title="Marketing questions")
    chats.add_turn("chat_42", run_id=ctx.run_id, question="...", answer="...", sql_queries=[...], metric_ids=[...])
    chats.history("chat_42", limit=10)          # the last turns, oldest first: the next run's context

A chat id is chosen by the caller (the UI, `taskpack ask --chat`), so the first run of a chat creates it
(`ensure_chat` is insert-or-return, race-safe). A turn is keyed by its run: adding the turn of a run that has one
already returns the stored turn, so a resumed run never records its answer twice. Turn positions are 1, 2, 3, ... in
the order runs finished.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from store.agent_tables import agent_engine, chat_turns, chats, checked_text, insert_unless_present
from store.errors import StoreError

CHAT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}")
MAX_QUESTION = 20_000
MAX_ANSWER = 100_000
MAX_TITLE = 200
POSITION_RACE_RETRIES = 20


class ChatNotFoundError(StoreError, LookupError):
    """No chat has this id."""


class InvalidChatError(StoreError, ValueError):
    """A chat id, title, question or answer is malformed, or the chat belongs to another data source."""


class ChatTurn(BaseModel):
    model_config = ConfigDict(frozen=True)

    chat_id: str
    position: int
    run_id: str | None = None
    question: str
    answer: str | None = None
    clarifying_question: str | None = None
    sql_queries: list[str] = Field(default_factory=list)
    metric_ids: list[str] = Field(default_factory=list)
    dashboard_ids: list[str] = Field(default_factory=list)
    created_at: datetime


class Chat(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    data_source_id: str
    title: str | None = None
    created_at: datetime
    updated_at: datetime


def check_chat_id(chat_id: Any) -> str:
    """The chat id if it is 1 to 200 letters, digits, '_', '.', ':' or '-' (it is also the run's concurrency key)."""
    if not isinstance(chat_id, str) or not CHAT_ID_PATTERN.fullmatch(chat_id):
        raise InvalidChatError(
            "invalid chat id: 1 to 200 letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
        )
    return chat_id


def ensure_chat(
    chat_id: str, *, data_source_id: str, title: str | None = None, database_url: str | None = None
) -> Chat:
    """The chat with this id, created on first use. A chat stays on its data source: InvalidChatError when it
    belongs to another."""
    check_chat_id(chat_id)
    now = time.time()
    row = {
        "id": chat_id,
        "data_source_id": data_source_id,
        "title": _text(title, "title", MAX_TITLE) if title is not None else None,
        "created_at": now,
        "updated_at": now,
    }
    with agent_engine(database_url).begin() as conn:
        insert_unless_present(conn, chats, row)
        chat = _chat(conn.execute(sa.select(chats).where(chats.c.id == chat_id)).one())
    if chat.data_source_id != data_source_id:
        raise InvalidChatError(f"chat {chat_id!r} belongs to data source {chat.data_source_id!r}, not {data_source_id!r}")
    return chat


def get_chat(chat_id: str, *, database_url: str | None = None) -> Chat:
    with agent_engine(database_url).connect() as conn:
        row = conn.execute(sa.select(chats).where(chats.c.id == chat_id)).first()
    if row is None:
        raise ChatNotFoundError(f"no chat with id {chat_id!r}")
    return _chat(row)


def list_chats(*, data_source_id: str | None = None, limit: int = 100, database_url: str | None = None) -> list[Chat]:
    """Chats, the most recently active first."""
    query = sa.select(chats)
    if data_source_id is not None:
        query = query.where(chats.c.data_source_id == data_source_id)
    query = query.order_by(chats.c.updated_at.desc(), chats.c.id).limit(limit)
    with agent_engine(database_url).connect() as conn:
        return [_chat(r) for r in conn.execute(query).all()]


def add_turn(
    chat_id: str,
    *,
    run_id: str | None,
    question: str,
    answer: str | None = None,
    clarifying_question: str | None = None,
    sql_queries: list[str] | None = None,
    metric_ids: list[str] | None = None,
    dashboard_ids: list[str] | None = None,
    database_url: str | None = None,
) -> ChatTurn:
    """Append a turn to an existing chat (ChatNotFoundError otherwise); the turn of a run already recorded is
    returned as stored."""
    values = {
        "run_id": run_id,
        "question": _text(question, "question", MAX_QUESTION, required=True),
        "answer": _text(answer, "answer", MAX_ANSWER) if answer is not None else None,
        "clarifying_question": _text(clarifying_question, "clarifying_question", MAX_QUESTION)
        if clarifying_question is not None
        else None,
        "sql_queries": _strings(sql_queries, "sql_queries"),
        "metric_ids": _strings(metric_ids, "metric_ids"),
        "dashboard_ids": _strings(dashboard_ids, "dashboard_ids"),
    }
    engine = agent_engine(database_url)
    for _ in range(POSITION_RACE_RETRIES):
        with engine.begin() as conn:
            if conn.execute(sa.select(chats.c.id).where(chats.c.id == chat_id)).first() is None:
                raise ChatNotFoundError(f"no chat with id {chat_id!r}")
            if run_id is not None:
                stored = conn.execute(sa.select(chat_turns).where(chat_turns.c.run_id == run_id)).first()
                if stored is not None:
                    return _turn(stored)
            last = conn.execute(sa.select(sa.func.max(chat_turns.c.position)).where(chat_turns.c.chat_id == chat_id)).scalar()
            now = time.time()
            row = {"chat_id": chat_id, "position": (last or 0) + 1, **values, "created_at": now}
            if insert_unless_present(conn, chat_turns, row):
                conn.execute(sa.update(chats).where(chats.c.id == chat_id).values(updated_at=now))
                return ChatTurn.model_validate({**row, "created_at": datetime.fromtimestamp(now, timezone.utc)})
        # another turn took this position, or the same run's turn was written meanwhile: look again
    raise StoreError(f"chat {chat_id!r} is being written by too many runs at once; try again")


def history(chat_id: str, *, limit: int = 20, database_url: str | None = None) -> list[ChatTurn]:
    """The chat's last `limit` turns, oldest first (an unknown chat has none)."""
    with agent_engine(database_url).connect() as conn:
        rows = conn.execute(
            sa.select(chat_turns)
            .where(chat_turns.c.chat_id == chat_id)
            .order_by(chat_turns.c.position.desc())
            .limit(max(0, limit))
        ).all()
    return [_turn(r) for r in reversed(rows)]


def turn_for_run(run_id: str, *, database_url: str | None = None) -> ChatTurn | None:
    with agent_engine(database_url).connect() as conn:
        row = conn.execute(sa.select(chat_turns).where(chat_turns.c.run_id == run_id)).first()
    return _turn(row) if row is not None else None


# -- internals ---------------------------------------------------------------------------------------------------------
def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    return checked_text(value, field, limit, InvalidChatError, required=required)


def _strings(values: list[str] | None, field: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise InvalidChatError(f"{field} must be a list of text")
    return [_text(v, field, 100_000) for v in values]


def _chat(row: Any) -> Chat:
    data = dict(row._mapping)
    return Chat(
        id=data["id"],
        data_source_id=data["data_source_id"],
        title=data["title"],
        created_at=datetime.fromtimestamp(data["created_at"], timezone.utc),
        updated_at=datetime.fromtimestamp(data["updated_at"], timezone.utc),
    )


def _turn(row: Any) -> ChatTurn:
    data = dict(row._mapping)
    data["created_at"] = datetime.fromtimestamp(data["created_at"], timezone.utc)
    return ChatTurn.model_validate(data)

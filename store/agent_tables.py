"""The analyst agent's tables: metric versions, dashboard versions, chats and their turns.

They live beside the store's other tables (same database, same `store_` prefix) but on their own `MetaData`, created
by `agent_engine()` the first time an agent module touches an engine, so the registry's tables and these never wait
on each other's imports.

Versioning: a metric (dashboard) is the set of rows sharing `metric_id` (`dashboard_id`); every create or modify adds
the next `version`; a listing shows each id's highest version.

Idempotency: an agent run may be killed after a tool call stored its row and before the run recorded that the call
finished; the resumed run calls the same tool with the same `tool_call_id` again. `(run_id, tool_call_id)` is unique,
and rows are written with INSERT ... ON CONFLICT DO NOTHING and read back by that pair, so the second call gets the
first call's row and never writes a second one, even when both calls race on PostgreSQL or SQLite. Rows written
without a run (a user editing a metric) have NULLs there, which never conflict.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from store.database import store_engine
from store.tables import PREFIX

agent_schema = sa.MetaData()

metric_versions = sa.Table(
    f"{PREFIX}metric_versions",
    agent_schema,
    sa.Column("metric_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("sql", sa.Text, nullable=False),
    sa.Column("chart", sa.JSON, nullable=False),
    sa.Column("time_frame", sa.String(200), nullable=True),
    sa.Column("columns", sa.JSON, nullable=True),  # result column names when the SQL was checked
    sa.Column("data_source_id", sa.String(200), nullable=False),
    sa.Column("chat_id", sa.String(200), nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("tool_call_id", sa.String(128), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("run_id", "tool_call_id", name=f"uq_{PREFIX}metric_versions_call"),
    sa.Index(f"ix_{PREFIX}metric_versions_source", "data_source_id", "created_at"),
    sa.Index(f"ix_{PREFIX}metric_versions_chat", "chat_id"),
)

dashboard_versions = sa.Table(
    f"{PREFIX}dashboard_versions",
    agent_schema,
    sa.Column("dashboard_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("metric_ids", sa.JSON, nullable=False),
    sa.Column("layout", sa.JSON, nullable=False),
    sa.Column("data_source_id", sa.String(200), nullable=False),
    sa.Column("chat_id", sa.String(200), nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("tool_call_id", sa.String(128), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("run_id", "tool_call_id", name=f"uq_{PREFIX}dashboard_versions_call"),
    sa.Index(f"ix_{PREFIX}dashboard_versions_source", "data_source_id", "created_at"),
)

chats = sa.Table(
    f"{PREFIX}chats",
    agent_schema,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("data_source_id", sa.String(200), nullable=False),
    sa.Column("title", sa.String(200), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index(f"ix_{PREFIX}chats_source", "data_source_id", "updated_at"),
)

chat_turns = sa.Table(
    f"{PREFIX}chat_turns",
    agent_schema,
    sa.Column("chat_id", sa.String(200), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(64), nullable=True, unique=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=True),
    sa.Column("clarifying_question", sa.Text, nullable=True),
    sa.Column("sql_queries", sa.JSON, nullable=False),
    sa.Column("metric_ids", sa.JSON, nullable=False),
    sa.Column("dashboard_ids", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

_ready: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()
_ready_lock = threading.Lock()


def agent_engine(database_url: str | None = None) -> sa.Engine:
    """The store's engine with the agent's tables created (once per engine; safe when processes race to create)."""
    engine = store_engine(database_url)
    with _ready_lock:
        if engine not in _ready:
            try:
                agent_schema.create_all(engine, checkfirst=True)
            except sa.exc.DBAPIError:
                missing = set(agent_schema.tables) - set(sa.inspect(engine).get_table_names())
                if missing:
                    raise
            _ready.add(engine)
    return engine


def checked_text(value: Any, field: str, limit: int, error: type[Exception], *, required: bool = False) -> str:
    """`value` as stripped text within `limit` characters, or `error` naming `field` (the agent's stores share the rule)."""
    if not isinstance(value, str):
        raise error(f"{field} must be text, got {type(value).__name__}")
    if "\x00" in value:
        raise error(f"{field} must not contain NUL characters")
    value = value.strip()
    if required and not value:
        raise error(f"{field} must not be empty")
    if len(value) > limit:
        raise error(f"{field} is {len(value)} characters long; at most {limit}")
    return value


def check_tool_call(run_id: str | None, tool_call_id: str | None, error: type[Exception]) -> None:
    """A row written by an agent run names both the run and the tool call (its idempotency key), or neither."""
    if (run_id is None) != (tool_call_id is None):
        raise error("run_id and tool_call_id go together: give both or neither")
    if tool_call_id is not None and not (0 < len(tool_call_id) <= 128):
        raise error("tool_call_id must be 1 to 128 characters")


def insert_unless_present(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """INSERT the row unless it would break a unique constraint; True when this call wrote it.

    ON CONFLICT DO NOTHING without a target covers every unique constraint of the table on both databases, and on
    PostgreSQL waits for a concurrent transaction inserting the same key, so the loser sees the winner's row on its
    next statement (READ COMMITTED) instead of failing. RETURNING yields the row only when it was written.
    """
    name = conn.dialect.name
    key = list(table.primary_key.columns)[0]
    if name == "postgresql":
        statement: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    elif name == "sqlite":
        statement = sqlite.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    else:  # pragma: no cover - the runtime database is SQLite or PostgreSQL
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(table).values(**values))
            return True
        except sa.exc.IntegrityError:
            return False
    # RETURNING, not rowcount: the runtime's PostgreSQL driver reports -1 for this statement
    return conn.execute(statement).first() is not None


def delete_source_data(data_source_id: str, *, database_url: str | None = None) -> dict[str, int]:
    """Delete every metric, dashboard and chat (with its turns) of a data source; how many of each, by id.

    Called when a source is removed: its saved SQL names tables of a warehouse the platform no longer knows, and a
    chat left behind would resume against a source id that no longer resolves.
    """
    engine = agent_engine(database_url)
    with engine.begin() as conn:
        counts = {
            "metrics": conn.execute(
                sa.select(sa.func.count(sa.distinct(metric_versions.c.metric_id))).where(metric_versions.c.data_source_id == data_source_id)
            ).scalar_one(),
            "dashboards": conn.execute(
                sa.select(sa.func.count(sa.distinct(dashboard_versions.c.dashboard_id))).where(dashboard_versions.c.data_source_id == data_source_id)
            ).scalar_one(),
            "chats": conn.execute(sa.select(sa.func.count()).select_from(chats).where(chats.c.data_source_id == data_source_id)).scalar_one(),
        }
        source_chats = sa.select(chats.c.id).where(chats.c.data_source_id == data_source_id)
        conn.execute(sa.delete(chat_turns).where(chat_turns.c.chat_id.in_(source_chats)))
        conn.execute(sa.delete(chats).where(chats.c.data_source_id == data_source_id))
        conn.execute(sa.delete(dashboard_versions).where(dashboard_versions.c.data_source_id == data_source_id))
        conn.execute(sa.delete(metric_versions).where(metric_versions.c.data_source_id == data_source_id))
    return counts

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

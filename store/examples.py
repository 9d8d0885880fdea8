"""Verified question -> SQL pairs per data source: the SQL writer's few-shot examples (Vanna's "training data").

Pairs come from a seed (e.g. a team's known-good queries) and grow from metrics users accept. One pair is stored once
per source: adding it again (a resumed run, a second accept) returns the existing row. The table lives in this module
and is created on first use, so the store's other tables do not depend on it.

    from store import examples
    examples.add_example(source_id, "Revenue by channel last quarter?", "SELECT ...", origin="metric")
    pairs = examples.list_examples(source_id)          # -> [VerifiedExample]
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel

from store.database import store_engine
from store.tables import PREFIX, schema

Origin = Literal["seed", "metric", "user"]
MAX_QUESTION_CHARS = 2000
MAX_SQL_CHARS = 20000

sql_examples = sa.Table(
    f"{PREFIX}sql_examples",
    schema,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("data_source_id", sa.String(200), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("sql", sa.Text, nullable=False),
    sa.Column("question_key", sa.String(64), nullable=False),  # what makes a pair unique, hashed: fits any index
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("metric_id", sa.String(64), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("data_source_id", "question_key", name=f"uq_{PREFIX}sql_examples_pair"),
)

_created: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()
_lock = threading.Lock()


class ExampleInputError(ValueError):
    """A pair that cannot be stored (empty or oversized question or SQL, unknown origin)."""


class VerifiedExample(BaseModel):
    id: str
    data_source_id: str
    question: str
    sql: str
    origin: Origin
    metric_id: str | None = None
    created_at: float


def _engine(database_url: str | None) -> sa.Engine:
    engine = store_engine(database_url)
    with _lock:
        if engine not in _created:
            sql_examples.create(engine, checkfirst=True)
            _created.add(engine)
    return engine


def _key(question: str, sql: str) -> str:
    import hashlib

    normal = " ".join(question.lower().split()) + "\x00" + " ".join(sql.split())
    return hashlib.sha256(normal.encode()).hexdigest()


def add_example(
    data_source_id: str,
    question: str,
    sql: str,
    *,
    origin: Origin = "user",
    metric_id: str | None = None,
    database_url: str | None = None,
) -> VerifiedExample:
    """Store a verified pair for a source; the same pair again returns the stored row (race-safe)."""
    question, sql = (question or "").strip(), (sql or "").strip()
    if not question or not sql:
        raise ExampleInputError("a verified example needs a non-empty question and SQL")
    if len(question) > MAX_QUESTION_CHARS or len(sql) > MAX_SQL_CHARS:
        raise ExampleInputError(f"question (max {MAX_QUESTION_CHARS} chars) or SQL (max {MAX_SQL_CHARS}) too long")
    if origin not in ("seed", "metric", "user"):
        raise ExampleInputError(f"origin must be seed, metric or user, not {origin!r}")
    engine = _engine(database_url)
    key = _key(question, sql)
    row = dict(
        id=f"ex_{uuid.uuid4().hex}",
        data_source_id=data_source_id,
        question=question,
        sql=sql,
        question_key=key,
        origin=origin,
        metric_id=metric_id,
        created_at=time.time(),
    )
    t = sql_examples
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(t).values(**row))
    except sa.exc.IntegrityError:
        pass  # stored already (maybe by a concurrent caller): return that row
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(t).where(t.c.data_source_id == data_source_id, t.c.question_key == key)
        ).mappings().one()
    return VerifiedExample.model_validate(dict(found))


def list_examples(data_source_id: str, *, limit: int = 1000, database_url: str | None = None) -> list[VerifiedExample]:
    """A source's verified pairs, oldest first."""
    t = sql_examples
    with _engine(database_url).connect() as conn:
        rows = conn.execute(
            sa.select(t).where(t.c.data_source_id == data_source_id).order_by(t.c.created_at, t.c.id).limit(limit)
        ).mappings()
        return [VerifiedExample.model_validate(dict(r)) for r in rows]


def delete_example(example_id: str, *, database_url: str | None = None) -> bool:
    t = sql_examples
    with _engine(database_url).begin() as conn:
        return conn.execute(sa.delete(t).where(t.c.id == example_id)).rowcount > 0


def delete_source_examples(data_source_id: str, *, database_url: str | None = None) -> int:
    """Delete every verified pair of a source (when the source is removed); how many there were."""
    t = sql_examples
    with _engine(database_url).begin() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.data_source_id == data_source_id)).scalar_one()
        conn.execute(sa.delete(t).where(t.c.data_source_id == data_source_id))
    return int(count)

"""Serialized search indexes, one per catalog snapshot, kept in the store beside the snapshots they index.

The analyst agent's catalog search builds an index once per snapshot (seconds to minutes on a big catalog) and then
answers questions from it in milliseconds. Kept here, the index survives worker restarts and is shared by every
worker of the runtime database, so a snapshot is indexed once, not once per process.

The store does not read the bytes (their format belongs to `tasks.analyst_agent.search.serialize`); it only keeps
them by snapshot id, which is the contract `tasks.analyst_agent.search.IndexCache` asks for:

- an entry exists only for a snapshot that exists: `put` for an unknown snapshot raises SnapshotNotFoundError, and
  deleting a snapshot (pruning, removing its source) deletes its index in the same transaction;
- the table is size-bounded: after a put, the least recently used entries go until the total is within
  `max_bytes`; an entry larger than the whole budget is not kept (`put` returns False) and is rebuilt when needed.

Races: a put and a delete of the same snapshot on PostgreSQL are ordered by a share lock on the snapshot row (the
delete removes the snapshot first, then its index, so it waits for the put and then sees its row); on SQLite the
put is one INSERT ... SELECT and writers are serialized. Two puts of the same snapshot racing: one wins, the other
is a no-op (both hold an index of the same snapshot).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Iterable

import sqlalchemy as sa

from store.database import store_engine
from store.errors import SnapshotNotFoundError
from store.tables import PREFIX
from store.tables import snapshots as snapshots_table

#: default budget for every cached index together; TASKPACK_SEARCH_INDEX_CACHE_MB overrides it
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024
ENV_MAX_MB = "TASKPACK_SEARCH_INDEX_CACHE_MB"
#: a read refreshes an entry's `used_at` (its LRU rank) at most this often, so reading is mostly a read
TOUCH_INTERVAL_S = 60.0

_schema = sa.MetaData()
search_indexes = sa.Table(
    f"{PREFIX}search_indexes",
    _schema,
    sa.Column("snapshot_id", sa.String(64), primary_key=True),
    sa.Column("data_source_id", sa.String(200), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float, nullable=False),
    sa.Index(f"ix_{PREFIX}search_indexes_used", "used_at"),
)

_ready: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()
_ready_lock = threading.Lock()


def ensure_index_table(engine: sa.Engine) -> None:
    """Create the table once per engine; safe when several processes race to create it."""
    with _ready_lock:
        if engine in _ready:
            return
        try:
            _schema.create_all(engine, checkfirst=True)
        except sa.exc.DBAPIError:
            if search_indexes.name not in sa.inspect(engine).get_table_names():
                raise
        _ready.add(engine)


def index_engine(database_url: str | None = None) -> sa.Engine:
    engine = store_engine(database_url)
    ensure_index_table(engine)
    return engine


def delete_indexes(conn: sa.Connection, snapshot_ids: Iterable[str] = (), *, data_source_id: str | None = None) -> int:
    """Delete the indexes of these snapshots (or of every snapshot of `data_source_id`) inside the caller's
    transaction, the one deleting the snapshots (its engine from `index_engine`, so the table exists: creating it
    from inside a SQLite write transaction would wait for that very transaction)."""
    ids = list(snapshot_ids)
    t = search_indexes
    conditions = ([t.c.snapshot_id.in_(ids)] if ids else []) + ([t.c.data_source_id == data_source_id] if data_source_id else [])
    if not conditions:
        return 0
    return conn.execute(sa.delete(t).where(sa.or_(*conditions))).rowcount


def default_max_bytes() -> int:
    raw = os.environ.get(ENV_MAX_MB)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_BYTES
    try:
        megabytes = float(raw)
    except ValueError:
        raise ValueError(f"{ENV_MAX_MB} must be a number of megabytes, got {raw[:40]!r}") from None
    if not 0 < megabytes <= 1024 * 1024:
        raise ValueError(f"{ENV_MAX_MB} must be between 0 and 1048576 megabytes")
    return int(megabytes * 1024 * 1024)


class StoreIndexCache:
    """`IndexCache` on the store's table: get / put serialized indexes by snapshot id (see the module docstring)."""

    def __init__(self, *, database_url: str | None = None, max_bytes: int | None = None) -> None:
        self.max_bytes = default_max_bytes() if max_bytes is None else int(max_bytes)
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self._database_url = database_url
        self._touched: dict[str, float] = {}

    def get(self, snapshot_id: str) -> bytes | None:
        t = search_indexes
        engine = index_engine(self._database_url)
        with engine.connect() as conn:
            row = conn.execute(sa.select(t.c.data).where(t.c.snapshot_id == snapshot_id)).first()
        if row is None:
            return None
        now = time.time()
        if now - self._touched.get(snapshot_id, 0.0) >= TOUCH_INTERVAL_S:
            self._touched[snapshot_id] = now
            with engine.begin() as conn:
                conn.execute(sa.update(t).where(t.c.snapshot_id == snapshot_id).values(used_at=now))
        return bytes(row.data)

    def put(self, snapshot_id: str, data: bytes) -> bool:
        """Keep `data` as the index of `snapshot_id` (replacing any); False when it alone exceeds the budget.

        SnapshotNotFoundError when no snapshot has this id (an index of a deleted snapshot is never kept)."""
        data = bytes(data)
        if len(data) > self.max_bytes:
            return False
        t, s = search_indexes, snapshots_table
        engine = index_engine(self._database_url)
        now = time.time()
        source = sa.select(
            s.c.id, s.c.data_source_id, sa.literal(len(data), sa.BigInteger), sa.literal(data, sa.LargeBinary),
            sa.literal(now, sa.Float), sa.literal(now, sa.Float),
        ).where(s.c.id == snapshot_id)
        if engine.dialect.name == "postgresql":
            source = source.with_for_update(read=True)  # a concurrent delete of the snapshot waits for this put
        try:
            with engine.begin() as conn:
                conn.execute(sa.delete(t).where(t.c.snapshot_id == snapshot_id))
                conn.execute(
                    sa.insert(t).from_select(
                        ["snapshot_id", "data_source_id", "size_bytes", "data", "created_at", "used_at"], source
                    )
                )
                # not the rowcount: the PostgreSQL driver reports -1 for INSERT ... SELECT ... FOR SHARE
                if conn.execute(sa.select(t.c.snapshot_id).where(t.c.snapshot_id == snapshot_id)).first() is None:
                    raise SnapshotNotFoundError(f"no snapshot with id {snapshot_id!r}: its index is not kept")
                self._evict(conn, keep=snapshot_id)
        except sa.exc.IntegrityError:
            return True  # another process put this snapshot's index at the same moment: it is kept
        self._touched[snapshot_id] = now
        return True

    def _evict(self, conn: sa.Connection, *, keep: str) -> None:
        """Delete the least recently used entries (never `keep`) until the total fits in max_bytes."""
        t = search_indexes
        total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(t.c.size_bytes), 0))).scalar_one()
        if total <= self.max_bytes:
            return
        doomed: list[str] = []
        for snapshot_id, size in conn.execute(
            sa.select(t.c.snapshot_id, t.c.size_bytes).where(t.c.snapshot_id != keep).order_by(t.c.used_at, t.c.snapshot_id)
        ):
            if total <= self.max_bytes:
                break
            doomed.append(snapshot_id)
            total -= size
        if doomed:
            conn.execute(sa.delete(t).where(t.c.snapshot_id.in_(doomed)))

    def entries(self) -> list[tuple[str, int]]:
        """(snapshot id, size in bytes) of every cached index, least recently used first."""
        t = search_indexes
        with index_engine(self._database_url).connect() as conn:
            return [(r[0], int(r[1])) for r in conn.execute(sa.select(t.c.snapshot_id, t.c.size_bytes).order_by(t.c.used_at, t.c.snapshot_id))]

    def total_bytes(self) -> int:
        return sum(size for _, size in self.entries())

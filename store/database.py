"""The store's way into the runtime's database: the public `runtime.database_engine`, plus our tables."""

from __future__ import annotations

import sqlalchemy as sa

import runtime
from store.tables import ensure_tables


def store_engine(database_url: str | None = None) -> sa.Engine:
    """The runtime database's engine (the running Worker's, else the configured one), with the store's tables."""
    engine = runtime.database_engine(database_url)
    ensure_tables(engine)
    return engine

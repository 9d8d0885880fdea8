"""The store's tables, beside the runtime's in the same database (SQLite file or PostgreSQL), created idempotently.

`store_data_sources` holds each registered source with its credentials as one Fernet token (see secrets.py): the
JSON of the credentials never reaches the database in clear. Filters and the profile flag are not secret and stay
readable. `store_snapshots` holds one introspected catalog per row, with the diff against the source's previous
snapshot stored beside it.
"""

from __future__ import annotations

import threading
import weakref

import sqlalchemy as sa

from runtime.store import add_missing_columns

PREFIX = "store_"
schema = sa.MetaData()

data_sources = sa.Table(
    f"{PREFIX}data_sources",
    schema,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("source_type", sa.String(32), nullable=False),
    sa.Column("credentials", sa.Text, nullable=False),  # Fernet token of the credentials' JSON
    sa.Column("filters", sa.JSON, nullable=True),
    sa.Column("profile", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

snapshots = sa.Table(
    f"{PREFIX}snapshots",
    schema,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("data_source_id", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("source_type", sa.String(32), nullable=False),
    sa.Column("server_version", sa.String(200), nullable=True),
    sa.Column("table_count", sa.Integer, nullable=False),
    sa.Column("column_count", sa.Integer, nullable=False),
    sa.Column("source", sa.JSON, nullable=True),  # credentials.safe_dict(): host, database, user; secrets masked
    # the catalog's JSON; JSON `null` when `catalog_zlib` holds it (rows written since that column exists)
    sa.Column("catalog", sa.JSON, nullable=False),
    sa.Column("profiles", sa.JSON, nullable=False),
    sa.Column("previous_snapshot_id", sa.String(64), nullable=True),
    sa.Column("diff", sa.JSON, nullable=True),  # SnapshotDiff against previous_snapshot_id; None for the first
    sa.Column("warnings", sa.JSON, nullable=True),  # SnapshotWarning dicts (e.g. role_not_read_only)
    # digest of the catalog's `databases` JSON: an unchanged catalog is recognised without reading the previous one
    sa.Column("catalog_digest", sa.String(64), nullable=True),
    # the catalog's JSON compressed with zlib: a 2,000-table catalog is 4 MB of JSON and 0.1 MB compressed, and writing
    # the 4 MB (a WAL checkpoint of its own on SQLite) took longer than compressing it
    sa.Column("catalog_zlib", sa.LargeBinary, nullable=True),
    # a catalog equal to the previous snapshot's (all but its head) is not stored again: the id of the snapshot of the
    # same source whose catalog_zlib holds it, this row's `catalog` holding only its head (see catalog_bodies.py)
    sa.Column("catalog_ref", sa.String(64), nullable=True),
    sa.Index(f"ix_{PREFIX}snapshots_source_created", "data_source_id", "created_at"),
)

_ready: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()
_ready_lock = threading.Lock()


def ensure_tables(engine: sa.Engine) -> None:
    """Create the store's tables once per engine; safe when several processes race to create them."""
    with _ready_lock:
        if engine in _ready:
            return
        try:
            schema.create_all(engine, checkfirst=True)
        except sa.exc.DBAPIError:
            # another process created them between our check and our CREATE: fine if they all exist now
            missing = set(schema.tables) - set(sa.inspect(engine).get_table_names())
            if missing:
                raise
        add_missing_columns(engine, schema)
        _ready.add(engine)

"""Where introspection results live: catalog snapshots, and the registry of data sources that scheduled runs read.

Both tables sit in the runtime's own database (`runtime.backend.get_backend().engine`, SQLite or PostgreSQL) under the
`introspection_` prefix, created on first use. A snapshot keeps the Catalog and the table profiles as JSON plus a few
columns to list and filter by; it never holds a secret (only `credentials.safe_dict()`, where secrets are masked).

The `introspection_data_sources` table keeps each source's credentials as plain JSON so that a cron schedule can
find them by `external_id`. That is the simple, honest stand-in for a secret store: in production the credentials
belong in a secret manager (Vault, AWS/GCP Secret Manager) and this row would hold a reference to them.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from connectors import Catalog, CatalogFilters, TableProfile, parse_credentials
from tasks.introspect_data.interfaces import IntrospectionWarning

PREFIX = "introspection_"
_schema = sa.MetaData()

snapshots_table = sa.Table(
    f"{PREFIX}snapshots",
    _schema,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("data_source_id", sa.String(200), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("source_type", sa.String(32), nullable=False),
    sa.Column("server_version", sa.String(200), nullable=True),
    sa.Column("table_count", sa.Integer, nullable=False),
    sa.Column("column_count", sa.Integer, nullable=False),
    sa.Column("source", sa.JSON, nullable=True),  # credentials.safe_dict(): host, database, user; secrets masked
    sa.Column("catalog", sa.JSON, nullable=False),
    sa.Column("profiles", sa.JSON, nullable=False),
    sa.Column("warnings", sa.JSON, nullable=True),  # IntrospectionWarning dicts (e.g. role_not_read_only)
    sa.Index(f"ix_{PREFIX}snapshots_source_created", "data_source_id", "created_at"),
)

data_sources_table = sa.Table(
    f"{PREFIX}data_sources",
    _schema,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("credentials", sa.JSON, nullable=False),  # plain secrets: production keeps these in a secret store
    sa.Column("filters", sa.JSON, nullable=True),
    sa.Column("profile", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

_ready: set[str] = set()
_ready_lock = threading.Lock()


class SnapshotSummary(BaseModel):
    """A snapshot without its catalog body, for listings."""

    id: str
    data_source_id: str
    run_id: str | None = None
    created_at: datetime
    source_type: str
    server_version: str | None = None
    table_count: int
    column_count: int
    warnings: list[IntrospectionWarning] = Field(default_factory=list)


class Snapshot(SnapshotSummary):
    source: dict[str, Any] | None = None
    catalog: Catalog
    profiles: list[TableProfile] = Field(default_factory=list)


class DataSource(BaseModel):
    """A registered data source, as a scheduled introspection reads it."""

    id: str
    credentials: dict[str, Any] = Field(repr=False)
    filters: CatalogFilters | None = None
    profile: bool = False


# -- the engine ------------------------------------------------------------------------------------------------------
def store_engine(database_url: str | None = None) -> sa.Engine:
    """The runtime database's engine (the running Worker's, else the configured one), with our tables created."""
    from runtime.backend import get_backend

    engine = get_backend(database_url).engine
    ensure_tables(engine)
    return engine


def ensure_tables(engine: sa.Engine) -> None:
    key = str(engine.url)
    with _ready_lock:
        if key in _ready:
            return
        try:
            _schema.create_all(engine, checkfirst=True)
        except sa.exc.DBAPIError:
            # another worker created them between our check and our CREATE: fine if they exist now
            missing = set(_schema.tables) - set(sa.inspect(engine).get_table_names())
            if missing:
                raise
        add_missing_columns(engine)
        _ready.add(key)


def add_missing_columns(engine: sa.Engine) -> None:
    """Add the nullable columns a newer release defines to tables an older one created (`warnings` on snapshots):
    create_all never alters an existing table. Another worker adding the same column at the same moment is fine."""
    for table in _schema.tables.values():
        present = {c["name"] for c in sa.inspect(engine).get_columns(table.name)}
        for column in table.columns:
            if column.name in present or not column.nullable:
                continue
            ddl = sa.schema.CreateColumn(column).compile(dialect=engine.dialect)
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(f"ALTER TABLE {engine.dialect.identifier_preparer.quote(table.name)} ADD COLUMN {ddl}"))
            except sa.exc.DBAPIError:
                if column.name not in {c["name"] for c in sa.inspect(engine).get_columns(table.name)}:
                    raise


def _epoch_to_dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, timezone.utc)


# -- snapshots -------------------------------------------------------------------------------------------------------
def snapshot_id_for_run(run_id: str) -> str:
    """One snapshot per run: saving twice (a step re-executed after a crash) writes the same row once."""
    return f"snap_{run_id.removeprefix('run_')}"


def save_snapshot(
    *,
    data_source_id: str,
    catalog: Catalog,
    profiles: list[TableProfile] | None = None,
    source: dict[str, Any] | None = None,
    run_id: str | None = None,
    warnings: list[dict[str, Any]] | None = None,
    engine: sa.Engine | None = None,
) -> str:
    """Store a catalog (and profiles, and warnings such as role_not_read_only) for a data source; returns the
    snapshot id. Idempotent per `run_id`."""
    engine = engine or store_engine()
    ensure_tables(engine)
    snapshot_id = snapshot_id_for_run(run_id) if run_id else f"snap_{uuid.uuid4().hex}"
    columns = sum(len(t.columns) for _, _, t in catalog.iter_tables())
    row = {
        "id": snapshot_id,
        "data_source_id": data_source_id,
        "run_id": run_id,
        "created_at": time.time(),
        "source_type": catalog.source_type,
        "server_version": catalog.server_version,
        "table_count": catalog.table_count,
        "column_count": columns,
        "source": source,
        "catalog": catalog.model_dump(mode="json"),
        "profiles": [p.model_dump(mode="json", by_alias=True) for p in profiles or []],
        "warnings": [IntrospectionWarning.model_validate(w).model_dump(mode="json") for w in warnings or []],
    }
    with engine.begin() as conn:
        exists = conn.execute(sa.select(snapshots_table.c.id).where(snapshots_table.c.id == snapshot_id)).first()
        if exists is None:
            conn.execute(sa.insert(snapshots_table).values(**row))
    return snapshot_id


def prune_snapshots(data_source_id: str, *, keep: int, engine: sa.Engine | None = None) -> int:
    """Delete all but the `keep` newest snapshots of a data source; returns how many were deleted.

    A nightly schedule writes one snapshot a day per source, each up to a few MB: without pruning the store grows
    without bound.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    engine = engine or store_engine()
    t = snapshots_table
    with engine.begin() as conn:
        kept = (
            sa.select(t.c.id)
            .where(t.c.data_source_id == data_source_id)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(keep)
            .scalar_subquery()
        )
        doomed = [
            r[0]
            for r in conn.execute(sa.select(t.c.id).where(t.c.data_source_id == data_source_id, t.c.id.not_in(kept))).all()
        ]
        if doomed:
            conn.execute(sa.delete(t).where(t.c.id.in_(doomed)))
    return len(doomed)


def _summary_columns() -> list[sa.Column[Any]]:
    t = snapshots_table
    return [t.c.id, t.c.data_source_id, t.c.run_id, t.c.created_at, t.c.source_type, t.c.server_version, t.c.table_count,
            t.c.column_count, t.c.warnings]


def _summary(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["created_at"] = _epoch_to_dt(data["created_at"])
    data["warnings"] = data.get("warnings") or []  # snapshots saved before the column existed have none
    return data


def get_snapshot(snapshot_id: str, *, engine: sa.Engine | None = None) -> Snapshot | None:
    engine = engine or store_engine()
    with engine.connect() as conn:
        row = conn.execute(sa.select(snapshots_table).where(snapshots_table.c.id == snapshot_id)).first()
    return Snapshot.model_validate(_summary(row)) if row is not None else None


def latest_snapshot(data_source_id: str, *, engine: sa.Engine | None = None) -> Snapshot | None:
    """The newest snapshot of a data source, catalog and profiles included; None when it was never introspected."""
    engine = engine or store_engine()
    t = snapshots_table
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t).where(t.c.data_source_id == data_source_id).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(1)
        ).first()
    return Snapshot.model_validate(_summary(row)) if row is not None else None


def list_snapshots(
    data_source_id: str | None = None, *, limit: int = 50, engine: sa.Engine | None = None
) -> list[SnapshotSummary]:
    """Newest first, without catalog bodies."""
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be between 1 and 1000")
    engine = engine or store_engine()
    t = snapshots_table
    query = sa.select(*_summary_columns()).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit)
    if data_source_id is not None:
        query = query.where(t.c.data_source_id == data_source_id)
    with engine.connect() as conn:
        return [SnapshotSummary.model_validate(_summary(r)) for r in conn.execute(query).all()]


# -- the data-source registry ------------------------------------------------------------------------------------------
def register_data_source(
    data_source_id: str,
    credentials: dict[str, Any],
    *,
    filters: CatalogFilters | dict[str, Any] | None = None,
    profile: bool = False,
    engine: sa.Engine | None = None,
) -> DataSource:
    """Create or replace a data source. The credentials are validated first (CredentialsError names a bad field)."""
    parse_credentials(credentials)
    filters_model = CatalogFilters.model_validate(filters) if isinstance(filters, dict) else filters
    engine = engine or store_engine()
    now = time.time()
    values = {
        "credentials": dict(credentials),
        "filters": filters_model.model_dump(mode="json") if filters_model else None,
        "profile": profile,
        "updated_at": now,
    }
    t = data_sources_table
    with engine.begin() as conn:
        updated = conn.execute(sa.update(t).where(t.c.id == data_source_id).values(**values)).rowcount
        if not updated:
            conn.execute(sa.insert(t).values(id=data_source_id, created_at=now, **values))
    return DataSource(id=data_source_id, credentials=dict(credentials), filters=filters_model, profile=profile)


def get_data_source(data_source_id: str, *, engine: sa.Engine | None = None) -> DataSource | None:
    engine = engine or store_engine()
    t = data_sources_table
    with engine.connect() as conn:
        row = conn.execute(sa.select(t).where(t.c.id == data_source_id)).first()
    if row is None:
        return None
    return DataSource(id=row.id, credentials=row.credentials, filters=row.filters, profile=bool(row.profile))


def delete_data_source(data_source_id: str, *, engine: sa.Engine | None = None) -> bool:
    engine = engine or store_engine()
    with engine.begin() as conn:
        return conn.execute(sa.delete(data_sources_table).where(data_sources_table.c.id == data_source_id)).rowcount > 0

"""Catalog snapshots: one introspected catalog (and its table profiles) per row, newest last, each with its diff.

A snapshot never holds a secret: its `source` column is `credentials.safe_dict()` (secrets masked). When a snapshot
is saved it is compared with the previous snapshot of its source and the diff is stored with it, so "what changed
last night" is one row read, even after the older snapshot has been pruned. A catalog equal to the previous one is
not stored twice: the new snapshot references the body already stored (store/catalog_bodies.py).
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any, NamedTuple

import sqlalchemy as sa
from pydantic import BaseModel, Field, TypeAdapter

from connectors import Catalog, TableProfile
from connectors.gc_pause import building_long_lived_objects
from store.catalog_bodies import (
    EncodedCatalog,
    body_columns,
    keep_referenced_bodies,
    lock_source,
    same_databases,
    select_with_body,
    stored_catalog,
    stored_catalog_text,
)
from store.database import store_engine
from store.diff import SnapshotDiff, diff_catalogs
from store.errors import NoSnapshotError, SnapshotNotFoundError
from store.index_cache import delete_indexes, index_engine
from store.tables import snapshots as snapshots_table


class SnapshotWarning(BaseModel):
    """Something about the source the platform should act on, kept with the snapshot it was found in.

    `role_not_read_only` (from introspect-data): the connected role may do more than read; details hold the
    principal, the capabilities it holds, write_grants and findings (connectors.RoleCapabilities).
    `profile_failed` / `profile_timed_out` (from introspect-data's profiling): one table has no profile; details hold
    `table` (`database.schema.table`), `error`, `code`, and `run_id` of the child run that tried, when one did.
    """

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


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
    previous_snapshot_id: str | None = None
    warnings: list[SnapshotWarning] = Field(default_factory=list)


class Snapshot(SnapshotSummary):
    source: dict[str, Any] | None = None
    catalog: Catalog
    profiles: list[TableProfile] = Field(default_factory=list)
    diff: SnapshotDiff | None = Field(None, description="against previous_snapshot_id; None for a source's first")


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
    database_url: str | None = None,
) -> str:
    """Store a catalog (and profiles, and warnings such as role_not_read_only) with its diff against the source's
    previous snapshot; returns the snapshot id.

    Idempotent per `run_id`. A malformed warning is refused (ValueError) before anything is written.
    """
    return save_snapshot_with_diff(
        data_source_id=data_source_id, catalog=catalog, profiles=profiles, source=source, run_id=run_id,
        warnings=warnings, database_url=database_url,
    ).id


class SavedSnapshot(NamedTuple):
    """A saved snapshot's id and the diff stored with it (None for its source's first snapshot)."""

    id: str
    diff: SnapshotDiff | None


def save_snapshot_with_diff(
    *,
    data_source_id: str,
    catalog: Catalog,
    profiles: list[TableProfile] | None = None,
    source: dict[str, Any] | None = None,
    run_id: str | None = None,
    warnings: list[dict[str, Any]] | None = None,
    database_url: str | None = None,
) -> SavedSnapshot:
    """`save_snapshot`, also returning the diff it stored: the caller reports it without reading it back."""
    checked = [SnapshotWarning.model_validate(w).model_dump(mode="json") for w in warnings or []]
    # Dumping, decoding, diffing and encoding two catalogs of tens of thousands of columns allocates hundreds of
    # thousands of short-lived dicts; with the cyclic collector running they set off collections that re-scan the
    # whole heap of a worker (its own catalogs included), which cost more than the work (about half of a save of
    # 2,000 tables). Paused, reference counting frees them all the same.
    with building_long_lived_objects():
        return _save(data_source_id, catalog, profiles, source, run_id, checked, database_url)


def _save(
    data_source_id: str,
    catalog: Catalog,
    profiles: list[TableProfile] | None,
    source: dict[str, Any] | None,
    run_id: str | None,
    checked: list[dict[str, Any]],
    database_url: str | None,
) -> SavedSnapshot:
    engine = store_engine(database_url)
    t = snapshots_table
    snapshot_id = snapshot_id_for_run(run_id) if run_id else f"snap_{uuid.uuid4().hex}"
    encoded = EncodedCatalog(catalog)
    tables, columns = _counts(catalog)

    def insert(conn: sa.Connection, previous: Any, diff: SnapshotDiff | None, *, ref: str | None = None, body: bytes | None = None) -> None:
        conn.execute(
            _INSERT,
            {
                "id": snapshot_id,
                "data_source_id": data_source_id,
                "run_id": run_id,
                "created_at": time.time(),
                "source_type": catalog.source_type,
                "server_version": catalog.server_version,
                "table_count": tables,
                "column_count": columns,
                "source": source,
                # a reference keeps this snapshot's head; a body of its own holds it (the column then holds JSON null)
                "catalog_json": encoded.head.decode() if ref else "null",
                "catalog_zlib": body,
                "catalog_ref": ref,
                "profiles_json": _PROFILES_JSON.dump_json(profiles or [], by_alias=True).decode(),
                "previous_snapshot_id": previous.id if previous else None,
                "diff": diff.model_dump(mode="json") if diff else None,
                "warnings": checked,
                "catalog_digest": encoded.digest,
            },
        )

    with engine.begin() as conn:
        lock_source(conn, data_source_id)  # the body referenced below cannot be pruned before this row commits
        previous, saved = _newest(conn, data_source_id, snapshot_id)
        if saved:
            return SavedSnapshot(snapshot_id, _stored_diff(conn, snapshot_id))
        if previous is not None and previous.catalog_digest == encoded.digest:
            # most nightly snapshots: nothing changed. Nothing else is read, compressed or written but the head; the
            # body stays where the previous snapshot has it.
            diff = SnapshotDiff(from_snapshot=previous.id, to_snapshot=snapshot_id)
            ref = previous.id if previous.holds_body else previous.catalog_ref
            if ref is not None:
                insert(conn, previous, diff, ref=ref)
                return SavedSnapshot(snapshot_id, diff)
    # A body of its own, so nothing to hold the source's lock for (on SQLite it is the whole file's write lock) while
    # it is compressed and the previous catalog is read, parsed and compared.
    body = encoded.packed()
    if previous is None or previous.catalog_digest == encoded.digest:
        diff = SnapshotDiff(from_snapshot=previous.id, to_snapshot=snapshot_id) if previous is not None else None
    else:
        with engine.connect() as conn:
            stored = conn.execute(select_with_body(*body_columns()).where(t.c.id == previous.id)).one()
        diff = _diff(previous.id, stored_catalog_text(stored), encoded, snapshot_id)
    with engine.begin() as conn:
        if _exists(conn, snapshot_id):  # this run's save may have run twice at once (a resumed run)
            return SavedSnapshot(snapshot_id, _stored_diff(conn, snapshot_id))
        insert(conn, previous, diff, body=body)
    return SavedSnapshot(snapshot_id, diff)


def _exists(conn: sa.Connection, snapshot_id: str) -> bool:
    t = snapshots_table
    return conn.execute(sa.select(t.c.id).where(t.c.id == snapshot_id)).first() is not None


def _newest(conn: sa.Connection, data_source_id: str, snapshot_id: str) -> tuple[Any, bool]:
    """The source's newest snapshot (its id and digest, and where its body is), and whether `snapshot_id` is saved
    already; one statement."""
    rows = conn.execute(_newest_statement(), {"snapshot_id": snapshot_id, "data_source_id": data_source_id}).all()
    saved = any(row.id == snapshot_id for row in rows)
    return next((row for row in rows if row.id != snapshot_id), None), saved


@functools.cache
def _newest_statement() -> sa.CompoundSelect:
    """`_newest`'s statement, built once (building it for each save cost ~0.3 ms)."""
    t = snapshots_table
    columns = (t.c.id, t.c.catalog_digest, t.c.catalog_zlib.is_not(None).label("holds_body"), t.c.catalog_ref)
    newest = sa.select(*columns).where(t.c.data_source_id == sa.bindparam("data_source_id")).order_by(*_newest_first()).limit(1)
    return sa.union_all(sa.select(*columns).where(t.c.id == sa.bindparam("snapshot_id")), newest.subquery().select())


def _counts(catalog: Catalog) -> tuple[int, int]:
    """Tables and columns, counted per schema (a generator step per table cost ~3 ms at 2,000 tables)."""
    tables = columns = 0
    for db in catalog.databases:
        for schema in db.schemas:
            tables += len(schema.tables)
            columns += sum([len(table.columns) for table in schema.tables])
    return tables, columns


class _JSONText(sa.types.TypeDecorator):  # type: ignore[type-arg]
    """A JSON column's value handed over as its JSON text already (written by pydantic's serializer, in Rust): sent as
    it is, where the plain JSON type would encode a Python structure again with the json module."""

    impl = sa.JSON
    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> None:  # type: ignore[override]
        return None


_PROFILES_JSON = TypeAdapter(list[TableProfile])
#: built once (SQLAlchemy compiles it once): building `insert().values(...)` for each save cost ~0.5 ms
_INSERT = sa.insert(snapshots_table).values(
    catalog=sa.bindparam("catalog_json", type_=_JSONText()), profiles=sa.bindparam("profiles_json", type_=_JSONText())
)


def _diff(previous_id: str, previous: bytes, encoded: EncodedCatalog, snapshot_id: str) -> SnapshotDiff:
    """The diff against a previous snapshot with another digest (or one saved before digests): when its stored text
    ends with the same databases nothing changed and neither catalog is parsed; otherwise both are compared column
    by column, on the JSON forms (the new one parsed from the bytes just written, not dumped from the models again)."""
    if same_databases(previous, encoded):
        return SnapshotDiff(from_snapshot=previous_id, to_snapshot=snapshot_id)
    before = json.loads(previous)
    after = {"databases": json.loads(encoded.databases)}
    return diff_catalogs(before, after, from_snapshot=previous_id, to_snapshot=snapshot_id)


def prune_snapshots(data_source_id: str, *, keep: int, database_url: str | None = None) -> int:
    """Delete all but the `keep` newest snapshots of a data source; returns how many were deleted.

    A nightly schedule writes one snapshot a day per source, each up to a few MB: without pruning the store grows
    without bound.
    """
    if keep < 1:
        raise ValueError("keep must be at least 1")
    t = snapshots_table
    engine = index_engine(database_url)
    with engine.connect() as conn:  # most runs have nothing to prune: no lock (on SQLite the file's write lock) for them
        if conn.execute(sa.select(sa.func.count()).where(t.c.data_source_id == data_source_id)).scalar_one() <= keep:
            return 0
    with engine.begin() as conn:
        lock_source(conn, data_source_id)  # no save may reference a body between the move below and the delete
        kept = sa.select(t.c.id).where(t.c.data_source_id == data_source_id).order_by(*_newest_first()).limit(keep).scalar_subquery()
        doomed = [r[0] for r in conn.execute(sa.select(t.c.id).where(t.c.data_source_id == data_source_id, t.c.id.not_in(kept)))]
        if doomed:
            keep_referenced_bodies(conn, data_source_id, doomed)
            conn.execute(sa.delete(t).where(t.c.id.in_(doomed)))
            delete_indexes(conn, doomed)  # after the snapshots: see store/index_cache.py on racing puts
    return len(doomed)


def delete_snapshots(data_source_id: str, *, database_url: str | None = None) -> int:
    """Delete every snapshot of a data source (it is being removed), and their search indexes; returns how many."""
    t = snapshots_table
    with index_engine(database_url).begin() as conn:
        lock_source(conn, data_source_id)
        deleted = conn.execute(sa.delete(t).where(t.c.data_source_id == data_source_id)).rowcount
        delete_indexes(conn, data_source_id=data_source_id)  # after the snapshots: see store/index_cache.py
        return deleted


def get_snapshot(snapshot_id: str, *, database_url: str | None = None) -> Snapshot | None:
    with store_engine(database_url).connect() as conn:
        row = conn.execute(select_with_body(snapshots_table).where(snapshots_table.c.id == snapshot_id)).first()
    return Snapshot.model_validate(_with_datetime(row)) if row is not None else None


def latest_snapshot(data_source_id: str, *, database_url: str | None = None) -> Snapshot | None:
    """The newest snapshot of a data source, catalog and profiles included; None when it was never introspected."""
    t = snapshots_table
    with store_engine(database_url).connect() as conn:
        row = conn.execute(select_with_body(t).where(t.c.data_source_id == data_source_id).order_by(*_newest_first()).limit(1)).first()
    return Snapshot.model_validate(_with_datetime(row)) if row is not None else None


def list_snapshots(data_source_id: str | None = None, *, limit: int = 50, database_url: str | None = None) -> list[SnapshotSummary]:
    """Newest first, without catalog bodies."""
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be between 1 and 1000")
    t = snapshots_table
    columns = [t.c[name] for name in SnapshotSummary.model_fields]
    query = sa.select(*columns).order_by(*_newest_first()).limit(limit)
    if data_source_id is not None:
        query = query.where(t.c.data_source_id == data_source_id)
    with store_engine(database_url).connect() as conn:
        return [SnapshotSummary.model_validate(_with_datetime(r)) for r in conn.execute(query)]


def stored_diff(snapshot_id: str, *, database_url: str | None = None) -> SnapshotDiff | None:
    """The diff saved with a snapshot (None for a source's first snapshot); SnapshotNotFoundError if there is none."""
    with store_engine(database_url).connect() as conn:
        return _stored_diff(conn, snapshot_id)


def _stored_diff(conn: sa.Connection, snapshot_id: str) -> SnapshotDiff | None:
    row = conn.execute(sa.select(snapshots_table.c.diff).where(snapshots_table.c.id == snapshot_id)).first()
    if row is None:
        raise SnapshotNotFoundError(f"no snapshot with id {snapshot_id!r}")
    return SnapshotDiff.model_validate(row.diff) if row.diff is not None else None


def compare_snapshots(
    data_source_id: str,
    from_snapshot: str | None = None,
    to_snapshot: str | None = None,
    *,
    database_url: str | None = None,
) -> SnapshotDiff:
    """The diff between two snapshots of one source: by default the newest and the one before it; `to` alone
    compares with the snapshot before it, `from` alone with the newest."""
    t = snapshots_table
    columns = _compared_columns()
    with store_engine(database_url).connect() as conn:
        from_row = _own_snapshot(conn, data_source_id, from_snapshot) if from_snapshot else None
        to_row = _own_snapshot(conn, data_source_id, to_snapshot) if to_snapshot else None
        if to_row is None:
            to_row = conn.execute(
                select_with_body(*columns).where(t.c.data_source_id == data_source_id).order_by(*_newest_first()).limit(1)
            ).first()
            if to_row is None:
                raise NoSnapshotError(f"data source {data_source_id!r} has no snapshot yet: introspect it first")
        if from_row is None:
            from_row = conn.execute(
                select_with_body(*columns)
                .where(
                    t.c.data_source_id == data_source_id,
                    sa.or_(t.c.created_at < to_row.created_at, sa.and_(t.c.created_at == to_row.created_at, t.c.id < to_row.id)),
                )
                .order_by(*_newest_first())
                .limit(1)
            ).first()
            if from_row is None:
                raise NoSnapshotError(f"snapshot {to_row.id} is the first of data source {data_source_id!r}: nothing to compare it with")
        if from_row.catalog_digest is not None and from_row.catalog_digest == to_row.catalog_digest:
            return SnapshotDiff(from_snapshot=from_row.id, to_snapshot=to_row.id)  # the same databases: nothing to parse
    return diff_catalogs(stored_catalog(from_row), stored_catalog(to_row), from_snapshot=from_row.id, to_snapshot=to_row.id)


def _compared_columns() -> list[Any]:
    t = snapshots_table
    return [t.c.id, t.c.created_at, t.c.catalog_digest, t.c.catalog, t.c.catalog_zlib, t.c.catalog_ref]


def _own_snapshot(conn: sa.Connection, data_source_id: str, snapshot_id: str) -> Any:
    t = snapshots_table
    row = conn.execute(select_with_body(*_compared_columns()).where(t.c.id == snapshot_id, t.c.data_source_id == data_source_id)).first()
    if row is None:
        raise SnapshotNotFoundError(f"data source {data_source_id!r} has no snapshot with id {snapshot_id!r}")
    return row


def _newest_first() -> tuple[Any, ...]:
    return snapshots_table.c.created_at.desc(), snapshots_table.c.id.desc()


def _with_datetime(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    if "catalog_zlib" in data:
        data["catalog"] = stored_catalog(row)
        for stored in ("catalog_zlib", "catalog_ref", "ref_zlib"):
            data.pop(stored, None)
    data["created_at"] = datetime.fromtimestamp(data["created_at"], timezone.utc)
    data["warnings"] = data.get("warnings") or []  # snapshots saved before the column existed have none
    return data

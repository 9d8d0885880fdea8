"""An unchanged catalog is stored once: the snapshots after it keep their own head and reference the body. Every
snapshot still reads back as it was saved, diffs stay right, pruning never leaves a reference without its body, and
removing a source leaves nothing behind."""

from __future__ import annotations

import hashlib
import threading
import zlib
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from connectors import Catalog, Database, Schema, Table
from store import snapshots, sources
from store.catalog_bodies import EncodedCatalog, lock_source
from store.database import store_engine
from store.tables import snapshots as snapshots_table
from tests.store.test_snapshot_storage import ITEMS, ORDERS, col  # the same two relations

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)


def catalog(*tables: Table, night: int = 0, version: str = "16.1") -> Catalog:
    """The same databases on another night: only the head (time, server version, round trips) differs."""
    return Catalog(
        source_type="postgres",
        server_version=version,
        introspected_at=T0 + timedelta(days=night),
        round_trips=4 + night,
        databases=[Database(name="db", schemas=[Schema(name="s", tables=list(tables))])],
    )


def rows(url: str, source: str = "src") -> dict[str, dict]:  # type: ignore[type-arg]
    """id -> how the row keeps its catalog: whether it holds a body, what it references."""
    t = snapshots_table
    with store_engine(url).connect() as conn:
        found = conn.execute(
            sa.select(t.c.id, t.c.catalog_zlib.is_not(None).label("body"), t.c.catalog_ref).where(t.c.data_source_id == source)
        )
        return {r.id: {"body": bool(r.body), "ref": r.catalog_ref} for r in found}


def save(url: str, cat: Catalog, source: str = "src") -> str:
    return snapshots.save_snapshot(data_source_id=source, catalog=cat, database_url=url)


def reads_back(url: str, snapshot_id: str, expected: Catalog) -> None:
    snapshot = snapshots.get_snapshot(snapshot_id, database_url=url)
    assert snapshot is not None and snapshot.catalog == expected  # its own head, the shared databases


def test_an_unchanged_catalog_references_the_body_and_reads_back_with_its_own_head(store_url: str) -> None:
    first = save(store_url, catalog(ORDERS, ITEMS, night=0))
    second = save(store_url, catalog(ORDERS, ITEMS, night=1, version="16.2"))
    third = save(store_url, catalog(ORDERS, ITEMS, night=2))
    # one body; every later snapshot points at the snapshot holding it (never at another reference)
    assert rows(store_url) == {first: {"body": True, "ref": None}, second: {"body": False, "ref": first},
                               third: {"body": False, "ref": first}}
    reads_back(store_url, first, catalog(ORDERS, ITEMS, night=0))
    reads_back(store_url, second, catalog(ORDERS, ITEMS, night=1, version="16.2"))
    reads_back(store_url, third, catalog(ORDERS, ITEMS, night=2))
    latest = snapshots.latest_snapshot("src", database_url=store_url)
    assert latest is not None and latest.id == third and latest.catalog == catalog(ORDERS, ITEMS, night=2)
    assert latest.server_version == "16.1" and latest.table_count == 2 and latest.column_count == 4
    for later, before in ((second, first), (third, second)):
        diff = snapshots.stored_diff(later, database_url=store_url)
        assert diff is not None and diff.is_empty and diff.from_snapshot == before
    assert snapshots.compare_snapshots("src", from_snapshot=first, to_snapshot=third, database_url=store_url).is_empty


def test_a_change_after_shared_snapshots_is_diffed_against_the_shared_body(store_url: str) -> None:
    first = save(store_url, catalog(ORDERS, ITEMS, night=0))
    second = save(store_url, catalog(ORDERS, ITEMS, night=1))
    retyped = ORDERS.model_copy(update={"columns": [col("id", nullable=False), col("total", "numeric(14,2)", default="0", comment="gross")]})
    changed = catalog(retyped, Table(name="refunds", columns=[col("id")]), night=2)
    third = save(store_url, changed)
    assert rows(store_url)[third] == {"body": True, "ref": None}  # a changed catalog gets a body of its own
    diff = snapshots.stored_diff(third, database_url=store_url)
    assert diff is not None and diff.from_snapshot == second
    assert diff.tables_added == ["db.s.refunds"] and diff.tables_removed == ["db.s.items"]
    assert diff.columns_removed == ["db.s.orders.note"] and diff.columns_added == []
    assert [(c.column, c.changes) for c in diff.columns_changed] == [("db.s.orders.total", {"type": ("numeric(12,2)", "numeric(14,2)")})]
    # compared on demand, from the shared body and from the new one, the same diff
    assert snapshots.compare_snapshots("src", database_url=store_url).model_dump(exclude={"from_snapshot"}) == diff.model_dump(exclude={"from_snapshot"})
    assert snapshots.compare_snapshots("src", from_snapshot=first, database_url=store_url).tables_added == ["db.s.refunds"]
    # and back to the first catalog: a new body again (the digest equals an older snapshot's, not the previous one's)
    fourth = save(store_url, catalog(ORDERS, ITEMS, night=3))
    assert rows(store_url)[fourth] == {"body": True, "ref": None}
    back = snapshots.stored_diff(fourth, database_url=store_url)
    assert back is not None and back.tables_added == ["db.s.items"] and back.from_snapshot == third
    reads_back(store_url, fourth, catalog(ORDERS, ITEMS, night=3))


def test_pruning_the_snapshot_holding_a_body_moves_it_to_the_newest_kept_reference(store_url: str) -> None:
    ids = [save(store_url, catalog(ORDERS, night=n)) for n in range(4)]
    assert snapshots.prune_snapshots("src", keep=3, database_url=store_url) == 1
    # the body moved to the newest snapshot referencing it; the other kept reference points there now
    assert rows(store_url) == {ids[1]: {"body": False, "ref": ids[3]}, ids[2]: {"body": False, "ref": ids[3]},
                               ids[3]: {"body": True, "ref": None}}
    for night, snapshot_id in enumerate(ids[1:], start=1):
        reads_back(store_url, snapshot_id, catalog(ORDERS, night=night))
    assert snapshots.get_snapshot(ids[0], database_url=store_url) is None
    # a later unchanged snapshot references the new holder; pruning down to it alone leaves a body with it
    fifth = save(store_url, catalog(ORDERS, night=4))
    assert rows(store_url)[fifth] == {"body": False, "ref": ids[3]}
    assert snapshots.prune_snapshots("src", keep=1, database_url=store_url) == 3
    assert rows(store_url) == {fifth: {"body": True, "ref": None}}
    reads_back(store_url, fifth, catalog(ORDERS, night=4))
    # what the next save compares with is still there: unchanged again is a reference, a change a real diff
    sixth = save(store_url, catalog(ORDERS, ITEMS, night=5))
    diff = snapshots.stored_diff(sixth, database_url=store_url)
    assert diff is not None and diff.tables_added == ["db.s.items"] and diff.from_snapshot == fifth


def test_pruning_bodies_nobody_references_moves_nothing(store_url: str) -> None:
    first = save(store_url, catalog(ORDERS, night=0))
    second = save(store_url, catalog(ORDERS, night=1))  # references first
    third = save(store_url, catalog(ORDERS, ITEMS, night=2))  # a body of its own
    assert snapshots.prune_snapshots("src", keep=1, database_url=store_url) == 2
    assert rows(store_url) == {third: {"body": True, "ref": None}}
    assert snapshots.get_snapshot(first, database_url=store_url) is None and snapshots.get_snapshot(second, database_url=store_url) is None
    reads_back(store_url, third, catalog(ORDERS, ITEMS, night=2))


def test_sources_with_the_same_catalog_never_share_a_body(store_url: str) -> None:
    a1 = save(store_url, catalog(ORDERS, night=0), source="a")
    b1 = save(store_url, catalog(ORDERS, night=0), source="b")
    a2 = save(store_url, catalog(ORDERS, night=1), source="a")
    assert rows(store_url, "b") == {b1: {"body": True, "ref": None}}  # its first snapshot: never a reference
    assert rows(store_url, "a") == {a1: {"body": True, "ref": None}, a2: {"body": False, "ref": a1}}
    assert snapshots.delete_snapshots("a", database_url=store_url) == 2
    assert rows(store_url, "a") == {}
    reads_back(store_url, b1, catalog(ORDERS, night=0))


def test_removing_a_source_deletes_its_shared_and_sharing_snapshots(store_url: str) -> None:
    creds = {"type": "postgres", "host": "db.example", "database": "shop", "username": "u", "password": "p"}
    source = sources.add_source("shared", creds, database_url=store_url)
    for night in range(3):
        save(store_url, catalog(ORDERS, night=night), source=source.id)
    kept = save(store_url, catalog(ORDERS, night=0), source="other")
    removed = sources.remove_source(source.id, database_url=store_url)
    assert removed.snapshots_deleted == 3
    assert rows(store_url, source.id) == {}
    assert snapshots.list_snapshots(database_url=store_url)[0].id == kept and len(snapshots.list_snapshots(database_url=store_url)) == 1
    reads_back(store_url, kept, catalog(ORDERS, night=0))


def test_a_snapshot_of_the_previous_release_is_followed_by_a_body_then_references(store_url: str) -> None:
    """Rows written before sharing (blake2b digest, whole body compressed) are compared the long way once."""
    old = catalog(ORDERS, night=0)
    databases = EncodedCatalog(old).databases
    with store_engine(store_url).begin() as conn:
        conn.execute(
            sa.insert(snapshots_table).values(
                id="snap_old", data_source_id="src", created_at=1.0, source_type="postgres", table_count=1, column_count=3,
                catalog=None, catalog_zlib=zlib.compress(EncodedCatalog(old).body()), profiles=[], warnings=[],
                catalog_digest=hashlib.blake2b(databases, digest_size=32).hexdigest(),
            )
        )
    second = save(store_url, catalog(ORDERS, night=1))
    third = save(store_url, catalog(ORDERS, night=2))
    assert rows(store_url) == {"snap_old": {"body": True, "ref": None}, second: {"body": True, "ref": None},
                               third: {"body": False, "ref": second}}
    diff = snapshots.stored_diff(second, database_url=store_url)
    assert diff is not None and diff.is_empty and diff.from_snapshot == "snap_old"
    reads_back(store_url, "snap_old", old)
    reads_back(store_url, third, catalog(ORDERS, night=2))


def test_a_save_waits_for_whoever_holds_its_sources_lock(store_url: str) -> None:
    """What keeps a prune from deleting a body between a save choosing to reference it and that save committing."""
    first = save(store_url, catalog(ORDERS, night=0))
    saved: list[str] = []
    with store_engine(store_url).begin() as conn:
        lock_source(conn, "src")  # as prune_snapshots does before it looks at what to delete
        waiting = threading.Thread(target=lambda: saved.append(save(store_url, catalog(ORDERS, night=1))))
        waiting.start()
        waiting.join(0.5)
        assert saved == [] and waiting.is_alive()
        if store_url.startswith("postgresql"):  # another source's saves go on (SQLite has one writer at a time anyway)
            assert rows(store_url, "other") == {} and save(store_url, catalog(ORDERS), source="other")
    waiting.join(30)
    assert len(saved) == 1 and rows(store_url)[saved[0]] == {"body": False, "ref": first}

"""The store's search-index cache: keyed by snapshot id, only for snapshots that exist, gone with its snapshot,
size-bounded with the least recently used entries evicted first."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connectors import Catalog, Database, Schema, Table
from store import SnapshotNotFoundError, snapshots
from store import index_cache as index_cache_module
from store.index_cache import ENV_MAX_MB, StoreIndexCache, default_max_bytes, index_engine, search_indexes


def catalog(*names: str) -> Catalog:
    return Catalog(
        source_type="postgres",
        databases=[Database(name="shop", schemas=[Schema(name="public", tables=[Table(name=n) for n in names])])],
    )


def snapshot(store_url: str, source: str = "src_a", *tables: str) -> str:
    return snapshots.save_snapshot(data_source_id=source, catalog=catalog(*(tables or ("orders",))), database_url=store_url)


def test_an_index_is_kept_by_snapshot_id_and_replaced_by_a_new_put(store_url: str) -> None:
    snap = snapshot(store_url)
    cache = StoreIndexCache(database_url=store_url)
    assert cache.get(snap) is None
    assert cache.put(snap, b"\x00index-one\xff") is True
    assert cache.get(snap) == b"\x00index-one\xff"  # binary-safe (NUL and high bytes)
    assert cache.put(snap, b"index-two") is True
    assert cache.get(snap) == b"index-two"
    assert cache.entries() == [(snap, len(b"index-two"))]
    # another cache object (another worker) reads the same entry
    assert StoreIndexCache(database_url=store_url).get(snap) == b"index-two"


def test_no_index_is_kept_for_a_snapshot_that_does_not_exist(store_url: str) -> None:
    snapshot(store_url)
    cache = StoreIndexCache(database_url=store_url)
    with pytest.raises(SnapshotNotFoundError, match="snap_missing"):
        cache.put("snap_missing", b"orphan")
    assert cache.entries() == []


def test_pruned_snapshots_and_a_removed_source_take_their_indexes_with_them(store_url: str) -> None:
    cache = StoreIndexCache(database_url=store_url)
    first, second, third = (snapshot(store_url, "src_a", f"t{i}") for i in range(3))
    other = snapshot(store_url, "src_b")
    for snap in (first, second, third, other):
        cache.put(snap, snap.encode())
    assert snapshots.prune_snapshots("src_a", keep=1, database_url=store_url) == 2
    assert cache.get(first) is None and cache.get(second) is None
    assert cache.get(third) == third.encode() and cache.get(other) == other.encode()
    assert snapshots.delete_snapshots("src_a", database_url=store_url) == 1
    assert [snap for snap, _ in cache.entries()] == [other]  # the other source's index is untouched


def test_the_cache_keeps_within_its_budget_dropping_the_least_recently_used(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_cache_module, "TOUCH_INTERVAL_S", 0.0)  # every read counts as a use
    a, b, c, d = (snapshot(store_url, "src_a", f"t{i}") for i in range(4))
    cache = StoreIndexCache(database_url=store_url, max_bytes=250)
    cache.put(a, b"a" * 100)
    cache.put(b, b"b" * 100)
    assert cache.get(a) == b"a" * 100  # a is now used more recently than b
    cache.put(c, b"c" * 100)
    assert cache.get(b) is None and cache.get(a) == b"a" * 100 and cache.get(c) == b"c" * 100
    assert cache.total_bytes() <= 250
    # an entry larger than the whole budget is not kept, and evicts nothing
    assert cache.put(d, b"d" * 251) is False
    assert cache.get(d) is None and {snap for snap, _ in cache.entries()} == {a, c}
    # the entry just put is never the one evicted, even when it is the least recently used by time
    assert cache.put(d, b"d" * 200) is True
    assert [snap for snap, _ in cache.entries()] == [d]


def test_hostile_snapshot_ids_are_unknown_ids_and_leave_the_table_intact(store_url: str) -> None:
    snap = snapshot(store_url)
    cache = StoreIndexCache(database_url=store_url)
    cache.put(snap, b"kept")
    for hostile in ("x' OR '1'='1", "'; DROP TABLE store_search_indexes; --", "%", "_", snap + "%", "\u202esnap"):
        assert cache.get(hostile) is None
        with pytest.raises(SnapshotNotFoundError):
            cache.put(hostile, b"injected")
    with index_engine(store_url).connect() as conn:
        rows = conn.execute(sa.select(search_indexes.c.snapshot_id, search_indexes.c.data)).all()
    assert [(r[0], bytes(r[1])) for r in rows] == [(snap, b"kept")]


def test_the_budget_comes_from_the_environment_and_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_MAX_MB, raising=False)
    assert default_max_bytes() == index_cache_module.DEFAULT_MAX_BYTES
    monkeypatch.setenv(ENV_MAX_MB, "2.5")
    assert default_max_bytes() == int(2.5 * 1024 * 1024)
    for bad in ("lots", "0", "-3", "1e12"):
        monkeypatch.setenv(ENV_MAX_MB, bad)
        with pytest.raises(ValueError, match=ENV_MAX_MB):
            default_max_bytes()
    with pytest.raises(ValueError, match="max_bytes"):
        StoreIndexCache(database_url="sqlite://", max_bytes=0)

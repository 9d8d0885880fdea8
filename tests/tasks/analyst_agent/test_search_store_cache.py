"""The production path of the catalog search: the index of a stored snapshot, built once and kept in the store (SQLite
and PostgreSQL runtime databases), its value index fed by the snapshot's profiles, rebuilt incrementally from the
previous snapshot's index, and gone when its snapshot is."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from cryptography.fernet import Fernet

from connectors.catalog import ColumnProfile, TableProfile, ValueCount
from runtime.backend import reset_backends
from store import SnapshotNotFoundError, snapshots
from store.index_cache import StoreIndexCache
from tasks.analyst_agent.search import (
    CatalogIndex,
    SnapshotIdError,
    TableKey,
    index_for_snapshot,
    index_for_stored_snapshot,
    index_from_bytes,
    store_index_cache,
)
from tests.runtime.conftest import fresh_database
from tests.tasks.analyst_agent.catalogs import table
from tests.tasks.analyst_agent.test_search_index_cache import CountingEmbedder, both_catalogs


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TASKPACK_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    with fresh_database(request.param, tmp_path) as url:
        yield url


def statuses_profile(values: list[str]) -> TableProfile:
    """orders.status with every one of its values, as introspect-data stores a low-cardinality text column."""
    return TableProfile(
        database="shop",
        schema="sales",
        table="orders",
        sampled_rows=1000,
        sample_method="full",
        columns=[
            ColumnProfile(
                name="status",
                data_type="text",
                normalized_type="string",
                distinct_count=len(values),
                top_values=[ValueCount(value=v, count=100 - i) for i, v in enumerate(values)],
                sample_values=values[:5],
            )
        ],
    )


STATUSES = ["Shipped", "Pending", "Cancelled", "Returned", "On Hold", "Back Ordered", "Partially Refunded"]


def save(store_url: str, catalog=None, profiles=None) -> str:  # type: ignore[no-untyped-def]
    return snapshots.save_snapshot(
        data_source_id="src_shop",
        catalog=catalog or both_catalogs(),
        profiles=profiles if profiles is not None else [statuses_profile(STATUSES)],
        database_url=store_url,
    )


def test_a_stored_snapshot_is_indexed_once_and_then_read_from_the_store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = save(store_url)
    model = CountingEmbedder()
    built = index_for_stored_snapshot(snap, database_url=store_url, embedder=model)
    assert built.snapshot_id == snap and len(model.texts) == len(built.keys)
    stored = StoreIndexCache(database_url=store_url).get(snap)
    assert stored is not None and index_from_bytes(stored).keys == built.keys

    def no_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the stored index should have been used")

    monkeypatch.setattr(CatalogIndex, "build", no_build)
    reset_backends()  # another process: nothing in memory, only the store
    loaded = index_for_stored_snapshot(snap, database_url=store_url, embedder=model)
    assert np.array_equal(loaded.vectors, built.vectors)
    # the sixth status is past the five top values a plain profile keeps: found because the snapshot holds them all
    hit = next(h for h in loaded.search("orders that are partially refunded", 3, embedder=model) if h.table == "orders")
    assert any(r.kind == "value" and "Partially Refunded" in r.detail for r in hit.reasons)
    assert "status" in hit.matched_columns


def test_the_value_index_reads_the_snapshot_profiles_and_nothing_else(store_url: str) -> None:
    without = save(store_url, profiles=[])
    index = index_for_stored_snapshot(without, database_url=store_url, embedder=None)
    assert index.values.entries == {}
    with_values = save(store_url)
    index = index_for_stored_snapshot(with_values, database_url=store_url, embedder=None)
    orders = index.keys.index(TableKey("shop", "sales", "orders"))
    assert {v for hits in index.values.entries.values() for t, _, v in hits if t == orders} == set(STATUSES)


def test_a_new_snapshot_reuses_the_vectors_of_its_previous_snapshots_index(store_url: str) -> None:
    model = CountingEmbedder()
    first = save(store_url)
    index_for_stored_snapshot(first, database_url=store_url, embedder=model)
    changed = both_catalogs()
    changed.databases[0].schemas[0].tables.append(table("returns", ["return_id", "order_id", "reason"]))
    second = save(store_url, catalog=changed)
    assert snapshots.get_snapshot(second, database_url=store_url).previous_snapshot_id == first  # type: ignore[union-attr]
    model.texts.clear()
    rebuilt = index_for_stored_snapshot(second, database_url=store_url, embedder=model)
    assert [t.split(":")[0] for t in model.texts] == ["returns"] and rebuilt.embedded_tables == 1


def test_a_deleted_snapshot_loses_its_index_and_cannot_be_indexed(store_url: str) -> None:
    snap = save(store_url)
    index_for_stored_snapshot(snap, database_url=store_url, embedder=None)
    cache = store_index_cache(store_url)
    assert cache.get(snap) is not None
    snapshots.delete_snapshots("src_shop", database_url=store_url)
    assert cache.get(snap) is None
    with pytest.raises(SnapshotNotFoundError):
        index_for_stored_snapshot(snap, database_url=store_url, embedder=None)
    with pytest.raises(SnapshotNotFoundError):  # given the catalog by hand, it still is not cached for a gone snapshot
        index_for_snapshot(cache, snap, both_catalogs(), embedder=None)
    with pytest.raises(SnapshotIdError):
        index_for_stored_snapshot("../" + snap, database_url=store_url)


def test_a_damaged_stored_index_is_rebuilt_and_overwritten(store_url: str) -> None:
    snap = save(store_url)
    cache = StoreIndexCache(database_url=store_url)
    cache.put(snap, b"PK\x03\x04 not really a zip")
    index = index_for_stored_snapshot(snap, cache=cache, database_url=store_url, embedder=None)
    assert index.search("carrier", 1)[0].table == "shipments"
    assert index_from_bytes(cache.get(snap)).keys == index.keys  # type: ignore[arg-type]

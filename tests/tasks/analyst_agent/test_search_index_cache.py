"""The index as bytes and back, through the per-snapshot caches; incremental rebuilds; damaged or hostile bytes."""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from typing import Sequence

import numpy as np
import pytest

from tasks.analyst_agent.search import (
    CatalogIndex,
    ColumnValues,
    FileIndexCache,
    IndexFormatError,
    MemoryIndexCache,
    SnapshotIdError,
    TableKey,
    index_for_snapshot,
    index_from_bytes,
    index_to_bytes,
)
from tasks.analyst_agent.search import cache as cache_module
from tests.tasks.analyst_agent.catalogs import (
    music_catalog,
    sales_catalog,
    table,
    zones_profile,
)

QUESTIONS = [
    "Which singers sang at which concert?",
    "How many orders are back ordered?",
    "customers in northern europe",
    "warehouse sites and their carriers",
]


class CountingEmbedder:
    """A deterministic stand-in model (hash of words -> vector) that counts the texts it embeds.

    It stands in for the model only where the test is about which tables get embedded, not about the vectors."""

    def __init__(self, model_id: str = "counting-test-model") -> None:
        self.model_id = model_id
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str], max_tokens: int | None = None) -> np.ndarray:
        self.texts.extend(texts)
        out = np.zeros((len(texts), 16), np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, zlib.crc32(word.encode()) % 16] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-9, None)


def both_catalogs():  # type: ignore[no-untyped-def]
    cat = sales_catalog()
    cat.databases.extend(music_catalog().databases)
    return cat


def values() -> list[ColumnValues]:
    return [
        ColumnValues(table=TableKey("shop", "sales", "orders"), column="status", values=["Shipped", "Back Ordered"])
    ]


def results(index: CatalogIndex, embedder=None) -> list[list[tuple]]:  # type: ignore[no-untyped-def]
    return [
        [
            (h.database, h.schema_, h.table, h.score, tuple(h.matched_columns), tuple(r.detail for r in h.reasons))
            for h in index.search(q, 5, embedder=embedder)
        ]
        for q in QUESTIONS
    ]


# -- round trip -------------------------------------------------------------------------------------------------------
def test_index_round_trips_through_the_file_cache_and_answers_the_same(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model = CountingEmbedder()
    cache = FileIndexCache(tmp_path / "indexes")
    built = index_for_snapshot(cache, "snap_01", both_catalogs(), [zones_profile()], values(), embedder=model)
    assert (tmp_path / "indexes" / "snap_01.v1.search-index").is_file()
    assert built.snapshot_id == "snap_01" and built.model_id == "counting-test-model"

    def no_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the cached index should have been used")

    monkeypatch.setattr(CatalogIndex, "build", no_build)
    loaded = index_for_snapshot(FileIndexCache(tmp_path / "indexes"), "snap_01", both_catalogs(), embedder=model)
    assert loaded is not built
    assert loaded.keys == built.keys and loaded.groups == built.groups
    assert np.array_equal(loaded.vectors, built.vectors)
    assert loaded.values.entries == built.values.entries
    assert results(loaded, model) == results(built, model)
    assert results(loaded, None) == results(built, None)
    # the answers do depend on what was indexed: a value only the cached index knows is still found
    orders = next(h for h in loaded.search("back ordered", 5, embedder=model) if h.table == "orders")
    assert any(r.kind == "value" for r in orders.reasons)


def test_lexical_index_round_trips_in_memory() -> None:
    cache = MemoryIndexCache()
    built = index_for_snapshot(cache, "snap_a", both_catalogs(), embedder=None)
    assert built.vectors is None
    raw = cache.get("snap_a")
    assert raw is not None
    assert results(index_from_bytes(raw)) == results(built)
    assert index_to_bytes(index_from_bytes(raw)) == raw  # stable: the same index, the same bytes


def test_an_empty_catalog_round_trips() -> None:
    from connectors.catalog import Catalog

    index = CatalogIndex.build(Catalog(source_type="t"), embedder=CountingEmbedder())
    again = index_from_bytes(index_to_bytes(index))
    assert again.keys == [] and again.search("anything", 3) == []


# -- what the cache decides -------------------------------------------------------------------------------------------
def test_a_cached_index_built_with_another_model_is_rebuilt_reusing_nothing_of_it() -> None:
    cache = MemoryIndexCache()
    index_for_snapshot(cache, "s1", both_catalogs(), embedder=CountingEmbedder("model-a"))
    other = CountingEmbedder("model-b")
    rebuilt = index_for_snapshot(cache, "s1", both_catalogs(), embedder=other)
    assert rebuilt.model_id == "model-b" and len(other.texts) == len(rebuilt.keys)
    assert index_from_bytes(cache.get("s1")).model_id == "model-b"  # type: ignore[arg-type]


def test_a_new_snapshot_embeds_only_the_tables_that_changed() -> None:
    model = CountingEmbedder()
    cache = MemoryIndexCache()
    first = index_for_snapshot(cache, "s1", both_catalogs(), embedder=model)
    assert len(model.texts) == len(first.keys) == first.embedded_tables
    changed = both_catalogs()
    changed.databases[0].schemas[0].tables.append(table("returns", ["return_id", "order_id", "reason"]))
    changed.databases[0].schemas[0].table("zones").columns.pop()  # zones loses `label`
    model.texts.clear()
    second = index_for_snapshot(cache, "s2", changed, embedder=model, previous_snapshot_id="s1")
    assert sorted(t.split(":")[0] for t in model.texts) == ["returns", "zones"]
    assert second.embedded_tables == 2
    same = second.keys.index(TableKey("shop", "sales", "orders"))
    assert np.array_equal(second.vectors[same], first.vectors[first.keys.index(TableKey("shop", "sales", "orders"))])
    fresh = CatalogIndex.build(changed, embedder=CountingEmbedder())
    assert np.allclose(second.vectors, fresh.vectors)  # reuse changes nothing in the result


def test_identical_table_descriptions_are_embedded_once() -> None:
    cat = both_catalogs()
    copies = [table(f"events_2024_{m:02d}", ["event_id", "kind", "payload"]) for m in range(1, 4)]
    for copy in copies:
        copy.name = "events"  # the same table in three schemas
    from connectors.catalog import Schema

    cat.databases[0].schemas.extend(Schema(name=f"env{i}", tables=[c]) for i, c in enumerate(copies))
    model = CountingEmbedder()
    index = CatalogIndex.build(cat, embedder=model)
    assert sum(1 for t in model.texts if t.startswith("events:")) == 1
    rows = [i for i, k in enumerate(index.keys) if k.table == "events"]
    assert len(rows) == 3 and all(np.array_equal(index.vectors[rows[0]], index.vectors[r]) for r in rows)


def test_a_damaged_cache_entry_is_rebuilt_and_overwritten(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = FileIndexCache(tmp_path)
    cache.put("snap_x", b"not an index at all")
    index = index_for_snapshot(cache, "snap_x", both_catalogs(), embedder=None)
    assert index.search("carrier", 1)[0].table == "shipments"
    assert index_from_bytes(cache.get("snap_x")).keys == index.keys  # type: ignore[arg-type]


def test_memory_cache_keeps_the_most_recently_used_entries() -> None:
    cache = MemoryIndexCache(max_entries=2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # a is now the most recent
    cache.put("c", b"3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1", None, b"3")
    with pytest.raises(ValueError):
        MemoryIndexCache(max_entries=0)


def test_file_cache_writes_atomically_and_leaves_no_temporary_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = FileIndexCache(tmp_path)
    cache.put("s", b"one")
    cache.put("s", b"two")
    assert cache.get("s") == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["s.v1.search-index"]
    assert cache.get("never-put") is None


@pytest.mark.parametrize(
    "snapshot_id", ["", "../../etc/passwd", "a/b", "a\\b", "..", ".hidden", "x" * 129, "snap 1", "snap\n1", None, 7]
)
def test_snapshot_ids_that_could_escape_or_collide_are_refused(tmp_path, snapshot_id) -> None:  # type: ignore[no-untyped-def]
    for cache in (FileIndexCache(tmp_path), MemoryIndexCache()):
        with pytest.raises(SnapshotIdError, match="snapshot id"):
            cache.put(snapshot_id, b"x")
        with pytest.raises(SnapshotIdError):
            cache.get(snapshot_id)
    with pytest.raises(SnapshotIdError):
        index_for_snapshot(MemoryIndexCache(), snapshot_id, both_catalogs(), embedder=None)
    assert list(tmp_path.iterdir()) == []


# -- bytes that are not a good index ------------------------------------------------------------------------------------
def _rewrite(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    arrays = dict(np.load(io.BytesIO(data), allow_pickle=False))
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _with_header(data: bytes, **updates) -> bytes:  # type: ignore[no-untyped-def]
    def change(arrays):  # type: ignore[no-untyped-def]
        header = json.loads(arrays["header"].tobytes())
        header.update(updates)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)

    return _rewrite(data, change)


@pytest.fixture(scope="module")
def good_bytes() -> bytes:
    return index_to_bytes(CatalogIndex.build(both_catalogs(), [zones_profile()], values(), embedder=CountingEmbedder()))


def test_garbage_truncated_and_foreign_archives_are_refused(good_bytes) -> None:  # type: ignore[no-untyped-def]
    for data in (b"", b"garbage", good_bytes[: len(good_bytes) // 2]):
        with pytest.raises(IndexFormatError, match="not a catalog search index"):
            index_from_bytes(data)
    buffer = io.BytesIO()
    np.savez(buffer, something=np.arange(3))
    with pytest.raises(IndexFormatError):
        index_from_bytes(buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("header.npy", b"\x93NUMPY not really")
    with pytest.raises(IndexFormatError):
        index_from_bytes(buffer.getvalue())


def test_another_format_or_version_is_refused_by_name(good_bytes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IndexFormatError, match="version 2; this code reads 1"):
        index_from_bytes(_with_header(good_bytes, version=2))
    with pytest.raises(IndexFormatError, match="unknown format"):
        index_from_bytes(_with_header(good_bytes, format="something-else"))


def test_pickled_members_are_never_loaded(good_bytes) -> None:  # type: ignore[no-untyped-def]
    def change(arrays):  # type: ignore[no-untyped-def]
        arrays["vectors"] = np.array([object()], dtype=object)

    buffer = io.BytesIO()
    arrays = dict(np.load(io.BytesIO(good_bytes), allow_pickle=False))
    change(arrays)
    np.savez(buffer, **arrays)  # numpy pickles an object array on save
    with pytest.raises(IndexFormatError):
        index_from_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    "damage",
    [
        lambda a: a.update(name_indices=a["name_indices"] + 1000),  # documents past the end
        lambda a: a.update(graph_indptr=a["graph_indptr"][:-1]),  # graph of another catalog
        lambda a: a.update(vectors=a["vectors"][:-1]),  # one vector short
        lambda a: a.update(table_group=a["table_group"] + 99),  # groups that do not exist
        lambda a: a.pop("columns_data"),  # a member missing
    ],
)
def test_inconsistent_arrays_are_refused_not_half_loaded(good_bytes, damage) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IndexFormatError, match="damaged|not a catalog"):
        index_from_bytes(_rewrite(good_bytes, damage))


def test_values_pointing_past_the_tables_are_refused(good_bytes) -> None:  # type: ignore[no-untyped-def]
    header = json.loads(np.load(io.BytesIO(good_bytes))["header"].tobytes())
    entries = header["values"]["entries"]
    entries[0][1][0][0] = 10_000
    with pytest.raises(IndexFormatError, match="value points past"):
        index_from_bytes(_with_header(good_bytes, values=header["values"]))


def test_the_cache_module_keeps_its_format_version_in_file_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert FileIndexCache(tmp_path).path("s").name == f"s.v{cache_module.VERSION}.search-index"

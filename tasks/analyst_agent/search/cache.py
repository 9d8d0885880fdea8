"""Where built indexes wait between questions: one per catalog snapshot, as bytes.

`IndexCache` is the whole contract (get / put bytes by snapshot id). In production the store keeps them, beside the
snapshots they index (`store_index_cache()`: `store.index_cache.StoreIndexCache`, size-bounded, an index deleted
with its snapshot, shared by every worker of the runtime database). Two more implementations here for tools and
tests: in memory (one process, bounded LRU) and files in a directory (one file per snapshot, written atomically).

`index_for_snapshot` is the one call the agent makes: the cached index when it is readable and was built with the
embedding model at hand, else a fresh build (reusing the old vectors of unchanged tables of the previous snapshot's
index) that is then cached. Given `cache=None` it uses the store's cache; `index_for_stored_snapshot` also reads the
snapshot (catalog, profiles, previous snapshot id) from the store.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Iterable, Protocol

from connectors.catalog import Catalog, TableProfile
from tasks.analyst_agent.search.dense import Embedder, load_embedder
from tasks.analyst_agent.search.index import CatalogIndex
from tasks.analyst_agent.search.results import ColumnValues
from tasks.analyst_agent.search.serialize import VERSION, IndexFormatError, index_from_bytes, index_to_bytes

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class SnapshotIdError(ValueError):
    """A snapshot id that cannot key a cache entry (empty, too long, or not a plain name)."""


def check_snapshot_id(snapshot_id: str) -> str:
    if not isinstance(snapshot_id, str) or not _SAFE_ID.match(snapshot_id) or ".." in snapshot_id:
        shown = snapshot_id[:40] + "..." if isinstance(snapshot_id, str) and len(snapshot_id) > 40 else snapshot_id
        raise SnapshotIdError(f"not a usable snapshot id: {shown!r} (letters, digits, '_', '-', '.'; at most 128)")
    return snapshot_id


class IndexCache(Protocol):
    """Serialized indexes by snapshot id. `get` returns None for an id never put (or evicted)."""

    def get(self, snapshot_id: str) -> bytes | None: ...

    def put(self, snapshot_id: str, data: bytes) -> object: ...


def store_index_cache(database_url: str | None = None, *, max_bytes: int | None = None) -> IndexCache:
    """The production cache: the store's table of serialized indexes, keyed by snapshot id (store/index_cache.py)."""
    from store.index_cache import StoreIndexCache  # the store (and the runtime under it) only when asked for

    return StoreIndexCache(database_url=database_url, max_bytes=max_bytes)


class MemoryIndexCache:
    """The last `max_entries` indexes of this process."""

    def __init__(self, max_entries: int = 8) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, snapshot_id: str) -> bytes | None:
        check_snapshot_id(snapshot_id)
        with self._lock:
            data = self._entries.get(snapshot_id)
            if data is not None:
                self._entries.move_to_end(snapshot_id)
            return data

    def put(self, snapshot_id: str, data: bytes) -> None:
        check_snapshot_id(snapshot_id)
        with self._lock:
            self._entries[snapshot_id] = bytes(data)
            self._entries.move_to_end(snapshot_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


class FileIndexCache:
    """One file per snapshot in `directory`; a put replaces the file atomically, so a reader never sees half."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, snapshot_id: str) -> Path:
        return self.directory / f"{check_snapshot_id(snapshot_id)}.v{VERSION}.search-index"

    def get(self, snapshot_id: str) -> bytes | None:
        try:
            return self.path(snapshot_id).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, snapshot_id: str, data: bytes) -> None:
        target = self.path(snapshot_id)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".search-index")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def index_for_snapshot(
    cache: IndexCache | None,
    snapshot_id: str,
    catalog: Catalog,
    profiles: Iterable[TableProfile] = (),
    values: Iterable[ColumnValues] = (),
    *,
    embedder: Embedder | None | str = "auto",
    previous_snapshot_id: str | None = None,
) -> CatalogIndex:
    """The snapshot's index from the cache, or built (and cached) when missing, unreadable or built with another
    embedding model than the one at hand. `previous_snapshot_id` names an older snapshot of the same source whose
    cached index lends its vectors to unchanged tables. `cache=None`: the store's cache (`store_index_cache()`)."""
    check_snapshot_id(snapshot_id)
    if cache is None:
        cache = store_index_cache()
    model = load_embedder() if embedder == "auto" else embedder
    wanted_model = model.model_id if model is not None else None  # type: ignore[union-attr]
    cached = _load(cache, snapshot_id)
    if cached is not None and cached.model_id == wanted_model:
        return cached
    previous = cached or (_load(cache, previous_snapshot_id) if previous_snapshot_id else None)
    index = CatalogIndex.build(catalog, profiles, values, embedder=model, previous=previous, snapshot_id=snapshot_id)
    cache.put(snapshot_id, index_to_bytes(index))
    return index


def _load(cache: IndexCache, snapshot_id: str) -> CatalogIndex | None:
    data = cache.get(snapshot_id)
    if data is None:
        return None
    try:
        return index_from_bytes(data)
    except IndexFormatError:
        return None  # an older format or a damaged entry: rebuilt and overwritten by the caller


def index_for_stored_snapshot(
    snapshot_id: str,
    values: Iterable[ColumnValues] = (),
    *,
    cache: IndexCache | None = None,
    database_url: str | None = None,
    embedder: Embedder | None | str = "auto",
) -> CatalogIndex:
    """The index of a snapshot of the store, read with its profiles (whose top values of low-cardinality text
    columns feed the value index); the previous snapshot's cached index lends its vectors to unchanged tables.
    SnapshotNotFoundError when the store has no such snapshot."""
    from store import snapshots
    from store.errors import SnapshotNotFoundError

    check_snapshot_id(snapshot_id)
    snapshot = snapshots.get_snapshot(snapshot_id, database_url=database_url)
    if snapshot is None:
        raise SnapshotNotFoundError(f"no snapshot with id {snapshot_id!r}")
    return index_for_snapshot(
        cache if cache is not None else store_index_cache(database_url),
        snapshot.id,
        snapshot.catalog,
        snapshot.profiles,
        values,
        embedder=embedder,
        previous_snapshot_id=snapshot.previous_snapshot_id,
    )

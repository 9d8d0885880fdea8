"""Catalog search for the analyst agent: which few tables, among all a customer has, a question needs.

    index = CatalogIndex.build(catalog, profiles, values)      # once per snapshot (or index_for_snapshot(cache, ...))
    hits = index.search("How many flights leave from Aberdeen?", k=5)
    hits[0].table, hits[0].score, hits[0].matched_columns, hits[0].reasons

See README.md beside this file for the signals, the fusion, the cache and the measured figures.
"""

from tasks.analyst_agent.search.cache import (
    FileIndexCache,
    IndexCache,
    MemoryIndexCache,
    SnapshotIdError,
    index_for_snapshot,
    index_for_stored_snapshot,
    store_index_cache,
)
from tasks.analyst_agent.search.dense import EmbeddingModelError, embeddings_available, load_embedder
from tasks.analyst_agent.search.index import CatalogIndex, SearchInputError
from tasks.analyst_agent.search.results import ColumnValues, Reason, TableHit, TableKey
from tasks.analyst_agent.search.serialize import IndexFormatError, index_from_bytes, index_to_bytes

__all__ = [
    "CatalogIndex",
    "ColumnValues",
    "EmbeddingModelError",
    "FileIndexCache",
    "IndexCache",
    "IndexFormatError",
    "MemoryIndexCache",
    "Reason",
    "SearchInputError",
    "SnapshotIdError",
    "TableHit",
    "TableKey",
    "embeddings_available",
    "index_for_snapshot",
    "index_for_stored_snapshot",
    "index_from_bytes",
    "index_to_bytes",
    "load_embedder",
    "store_index_cache",
]

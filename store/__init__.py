"""The platform's store: registered data sources (credentials encrypted), catalog snapshots and their diffs, the
search index per snapshot, the analyst agent's metrics, dashboards and chats, the API's keys and webhooks.

    from store import sources, snapshots
    source = sources.add_source("warehouse", {"type": "postgres", ...}, filters={"include_schemas": ["public"]})
    snapshots.latest_snapshot(source.id)

It lives in the runtime's database (SQLite file or PostgreSQL), reached only through `runtime.database_engine`.
Tasks, the CLI and the API use it; `runtime/` and `connectors/` never import it. The agent's modules
(`store.metrics`, `store.dashboards`, `store.chats`), `store.index_cache`, `store.api_keys` and `store.webhooks` are
imported by name where they are used.
"""

from store import snapshots, source_schedules, sources
from store.diff import ColumnChange, DiffSummary, SnapshotDiff, diff_catalogs
from store.errors import (
    InvalidSourceError,
    NoSnapshotError,
    SecretDecryptError,
    SecretKeyError,
    SnapshotNotFoundError,
    SourceExistsError,
    SourceNotFoundError,
    StoreError,
)
from store.snapshots import Snapshot, SnapshotSummary, SnapshotWarning
from store.sources import DataSource, RemovedSource, SourceRef

__all__ = [
    "ColumnChange",
    "DataSource",
    "DiffSummary",
    "InvalidSourceError",
    "NoSnapshotError",
    "RemovedSource",
    "SecretDecryptError",
    "SecretKeyError",
    "Snapshot",
    "SnapshotDiff",
    "SnapshotNotFoundError",
    "SnapshotSummary",
    "SnapshotWarning",
    "SourceExistsError",
    "SourceNotFoundError",
    "SourceRef",
    "StoreError",
    "diff_catalogs",
    "snapshots",
    "source_schedules",
    "sources",
]

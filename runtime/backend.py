"""One handle per database: DBOS's system tables (runtime.dbos_adapter.SystemDatabase) and the runtime's own tables.

Every process that triggers, inspects or cancels runs goes through a Backend; a Worker adds execution on top.
DBOS itself is known only to runtime.dbos_adapter.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from runtime.config import load_config, resolve_database_url
from runtime.dbos_adapter import APP_NAME, WORKFLOW_PREFIX, SystemDatabase, quiet_dbos_logs, workflow_name
from runtime.secret_key import Keyring, load_keyring
from runtime.serializer import SealingSerializer
from runtime.store import create_store_engine, create_tables
from runtime.versions import VersionError, code_version, hashed_version

__all__ = ["APP_NAME", "APP_VERSION", "WORKFLOW_PREFIX", "Backend", "database_engine", "get_backend", "reset_backends", "secret_keyring", "set_active", "workflow_name"]



def _version_at_import() -> str:
    try:
        return code_version()
    except VersionError:  # refused again, naming the setting, where a run is triggered or a worker starts
        return hashed_version()


# This process's code version when it was imported (runs are triggered with `code_version()`, read at each trigger).
APP_VERSION = _version_at_import()


class Backend:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = create_store_engine(url)  # also switches a SQLite file to WAL before DBOS opens it
        quiet_dbos_logs()
        # Readers outside the worker never decrypt what DBOS recorded: sealed values read back as envelopes.
        self.dbos = SystemDatabase(url, SealingSerializer(self.keyring, opens=False), load_config().sqlite_synchronous)
        create_tables(self.engine)

    # DBOS's own handles, for test helpers that write rows no code path of the runtime writes (see dbos_adapter).
    @property
    def client(self) -> Any:
        return self.dbos.client

    @property
    def sys_db(self) -> Any:
        return self.dbos.sys_db

    @property
    def workflows(self) -> sa.Table:
        return self.dbos.workflows

    @property
    def sys_engine(self) -> sa.Engine:
        return self.dbos.engine

    def keyring(self) -> Keyring:
        """The keys for this database (runtime.secret_key): a key file may stand in for the environment on SQLite only."""
        return load_keyring(sqlite=self.is_sqlite, database="PostgreSQL")

    def close(self) -> None:
        try:
            self.dbos.close()
        finally:
            self.engine.dispose()


_backends: dict[str, Backend] = {}
_backends_lock = threading.Lock()
_active: list[Backend] = []  # the backend of the Worker running in this process, if any


def get_backend(url: str | None = None) -> Backend:
    """The backend for `url`; without one, the running Worker's, else the configured database's."""
    if url is None and _active:
        return _active[-1]
    resolved = resolve_database_url(url)
    with _backends_lock:
        backend = _backends.get(resolved)
        if backend is None:
            backend = Backend(resolved)
            _backends[resolved] = backend
        return backend


def database_engine(database_url: str | None = None) -> sa.Engine:
    """The SQLAlchemy engine of the runtime's database (the running Worker's, else the configured one).

    Packages that keep their own tables beside the runtime's (the store: data sources, snapshots) reach the
    database through this one door, so they share its pool, its SQLite WAL set-up and its URL resolution.
    """
    return get_backend(database_url).engine


def secret_keyring(database_url: str | None = None) -> Keyring:
    """The Fernet keys that encrypt secrets in the runtime's database (the running Worker's, else the configured one).

    SecretKeyError when there is none (PostgreSQL without TASKPACK_SECRET_KEY) or it is unusable. The store encrypts
    registered credentials with it, so one key (and one rotation) covers everything the database holds.
    """
    return get_backend(database_url).keyring()


def set_active(backend: Backend | None) -> None:
    _active.clear()
    if backend is not None:
        _active.append(backend)


def reset_backends() -> None:
    """Close every cached backend (tests switching databases)."""
    with _backends_lock:
        for backend in _backends.values():
            try:
                backend.close()
            except Exception:
                pass
        _backends.clear()
    _active.clear()

"""One handle per database: DBOS's system tables (through a DBOSClient) and the runtime's own tables.

Every process that triggers, inspects or cancels runs goes through a Backend; a Worker adds execution on top.
DBOS names appear only here, in execution.py and in worker.py.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, DBOSClient

from runtime.config import resolve_database_url
from runtime.secret_key import Keyring, load_keyring
from runtime.serializer import SealingSerializer
from runtime.store import create_store_engine, create_tables

APP_VERSION = "taskpack-1"
APP_NAME = "taskpack"
WORKFLOW_PREFIX = "taskpack:"

log = logging.getLogger("taskpack")


def workflow_name(task_id: str) -> str:
    return WORKFLOW_PREFIX + task_id


class Backend:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = create_store_engine(url)  # also switches a SQLite file to WAL before DBOS opens it
        _quiet_dbos_logs()
        DBOS.migrate(url)
        create_tables(self.engine)
        # Readers outside the worker never decrypt what DBOS recorded: sealed values read back as envelopes.
        self.client = DBOSClient(
            system_database_url=url, application_name=APP_NAME, serializer=SealingSerializer(self.keyring, opens=False)
        )
        self.sys_db = self.client._sys_db
        self.workflows = self.sys_db.tables.workflow_status
        self.sys_engine: sa.Engine = self.sys_db.engine

    def keyring(self) -> Keyring:
        """The keys for this database (runtime.secret_key): a key file may stand in for the environment on SQLite only."""
        return load_keyring(sqlite=self.is_sqlite, database="PostgreSQL")

    def attributes_field(self, key: str) -> sa.ColumnElement[Any]:
        return self.workflows.c.attributes[key]

    def close(self) -> None:
        try:
            self.client.destroy()
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


class _ExpectedEndings(logging.Filter):
    """DBOS logs every workflow that raises; a run ending FAILED/TIMED_OUT is an outcome, not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        from runtime.errors import RunFailed

        if isinstance(exc, RunFailed):
            return False
        if exc is not None and "Cancel" in type(exc).__name__:
            return False  # a canceled run (or a parent awaiting one) is a normal ending
        message = record.getMessage()
        return not ("was cancelled" in message or "outcome was not recorded" in message)


def _quiet_dbos_logs() -> None:
    dbos_log = logging.getLogger("dbos")
    dbos_log.setLevel(logging.WARNING)
    if not any(isinstance(f, _ExpectedEndings) for f in dbos_log.filters):
        dbos_log.addFilter(_ExpectedEndings())
        for handler in dbos_log.handlers:
            handler.addFilter(_ExpectedEndings())

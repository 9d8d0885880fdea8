"""SQLite: DBOS's writers of one process queue on one lock per file (not SQLite's sleeping busy handler), the lock is
let go however a transaction ends, and `sqlite_synchronous` sets how a commit waits for the disk."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime.backend import get_backend, reset_backends
from runtime.config import load_config


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    yield f"sqlite:///{tmp_path / 'writers.sqlite'}"
    reset_backends()


def _lock(engine: sa.Engine) -> threading.Lock:
    return engine.dialect.taskpack_writer_lock  # type: ignore[attr-defined]


def test_a_write_transaction_holds_the_files_writer_lock_until_it_commits_or_rolls_back(sqlite_url: str) -> None:
    engine = get_backend(sqlite_url).sys_engine
    lock = _lock(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY)")
    assert not lock.locked()
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
        assert not lock.locked()  # reads take no turn at the writer
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert lock.locked()  # from the first write to the commit
    assert not lock.locked()
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")  # the transaction fails: rolled back
    assert not lock.locked()
    conn = engine.connect()
    conn.exec_driver_sql("INSERT INTO t VALUES (3)")
    assert lock.locked()
    conn.close()  # returned to the pool without a commit: the pool's rollback lets go
    assert not lock.locked()


def test_a_second_writer_waits_for_the_first_and_starts_as_it_commits(sqlite_url: str) -> None:
    engine = get_backend(sqlite_url).sys_engine
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY)")
    committed, wrote = [], []

    def second() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            wrote.append(time.monotonic())

    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        assert wrote == []  # queued behind the first writer
        committed.append(time.monotonic())
    thread.join(10)
    assert wrote and 0 <= wrote[0] - committed[0] < 0.25


@pytest.mark.parametrize("mode, pragma", [("FULL", 2), ("NORMAL", 1)])
def test_sqlite_synchronous_sets_how_dboss_connections_commit(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, mode: str, pragma: int) -> None:
    monkeypatch.setattr(load_config(), "sqlite_synchronous", mode)
    engine = get_backend(sqlite_url).sys_engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == pragma

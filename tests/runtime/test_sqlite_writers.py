"""SQLite: DBOS's writers queue on one lock per file, across processes (not SQLite's sleeping busy handler), the lock is
let go however a transaction ends, and `sqlite_synchronous` sets how a commit waits for the disk."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime import dbos_adapter
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


_OTHER_PROCESS_WRITER = """
import sys, time
from runtime.backend import get_backend
engine = get_backend(sys.argv[1]).sys_engine
with engine.begin() as conn:
    conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    print("HOLDING", flush=True)
    time.sleep(0.6)
    print(f"COMMITTING {time.time()}", flush=True)
"""


def test_a_writer_of_another_process_is_waited_for_on_the_lock_file_and_followed_at_once(sqlite_url: str, tmp_path: Path) -> None:
    """Processes queue on an flock of `<database>-writer.lock` (mode 0600) instead of SQLite's busy handler, which
    sleeps up to 100 ms between looks after a long wait: this process's writer, with SQLite's busy handler turned off
    (busy_timeout=0: a writer that met the other's lock in SQLite would fail at once with "database is locked"),
    waits for the other process's transaction and starts right after its commit."""
    engine = get_backend(sqlite_url).sys_engine
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (a INTEGER PRIMARY KEY)")
    lock_file = tmp_path / ("writers.sqlite" + dbos_adapter.WRITER_LOCK_SUFFIX)
    assert lock_file.exists() and oct(lock_file.stat().st_mode & 0o777) == "0o600"
    other = subprocess.Popen([sys.executable, "-c", _OTHER_PROCESS_WRITER, sqlite_url], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "HOLDING"
        asked = time.time()
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
                wrote = time.time()
            finally:
                conn.exec_driver_sql("PRAGMA busy_timeout=30000")  # DBOS's setting, for the pool's next user
        committed = float(other.stdout.readline().split()[1])
    finally:
        other.wait(timeout=30)
    assert wrote - asked >= 0.4  # it waited for the other process's transaction
    # 2-5 ms on a quiet machine (SQLite's busy handler: ~30-35 ms); the bound leaves room for a host slow to wake
    assert 0 <= wrote - committed < 0.2, wrote - committed
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 2


@pytest.mark.parametrize("mode, pragma", [("FULL", 2), ("NORMAL", 1)])
def test_sqlite_synchronous_sets_how_dboss_connections_commit(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, mode: str, pragma: int) -> None:
    monkeypatch.setattr(load_config(), "sqlite_synchronous", mode)
    engine = get_backend(sqlite_url).sys_engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == pragma


def test_no_connection_to_a_sqlite_file_is_pinged_before_use(sqlite_url: str) -> None:
    """A file's connection has no server to drop it: neither the worker's DBOS engine nor a trigger's client runs the
    pool's `SELECT 1` at checkout (it was one statement per trigger, dequeue and outcome), and runs still complete."""
    import dbos._dbos as dbos_instance

    from runtime import RunStatus, Worker, runs, tasks
    from tests.runtime import sample_tasks

    seen: list[str] = []
    with Worker(database_url=sqlite_url, tasks=[sample_tasks], concurrency=2):
        engines = [get_backend(sqlite_url).dbos.engine, dbos_instance._get_dbos_instance()._sys_db.engine]
        for engine in engines:
            engine.dispose()  # every connection from here on is a new one, traced
            sa.event.listen(engine, "connect", lambda dbapi, _record: dbapi.set_trace_callback(seen.append))
        handles = [tasks.trigger("t-noop", {"i": i}, database_url=sqlite_url) for i in range(5)]
        assert {runs.wait(h.id, timeout=30, database_url=sqlite_url).status for h in handles} == {RunStatus.COMPLETED}
    assert any("workflow_status" in statement for statement in seen), "the trace saw the runs' statements"
    assert [s for s in seen if s.strip().upper() == "SELECT 1"] == []


def test_the_embedded_default_commits_without_a_disk_flush_per_commit(sqlite_url: str) -> None:
    """The project default (trigger_config.py, as Rails sets up SQLite) is synchronous=NORMAL in WAL mode: DBOS's
    connections and the runtime's own tables both commit without waiting for the disk."""
    assert load_config().sqlite_synchronous == "NORMAL"
    backend = get_backend(sqlite_url)
    for engine in (backend.dbos.engine, backend.engine):
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 1


def test_no_listener_is_added_to_an_engine_other_threads_already_use(sqlite_url: str) -> None:
    """The writer turns and the commit setting hang on listeners of every engine and pool, installed at import: adding
    one to DBOS's engine after launch raced its scheduler thread ("deque mutated during iteration", a traceback in the
    CLI's output). The engines themselves carry no listener of ours."""
    import dbos._dbos as dbos_instance

    from runtime import Worker
    from tests.runtime import sample_tasks

    assert sa.event.contains(sa.engine.Engine, "before_cursor_execute", dbos_adapter._take_writer_turn)
    assert sa.event.contains(sa.pool.Pool, "connect", dbos_adapter._sqlite_synchronous_on_connect)
    with Worker(database_url=sqlite_url, tasks=[sample_tasks], concurrency=2):
        for engine in (get_backend(sqlite_url).dbos.engine, dbos_instance._get_dbos_instance()._sys_db.engine):
            assert engine.dialect.taskpack_writer is not None  # type: ignore[attr-defined]
            own = [fn for fn in engine.dispatch.before_cursor_execute.listeners if getattr(fn, "__module__", "") == dbos_adapter.__name__]
            own += [fn for fn in engine.pool.dispatch.connect.listeners if getattr(fn, "__module__", "") == dbos_adapter.__name__]
            assert own == [], own

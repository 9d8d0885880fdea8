"""Runtime tests run twice: on the embedded SQLite default and on the real PostgreSQL (a fresh database each)."""

from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy as sa

from runtime import Worker
from runtime.backend import reset_backends
from tests.conftest import PG_HOST, PG_PORT, PG_USER, require_service
from tests.runtime import sample_tasks


def _pg_admin() -> sa.Engine:
    return sa.create_engine(f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/test", isolation_level="AUTOCOMMIT")


def make_database(kind: str, tmp_path: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'taskpack.sqlite'}", lambda: None
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    name = f"tp_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}", drop


def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """The first truthy value `check()` returns, polled every 0.1 s; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh runtime database ("sqlite" file or "postgres" database), dropped on exit after this process's engines
    let go of it."""
    url, drop = make_database(kind, tmp_path)
    try:
        yield url
    finally:
        reset_backends()
        drop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def worker(db_url: str) -> Iterator[Worker]:
    sample_tasks.EVENTS.clear()
    with Worker(database_url=db_url, tasks=[sample_tasks], concurrency=8, heartbeat_interval=0.5, dead_worker_after=3) as w:
        yield w


@pytest.fixture
def token() -> str:
    return uuid.uuid4().hex[:12]


def record_looks(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[tuple[bool, bool]]:
    """Every status read `module` makes through its `peek_status` from now on, as (whether that run was executing in
    this process at the time, whether the status read was final): what the wake-up tests count to prove a waiter does
    not poll a run it will be woken by."""
    from runtime.context import executing_here

    looks: list[tuple[bool, bool]] = []
    peek = module.peek_status

    def counted(backend: Any, run_id: str) -> Any:
        here = executing_here(run_id)
        status = peek(backend, run_id)
        looks.append((here, status.is_final))
        return status

    monkeypatch.setattr(module, "peek_status", counted)
    return looks


def assert_looked_only_as_woken(looks: list[tuple[bool, bool]], *, ends_with_a_look: bool = True) -> None:
    """The waiter read the run's status while it executed here once (the look that found it started; twice if the
    one-second safety net came round), not between its code returning and its outcome being recorded (the first of
    its two wake-ups), and last when it had ended; or, `ends_with_a_look=False`, not at all after its end (the
    waiter read the ended run whole at once)."""
    assert 1 <= sum(1 for here, _ in looks if here) <= 2, looks
    started = next(n for n, (here, _) in enumerate(looks) if here)
    assert all(final for here, final in looks[started:] if not here), looks  # nothing read it unfinished meanwhile
    if ends_with_a_look:
        assert looks[-1] == (False, True), looks
    else:
        assert all(here for here, _ in looks[started:]), looks

"""A PostgreSQL source for the profiling fan-out tests (`tid_fan_<random>`, dropped afterwards), and a worker per test
on a SQLite or a fresh PostgreSQL runtime database.

The schema holds three kinds of relations, picked with `include_tables` globs:
- `t1` … `t7`: tables with data, one of them large enough to be sampled (TABLESAMPLE) rather than read whole;
- `pace_1` … `pace_6`: views whose rows wait 50 ms each on the server, so one profile takes about a second;
- `slow_1` … `slow_4`: views of 1,000 such rows, whose profile would take minutes: only a timeout or a cancel ends it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from runtime import Worker
from runtime.backend import reset_backends
from store.secrets import ENV_KEY, ENV_PREVIOUS
from tasks.introspect_data import task as introspect_module
from tests.runtime.conftest import make_database

SUFFIX = uuid.uuid4().hex[:6]
TABLES = [f"t{i}" for i in range(1, 8)]
PACE_VIEWS = [f"pace_{i}" for i in range(1, 7)]
SLOW_VIEWS = [f"slow_{i}" for i in range(1, 5)]

FAN_DDL = """
CREATE TABLE {s}.t1 (id integer PRIMARY KEY, email text NOT NULL, plan text, created_at timestamptz);
INSERT INTO {s}.t1 SELECT g, 'user' || g || '@example.com', CASE WHEN g % 3 = 0 THEN 'pro' ELSE 'free' END,
    timestamptz '2024-01-01' + g * interval '1 hour' FROM generate_series(1, 300) g;
CREATE TABLE {s}.t2 (id integer PRIMARY KEY, t1_id integer REFERENCES {s}.t1(id), amount numeric(10,2));
INSERT INTO {s}.t2 SELECT g, 1 + g % 300, (g % 97) * 1.25 FROM generate_series(1, 5000) g;
CREATE TABLE {s}.t3 (code text PRIMARY KEY, label text);
INSERT INTO {s}.t3 SELECT 'c' || g, CASE WHEN g % 5 = 0 THEN NULL ELSE 'label ' || (g % 7) END FROM generate_series(1, 120) g;
CREATE TABLE {s}.t4 (id bigint PRIMARY KEY, flag boolean, score double precision);
INSERT INTO {s}.t4 SELECT g, g % 2 = 0, g / 7.0 FROM generate_series(1, 800) g;
CREATE TABLE {s}.t5 (id integer PRIMARY KEY, day date NOT NULL);
INSERT INTO {s}.t5 SELECT g, date '2024-01-01' + g FROM generate_series(1, 400) g;
CREATE TABLE {s}.t6 (id integer PRIMARY KEY, note text);
CREATE TABLE {s}.t7 (id integer PRIMARY KEY, qty integer, price numeric(8,2));
INSERT INTO {s}.t7 SELECT g, g % 13, (g % 29) * 0.5 FROM generate_series(1, 2500) g;
ANALYZE {s}.t1; ANALYZE {s}.t2; ANALYZE {s}.t3; ANALYZE {s}.t4; ANALYZE {s}.t5; ANALYZE {s}.t6; ANALYZE {s}.t7;
"""
PACE_DDL = "CREATE VIEW {s}.{name} AS SELECT x AS id, 'row ' || x AS label FROM generate_series(1, 8) x WHERE pg_sleep(0.05) IS NOT NULL;"
SLOW_DDL = "CREATE VIEW {s}.{name} AS SELECT x AS id, 'row ' || x AS label FROM generate_series(1, 1000) x WHERE pg_sleep(0.05) IS NOT NULL;"


@dataclass(frozen=True)
class FanSource:
    url: str
    schema: str

    def credentials(self, **overrides: Any) -> dict[str, Any]:
        parsed = make_url(self.url)
        creds: dict[str, Any] = {
            "type": "postgres", "host": parsed.host or "127.0.0.1", "port": parsed.port or 5432,
            "database": parsed.database, "username": parsed.username, "ssl_mode": "disable", "connect_timeout": 3,
        }
        creds.update(overrides)
        return creds

    def filters(self, *tables: str) -> dict[str, Any]:
        return {"include_schemas": [self.schema], "include_tables": list(tables)}

    def admin(self) -> psycopg.Connection[Any]:
        parsed = make_url(self.url)
        return psycopg.connect(host=parsed.host, port=parsed.port or 5432, dbname=parsed.database, user=parsed.username,
                               autocommit=True)

    def sessions_reading(self, admin: psycopg.Connection[Any], views: list[str]) -> set[int]:
        """pids of active server sessions reading any of these views (their locks name them; pg_stat_activity only
        shows a named cursor's FETCH, and other engineers' sessions share the connector's application_name)."""
        rows = admin.execute(
            "SELECT DISTINCT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.relation = ANY (%s::regclass[]) AND l.pid <> pg_backend_pid() AND a.state = 'active'",
            [[f'"{self.schema}".{v}' for v in views]],
        ).fetchall()
        return {int(r[0]) for r in rows}

    def end_sessions_reading(self, admin: psycopg.Connection[Any], views: list[str]) -> int:
        """Ends every server session still reading these views. A test that fails mid-way leaves its worker's thread
        reading a slow view for minutes (a stopped in-process worker cannot kill its threads); the next test would take
        that session for one of its own."""
        pids = self.sessions_reading(admin, views)
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return len(pids)

    def wait_for_sessions(self, admin: psycopg.Connection[Any], views: list[str], count: int, within_s: float = 20) -> set[int]:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            pids = self.sessions_reading(admin, views)
            if len(pids) >= count:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} sessions ever read {views}")


@pytest.fixture(scope="session")
def fan_source(postgres_url: str) -> Iterator[FanSource]:
    source = FanSource(url=postgres_url, schema=f"tid_fan_{SUFFIX}")
    ddl = [FAN_DDL] + [PACE_DDL.replace("{name}", v) for v in PACE_VIEWS] + [SLOW_DDL.replace("{name}", v) for v in SLOW_VIEWS]
    with source.admin() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{source.schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{source.schema}"')
        for script in ddl:
            conn.execute(script.format(s=f'"{source.schema}"'))
    try:
        yield source
    finally:
        with source.admin() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{source.schema}" CASCADE')


@dataclass
class Runtime:
    kind: str
    url: str
    worker: Worker


@pytest.fixture(params=["sqlite", "postgres"])
def runtime_db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A worker (concurrency 4: never the bound under test) on a SQLite file or a fresh PostgreSQL database. The
    store's key: the generated key file on SQLite, the environment on PostgreSQL (where it is required)."""
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    monkeypatch.delenv(ENV_PREVIOUS, raising=False)
    if request.param == "postgres":
        monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    else:
        monkeypatch.delenv(ENV_KEY, raising=False)
    url, drop = make_database(request.param, tmp_path)
    try:
        with Worker(database_url=url, tasks=[introspect_module], concurrency=4) as worker:
            yield Runtime(kind=request.param, url=url, worker=worker)
    finally:
        reset_backends()
        drop()

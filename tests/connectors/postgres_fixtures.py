"""Fixtures and helpers shared by the PostgreSQL and Redshift tests (imported by those test modules).

Everything created on the shared server uses the `cpg_` prefix so engineers working in parallel never collide.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
import sqlalchemy as sa

from connectors.credentials import PostgresCredentials, parse_credentials
from connectors.postgres import PostgresConnector
from tests.connectors.spider_loader import SPIDER_DATABASES, load_spider_dev, schema_name

SPIDER_PREFIX = "cpg_"
SPIDER_SCHEMAS = [schema_name(SPIDER_PREFIX, db) for db in SPIDER_DATABASES]
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def credentials_from_url(url: str, **overrides: Any) -> PostgresCredentials:
    parsed = sa.engine.make_url(url)
    data: dict[str, Any] = {
        "type": "postgres",
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "database": parsed.database,
        "username": parsed.username,
        "ssl_mode": "disable",
        "connect_timeout": 3,
    }
    data.update(overrides)
    return parse_credentials(data)  # type: ignore[return-value]


def admin_connection(url: str) -> psycopg.Connection[Any]:
    """A plain autocommit psycopg connection for setup and for watching pg_stat_activity."""
    parsed = sa.engine.make_url(url)
    return psycopg.connect(
        host=parsed.host, port=parsed.port or 5432, dbname=parsed.database, user=parsed.username, autocommit=True
    )


def backends(admin: psycopg.Connection[Any], application_name: str, *, active_only: bool = False) -> int:
    sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()"
    if active_only:
        sql += " AND state = 'active'"
    row = admin.execute(sql, [application_name]).fetchone()
    return int(row[0]) if row else 0


def wait_for_backends(admin: psycopg.Connection[Any], application_name: str, expected: int, *, active_only: bool = False, within_s: float = 2.0) -> int:
    """pg_stat_activity lags a disconnect by a few milliseconds; poll briefly for the expected count."""
    deadline = time.monotonic() + within_s
    while True:
        count = backends(admin, application_name, active_only=active_only)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


def unique_app_name(label: str) -> str:
    return f"cpg_test_{label}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def pg_credentials(postgres_url: str) -> PostgresCredentials:
    return credentials_from_url(postgres_url)


@pytest.fixture(scope="session")
def spider_pg(postgres_url: str) -> list[str]:
    """The ten spider-dev databases, one schema each (`cpg_<db>`), loaded once and reused across runs."""
    return load_spider_dev(postgres_url, SPIDER_PREFIX, replace=False)


@pytest.fixture
def pg_admin(postgres_url: str) -> Iterator[psycopg.Connection[Any]]:
    conn = admin_connection(postgres_url)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def pg_connector(pg_credentials: PostgresCredentials) -> Iterator[PostgresConnector]:
    connector = PostgresConnector(pg_credentials, application_name=unique_app_name("conn"))
    try:
        yield connector
    finally:
        connector.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def scram_server() -> Iterator[dict[str, Any]]:
    """A throwaway PostgreSQL cluster that really checks passwords (scram-sha-256).

    The shared server trusts every local connection, so a wrong password would be accepted there and the 28P01 path
    could never run. This cluster is created with `initdb -A scram-sha-256` on a free port, lives for the test
    session, and is removed afterwards. Needs the PostgreSQL server binaries (they come with the service) and, when
    running as root, the `postgres` system user to own the data directory.
    """
    initdb = next((d / "initdb" for d in PG_BIN_DIRS if (d / "initdb").exists()), None)
    if initdb is None:
        message = "PostgreSQL server binaries (initdb) not found"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    bin_dir = initdb.parent
    run_as: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="cpg_scram_"))
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(workdir, "postgres")
    password = f"cpg-Scram-{uuid.uuid4().hex}"
    pwfile = workdir / "pw"
    pwfile.write_text(password + "\n")
    if run_as:
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    data = workdir / "data"
    try:
        subprocess.run(
            [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "scram-sha-256", "-U", "cpg_owner",
             f"--pwfile={pwfile}", "--no-sync", "--no-instructions"],
            check=True, capture_output=True, timeout=60,
        )
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(workdir / "log"), "-o",
             f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
            check=True, capture_output=True, timeout=60,
        )
        yield {"host": "127.0.0.1", "port": port, "database": "postgres", "username": "cpg_owner", "password": password}
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


# A statement that runs for minutes and that the read-only guard accepts (a sleep longer than the query's timeout is
# refused by the guard before it reaches the server, so server-side timeouts are proved with real work instead).
SLOW_PG_QUERY = "SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b"

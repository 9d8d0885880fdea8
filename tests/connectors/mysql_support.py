"""Fixtures and helpers shared by the MySQL/MariaDB connector tests (test_mysql_*.py import what they use).

The tests connect as their own user `cmy_tester_<random>` with a password (the local root has none, and the auth and
secret-leak tests need one), so the server's process list can be filtered to this suite's connections even when
other engineers' tests use the same server. Everything this suite creates is named `cmy_*`.
"""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any, Iterator

import pymysql
import pytest
from sqlalchemy.engine import make_url

from tests.connectors.spider_loader import load_spider_dev

PREFIX = "cmy_"
#: per run, so two test runs on one server never drop each other's user (MariaDB user names: at most 80 chars)
TEST_USER = f"cmy_tester_{secrets.token_hex(4)}"
#: recognisable, so a leak is easy to spot; random per run so nothing real is ever baked in
TEST_PASSWORD = f"cmyPw-{secrets.token_urlsafe(12)}"


def _url_parts(mysql_url: str) -> dict[str, Any]:
    url = make_url(mysql_url)
    return {"host": url.host or "127.0.0.1", "port": url.port or 3306, "user": url.username or "root", "password": url.password or ""}


def admin_connect(mysql_url: str, database: str | None = None) -> pymysql.Connection:
    parts = _url_parts(mysql_url)
    return pymysql.connect(**parts, database=database, autocommit=True, charset="utf8mb4")


@pytest.fixture(scope="session")
def mysql_admin(mysql_url: str) -> Iterator[pymysql.Connection]:
    """A root connection for setup and for watching the process list."""
    conn = admin_connect(mysql_url)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def mysql_tester(mysql_url: str, mysql_admin: pymysql.Connection) -> Iterator[dict[str, Any]]:
    """Credentials (a plain dict, as the platform passes them) of a password-protected user that may read cmy_*."""
    parts = _url_parts(mysql_url)
    with mysql_admin.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{TEST_USER}'@'%'")
        cur.execute(f"CREATE USER '{TEST_USER}'@'%%' IDENTIFIED BY %s", (TEST_PASSWORD,))
        cur.execute(f"GRANT SELECT, SHOW VIEW ON `cmy\\_%`.* TO '{TEST_USER}'@'%'")
    yield {
        "type": "mysql",
        "host": parts["host"],
        "port": parts["port"],
        "username": TEST_USER,
        "password": TEST_PASSWORD,
        "database": f"{PREFIX}car_1",
        "ssl_mode": "preferred",
        "connect_timeout": 5,
    }
    with mysql_admin.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{TEST_USER}'@'%'")


@pytest.fixture(scope="session")
def mysql_root_credentials(mysql_url: str) -> dict[str, Any]:
    """Credentials with every privilege, for the tests that prove the connector itself refuses writes."""
    parts = _url_parts(mysql_url)
    return {"type": "mysql", "host": parts["host"], "port": parts["port"], "username": parts["user"], "database": "test"}


@functools.cache
def _load_spider_once(mysql_url: str) -> tuple[str, ...]:
    return tuple(load_spider_dev(mysql_url, PREFIX))


@pytest.fixture(scope="session")
def spider_mysql(mysql_url: str) -> list[str]:
    """The ten spider-dev databases loaded into MariaDB as `cmy_<db>`; returns their names.

    Each test module imports this fixture, which makes it one fixture per module for pytest; the cache keeps it one
    load per test run.
    """
    return list(_load_spider_once(mysql_url))


def suite_processes(admin: pymysql.Connection) -> list[dict[str, Any]]:
    """This suite's connections on the server (information_schema.PROCESSLIST)."""
    with admin.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(
            "SELECT ID, COMMAND, STATE, INFO FROM information_schema.PROCESSLIST WHERE USER = %s", (TEST_USER,)
        )
        return list(cur.fetchall())


def running_statements(admin: pymysql.Connection) -> list[dict[str, Any]]:
    """This suite's connections that are executing a statement right now."""
    return [p for p in suite_processes(admin) if p["COMMAND"] not in ("Sleep", "Killed") and p["INFO"]]


def wait_for_connections(admin: pymysql.Connection, expected: int, timeout_s: float = 3.0) -> int:
    """The count of this suite's connections once it reaches `expected` (the server reaps a closed one quickly)."""
    deadline = time.monotonic() + timeout_s
    count = len(suite_processes(admin))
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        count = len(suite_processes(admin))
    return count


# A statement that runs for minutes and that the read-only guard accepts (a sleep longer than the query's timeout is
# refused by the guard before it reaches the server, so server-side timeouts are proved with real work instead).
SLOW_MYSQL_QUERY = (
    "SELECT COUNT(*) FROM information_schema.COLLATIONS a, information_schema.COLLATIONS b, "
    "information_schema.COLLATIONS c, information_schema.COLLATIONS d"
)

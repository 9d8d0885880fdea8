"""Fixtures for the real services on this machine.

A test that needs a service asks for its fixture. Locally a missing service skips the test with the reason; under CI
(`CI=true`) it fails, so a service that `.ci/run` could not start never passes as green.
"""

from __future__ import annotations

import os
import socket

import pytest

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: a test that needs a service never skips)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of the `test` database on the local PostgreSQL (trust auth)."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/test"


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """SQLAlchemy URL of the `test` database on the local MariaDB (root, empty password)."""
    require_service("MariaDB", MYSQL_HOST, MYSQL_PORT)
    return f"mysql+pymysql://{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}/test"

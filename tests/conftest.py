"""Fixtures for the real services on this machine.

A test that needs a service asks for its fixture. Locally a missing service skips the test with the reason; under CI
(`CI=true`) it fails, so a service that `.ci/run` could not start never passes as green.
"""

from __future__ import annotations

import os
import socket
from typing import Iterator

import pytest
from cryptography.fernet import Fernet

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")


@pytest.fixture(scope="session", autouse=True)
def session_secret_key() -> Iterator[str]:
    """A Fernet key for the whole session, in the environment (so worker subprocesses have it too).

    Runs encrypt their payloads' SecretStr fields with it, on PostgreSQL runtime databases (where a key is required)
    and on SQLite (where no test may generate the repository's own `.taskpack/secret.key`). Tests about a missing,
    changed or file-generated key change or remove it with monkeypatch, which restores it afterwards.
    """
    with pytest.MonkeyPatch.context() as patch:
        key = Fernet.generate_key().decode()
        patch.setenv("TASKPACK_SECRET_KEY", key)
        patch.delenv("TASKPACK_SECRET_KEY_PREVIOUS", raising=False)
        yield key


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

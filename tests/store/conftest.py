"""Store tests run on a fresh runtime database each: a SQLite file (tmp_path) and a new PostgreSQL database.

Keys are per test: TASKPACK_SECRET_KEY is a fresh Fernet key, and the project root (where a SQLite key file would
be generated) is the test's tmp_path, so no test reads or writes the repository's `.taskpack/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from cryptography.fernet import Fernet

from runtime.backend import reset_backends
from store.secrets import ENV_KEY, ENV_PREVIOUS
from tests.runtime.conftest import fresh_database


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(ENV_KEY, key)
    monkeypatch.delenv(ENV_PREVIOUS, raising=False)
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    return key


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, secret_key: str) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    try:
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
    finally:
        reset_backends()

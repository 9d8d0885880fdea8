"""Where the Fernet key comes from, what is refused, and rotation: old rows readable with PREVIOUS, re-encrypted after."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from runtime.secret_key import ENV_KEY, ENV_PREVIOUS, _create_key_file, key_file_path
from store import SecretDecryptError, SecretKeyError, sources
from store.database import store_engine
from store.tables import data_sources
from tests.runtime.conftest import make_database

PG_CREDS = {"type": "postgres", "host": "db.example", "database": "shop", "username": "reader"}


def creds(password: str) -> dict[str, object]:
    return {**PG_CREDS, "password": password}


def raw_tokens(url: str) -> dict[str, str]:
    with store_engine(url).connect() as conn:
        return {r.name: r.credentials for r in conn.execute(sa.select(data_sources.c.name, data_sources.c.credentials))}


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_PREVIOUS, raising=False)
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    return tmp_path / ".taskpack" / "secret.key"


# -- the key file (SQLite) -------------------------------------------------------------------------------------------
def test_sqlite_without_a_key_generates_a_private_key_file_once(no_env_key: Path, sqlite_url: str) -> None:
    assert key_file_path() == no_env_key and not no_env_key.exists()
    source = sources.add_source("first", creds("pw-keyfile-1"), database_url=sqlite_url)
    assert stat.S_IMODE(no_env_key.stat().st_mode) == 0o600
    key = no_env_key.read_bytes().strip()
    assert Fernet(key).decrypt(raw_tokens(sqlite_url)["first"].encode())  # that file's key wrote the token
    sources.add_source("second", creds("pw-keyfile-2"), database_url=sqlite_url)
    _create_key_file(no_env_key)  # a racing process that lost: the file keeps the first key
    assert no_env_key.read_bytes().strip() == key
    assert sources.get_source(source.id, database_url=sqlite_url).credentials.password.get_secret_value() == "pw-keyfile-1"
    assert [p.name for p in no_env_key.parent.iterdir()] == ["secret.key"]  # no temp file left behind


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_file_others_may_read_is_refused(no_env_key: Path, sqlite_url: str, mode: int) -> None:
    no_env_key.parent.mkdir(parents=True)
    no_env_key.write_bytes(Fernet.generate_key())
    os.chmod(no_env_key, mode)
    with pytest.raises(SecretKeyError) as caught:
        sources.add_source("exposed", creds("pw-exposed"), database_url=sqlite_url)
    message = caught.value.message
    assert str(no_env_key) in message and f"{mode:04o}" in message and "chmod 600" in message
    assert raw_tokens(sqlite_url) == {}  # refused before anything was written


def test_a_key_file_without_a_key_is_a_clear_error(no_env_key: Path, sqlite_url: str) -> None:
    no_env_key.parent.mkdir(parents=True)
    no_env_key.write_text("garbage-in-the-key-file\n")
    os.chmod(no_env_key, 0o600)
    with pytest.raises(SecretKeyError, match="not a Fernet key") as caught:
        sources.add_source("garbage", creds("pw-garbage"), database_url=sqlite_url)
    assert str(no_env_key) in caught.value.message and "garbage-in" not in caught.value.message


def test_a_key_in_the_environment_means_no_key_file(secret_key: str, tmp_path: Path, sqlite_url: str) -> None:
    sources.add_source("env", creds("pw-env"), database_url=sqlite_url)
    assert not (tmp_path / ".taskpack").exists()
    assert Fernet(secret_key).decrypt(raw_tokens(sqlite_url)["env"].encode())


def test_postgres_without_a_key_fails_before_anything_is_written(no_env_key: Path, tmp_path: Path) -> None:
    url, drop = make_database("postgres", tmp_path)
    try:
        with pytest.raises(SecretKeyError, match=f"{ENV_KEY} is not set") as caught:
            sources.add_source("pg", creds("pw-pg-nokey"), database_url=url)
        assert "Fernet.generate_key" in caught.value.message  # says how to make one
        assert raw_tokens(url) == {}
        assert not no_env_key.exists()  # no per-machine file for a shared database
    finally:
        from runtime.backend import reset_backends

        reset_backends()
        drop()


def test_malformed_keys_in_the_environment_are_named_never_echoed(monkeypatch: pytest.MonkeyPatch, secret_key: str, sqlite_url: str) -> None:
    monkeypatch.setenv(ENV_KEY, "zz-not-a-fernet-key-zz")
    with pytest.raises(SecretKeyError) as caught:
        sources.add_source("bad-key", creds("pw"), database_url=sqlite_url)
    assert ENV_KEY in caught.value.message and "zz-not" not in caught.value.message
    monkeypatch.setenv(ENV_KEY, secret_key)
    monkeypatch.setenv(ENV_PREVIOUS, f"{Fernet.generate_key().decode()}, yy-bad-previous-yy")
    with pytest.raises(SecretKeyError, match=f"{ENV_PREVIOUS} item 2") as caught:
        sources.add_source("bad-previous", creds("pw"), database_url=sqlite_url)
    assert "yy-bad" not in caught.value.message


# -- rotation ----------------------------------------------------------------------------------------------------------
def test_rotation_reads_old_rows_with_previous_then_rewrites_them_with_the_current_key(
    monkeypatch: pytest.MonkeyPatch, secret_key: str, store_url: str
) -> None:
    old_key, new_key = secret_key, Fernet.generate_key().decode()
    a = sources.add_source("rot-a", creds("pw-rot-a"), database_url=store_url)
    sources.add_source("rot-b", creds("pw-rot-b"), database_url=store_url)

    monkeypatch.setenv(ENV_KEY, new_key)  # the key changed, the old one is not listed: a clear error naming the source
    with pytest.raises(SecretDecryptError) as caught:
        sources.get_source("rot-a", database_url=store_url)
    assert "'rot-a'" in caught.value.message and a.id in caught.value.message and ENV_PREVIOUS in caught.value.message

    monkeypatch.setenv(ENV_PREVIOUS, old_key)  # before rotation: readable through PREVIOUS
    assert sources.get_source("rot-a", database_url=store_url).credentials.password.get_secret_value() == "pw-rot-a"
    before = raw_tokens(store_url)
    assert all(Fernet(old_key).decrypt(t.encode()) for t in before.values())

    assert sources.rotate_key(database_url=store_url) == 2
    after = raw_tokens(store_url)
    assert after.keys() == before.keys() and all(after[n] != before[n] for n in after)
    for token in after.values():
        assert b"pw-rot" in Fernet(new_key).decrypt(token.encode())
        with pytest.raises(InvalidToken):
            Fernet(old_key).decrypt(token.encode())

    monkeypatch.delenv(ENV_PREVIOUS)  # after rotation: readable with the current key alone
    assert [s.credentials.password.get_secret_value() for s in sources.list_sources(database_url=store_url)] == ["pw-rot-a", "pw-rot-b"]


def test_rotation_is_all_or_nothing_when_a_row_is_unreadable(monkeypatch: pytest.MonkeyPatch, secret_key: str, store_url: str) -> None:
    sources.add_source("readable", creds("pw-1"), database_url=store_url)
    monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())  # a key nobody kept
    lost = sources.add_source("lost", creds("pw-2"), database_url=store_url)
    monkeypatch.setenv(ENV_KEY, secret_key)
    before = raw_tokens(store_url)
    with pytest.raises(SecretDecryptError, match=lost.id):
        sources.rotate_key(database_url=store_url)
    assert raw_tokens(store_url) == before

"""The DuckDB connection cannot read other files, write, or loosen its own settings: attacks through the connector,
and the same attacks with the SQL guard removed (the connection's own walls), the database file byte for byte
unchanged afterwards; the `files` views; and the typed errors of a file that cannot be opened."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import duckdb
import pytest

from connectors import (
    ConnectorError,
    CredentialsError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryError,
    ReadOnlyViolation,
    UnsupportedError,
    DuckDBCredentials,
    connect,
    parse_credentials,
)
from connectors.duckdb import DuckDBConnector
from tests.connectors.duckdb_support import credentials, file_digest, make_probe_database


class _UnguardedConnector(DuckDBConnector):
    """Skips the SQL guard, to prove the walls behind it stand on their own."""

    def guard(self, sql: str, timeout: float | None = None) -> str:
        return sql


@pytest.fixture
def warehouse(tmp_path: Path) -> dict[str, Path]:
    """A database file, two listed files (Parquet, CSV) and one file nobody listed, in their own directory."""
    db = make_probe_database(tmp_path / "w.duckdb")
    writer = duckdb.connect()
    writer.execute(f"COPY (SELECT range AS id, 'p' || range AS tag FROM range(5)) TO '{tmp_path / 'events.parquet'}' (FORMAT parquet)")
    writer.close()
    (tmp_path / "people.csv").write_text("id,name\n1,ada\n2,grace\n")
    (tmp_path / "secret.csv").write_text("token\nhunter2-secret\n")
    return {"db": db, "events": tmp_path / "events.parquet", "people": tmp_path / "people.csv", "secret": tmp_path / "secret.csv", "dir": tmp_path}


def _creds(w: dict[str, Path]) -> dict:
    return credentials(w["db"], files={"events": str(w["events"]), "people": str(w["people"])})


def _parsed(w: dict[str, Path]) -> DuckDBCredentials:
    parsed = parse_credentials(_creds(w))
    assert isinstance(parsed, DuckDBCredentials)
    return parsed


def _attacks(w: dict[str, Path]) -> list[tuple[str, type[ConnectorError]]]:
    """(statement, what the connection itself answers when the guard lets it through)."""
    out = w["dir"] / "out"
    return [
        ("SELECT * FROM read_text('/etc/passwd')", PermissionDeniedError),
        ("SELECT * FROM read_csv('/etc/passwd', sep = ':')", PermissionDeniedError),
        ("SELECT * FROM read_blob('/etc/hostname')", PermissionDeniedError),
        ("SELECT * FROM sniff_csv('/etc/passwd')", PermissionDeniedError),
        ("SELECT * FROM glob('/etc/*')", PermissionDeniedError),
        (f"SELECT * FROM read_csv('{w['secret']}')", PermissionDeniedError),
        (f"SELECT * FROM '{w['secret']}'", PermissionDeniedError),
        (f"ATTACH '{out}.duckdb' AS evil", PermissionDeniedError),
        (f"COPY probe TO '{out}.csv'", PermissionDeniedError),
        (f"COPY (SELECT 1) TO '{out}.parquet' (FORMAT parquet)", PermissionDeniedError),
        (f"EXPORT DATABASE '{out}'", PermissionDeniedError),
        ("INSTALL httpfs", PermissionDeniedError),
        ("LOAD httpfs", PermissionDeniedError),
        ("SET enable_external_access = true", PermissionDeniedError),
        (f"SET allowed_paths = ['{w['secret']}']", PermissionDeniedError),
        ("RESET lock_configuration", PermissionDeniedError),
        ("SET lock_configuration = false", PermissionDeniedError),
        ("PRAGMA threads = 1", PermissionDeniedError),
        ("CALL enable_logging()", PermissionDeniedError),
        ("INSERT INTO probe VALUES (4, 'four', 4)", ReadOnlyViolation),
        ("UPDATE probe SET label = 'x'", ReadOnlyViolation),
        ("DELETE FROM probe", ReadOnlyViolation),
        ("DROP TABLE probe", ReadOnlyViolation),
        ("CREATE TABLE main.evil (a INT)", ReadOnlyViolation),
        ("ALTER TABLE probe ADD COLUMN z INT", ReadOnlyViolation),
        ("COMMENT ON TABLE probe IS 'x'", ReadOnlyViolation),
        ("CREATE INDEX evil ON probe (label)", ReadOnlyViolation),
    ]


def test_attacks_are_refused_with_typed_errors_and_the_file_is_unchanged(warehouse: dict[str, Path]) -> None:
    before = file_digest(warehouse["db"])
    with connect(_creds(warehouse)) as conn:
        for sql, _ in _attacks(warehouse):
            with pytest.raises((ReadOnlyViolation, PermissionDeniedError)):
                conn.query(sql)
        assert conn.query("SELECT count(*) FROM probe").rows == [[3]]  # still working
    assert file_digest(warehouse["db"]) == before
    assert sorted(p.name for p in warehouse["dir"].iterdir()) == ["events.parquet", "people.csv", "secret.csv", "w.duckdb"]


def test_without_the_guard_the_connection_still_refuses_every_attack(warehouse: dict[str, Path]) -> None:
    before = file_digest(warehouse["db"])
    with _UnguardedConnector(_parsed(warehouse)) as conn:
        for sql, expected in _attacks(warehouse):
            with pytest.raises(ConnectorError) as info:
                conn.query(sql)
            assert type(info.value) is expected, (sql, info.value)
        # statements that change nothing on a read-only file are not errors, and leave it as it was
        conn.query("CHECKPOINT")
        conn.query("VACUUM")
        settings = dict(conn.query("SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', 'lock_configuration', 'autoload_known_extensions', 'allow_community_extensions')").rows)
        assert settings == {"enable_external_access": "false", "lock_configuration": "true", "autoload_known_extensions": "false", "allow_community_extensions": "false"}
        databases = conn.query("SELECT database_name, readonly FROM duckdb_databases() WHERE NOT internal").rows
        assert databases == [["w", True]]  # no writable in-memory database left
    assert file_digest(warehouse["db"]) == before
    assert sorted(p.name for p in warehouse["dir"].iterdir()) == ["events.parquet", "people.csv", "secret.csv", "w.duckdb"]


def test_read_text_of_etc_passwd_fails_with_a_typed_error_naming_the_file(warehouse: dict[str, Path]) -> None:
    with _UnguardedConnector(_parsed(warehouse)) as conn:
        with pytest.raises(PermissionDeniedError) as info:
            conn.query("SELECT * FROM read_text('/etc/passwd')")
    assert "/etc/passwd" in info.value.message and info.value.details["driver_error"] == "PermissionException"
    assert "root:" not in str(info.value.to_dict())


def test_listed_files_are_views_that_read_after_access_is_cut(warehouse: dict[str, Path]) -> None:
    with connect(_creds(warehouse)) as conn:
        assert conn.query("SELECT id, tag FROM events ORDER BY id").rows == [[i, f"p{i}"] for i in range(5)]
        assert conn.query("SELECT name FROM people ORDER BY id").rows == [["ada"], ["grace"]]
        joined = conn.query("SELECT p.name, e.tag FROM people p JOIN events e ON e.id = p.id ORDER BY 1").rows
        assert joined == [["ada", "p1"], ["grace", "p2"]]
        assert conn.query("SELECT count(*) FROM temp.main.events").rows == [[5]]
        with pytest.raises((ReadOnlyViolation, PermissionDeniedError)):  # the listed files, and nothing next to them
            conn.query(f"SELECT * FROM read_csv('{warehouse['secret']}')")


def test_a_files_only_source_needs_no_database_file(warehouse: dict[str, Path]) -> None:
    with connect({"type": "duckdb", "files": {"people": str(warehouse["people"])}}) as conn:
        assert conn.query("SELECT count(*) FROM people").rows == [[2]]
        with pytest.raises((ReadOnlyViolation, PermissionDeniedError)):
            conn.query("SELECT * FROM read_text('/etc/passwd')")
        catalog = conn.introspect()
    assert [(d.name, s.name, t.name, t.kind) for d, s, t in catalog.iter_tables()] == [("temp", "main", "people", "external")]


def test_a_view_may_not_hide_a_table_of_the_database(warehouse: dict[str, Path]) -> None:
    with connect(credentials(warehouse["db"], files={"Probe": str(warehouse["people"])})) as conn:
        with pytest.raises(CredentialsError) as info:
            conn.query("SELECT 1")
    assert "Probe" in info.value.message and info.value.details["errors"][0]["field"] == "files"


def test_a_missing_listed_file_names_its_view(warehouse: dict[str, Path]) -> None:
    with connect(credentials(warehouse["db"], files={"gone": str(warehouse["dir"] / "gone.parquet")})) as conn:
        with pytest.raises(NotFoundError) as info:
            conn.query("SELECT 1")
    assert "'gone'" in info.value.message and info.value.details["path"].endswith("gone.parquet")


def test_a_listed_file_duckdb_cannot_read_is_a_typed_error(warehouse: dict[str, Path]) -> None:
    fake = warehouse["dir"] / "fake.parquet"
    fake.write_text("not parquet at all")
    with connect(credentials(warehouse["db"], files={"fake": str(fake)})) as conn:
        with pytest.raises(QueryError) as info:
            conn.query("SELECT 1")
    assert info.value.code == "unreadable_file" and info.value.details["view"] == "fake"


def test_relative_and_home_paths_are_resolved(warehouse: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(warehouse["dir"])
    with connect({"type": "duckdb", "path": "w.duckdb", "files": {"people": "./people.csv"}}) as conn:
        assert conn.query("SELECT count(*) FROM probe, people").rows == [[6]]
    monkeypatch.setenv("HOME", str(warehouse["dir"]))
    with connect({"type": "duckdb", "path": "~/w.duckdb"}) as conn:
        assert conn.query("SELECT count(*) FROM probe").rows == [[3]]


# -- files that cannot be opened ---------------------------------------------------------------------------------
def test_a_missing_database_file_is_not_found(tmp_path: Path) -> None:
    with connect(credentials(tmp_path / "missing.duckdb")) as conn:
        with pytest.raises(NotFoundError) as info:
            conn.query("SELECT 1")
    assert "missing.duckdb does not exist" in info.value.message
    assert not (tmp_path / "missing.duckdb").exists()  # opening read-only never creates the file


def test_a_directory_is_not_a_database_file(tmp_path: Path) -> None:
    with connect(credentials(tmp_path)) as conn:
        with pytest.raises(NotFoundError, match="is a directory"):
            conn.query("SELECT 1")


def test_a_file_that_is_not_a_duckdb_database_is_unsupported(tmp_path: Path) -> None:
    text = tmp_path / "notes.duckdb"
    text.write_text("just some notes\n" * 500)
    before = file_digest(text)
    with connect(credentials(text)) as conn:
        with pytest.raises(UnsupportedError) as info:
            conn.query("SELECT 1")
    assert info.value.code == "invalid_database_file"
    assert file_digest(text) == before


@pytest.fixture
def writer_process(tmp_path: Path) -> Iterator[Path]:
    """A second process holding the database file open for writing (DuckDB locks it)."""
    path = make_probe_database(tmp_path / "locked.duckdb")
    code = (
        "import duckdb, sys, time\n"
        f"conn = duckdb.connect({str(path)!r})\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield path
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=30)


def test_a_file_locked_by_a_writer_is_a_retryable_error(writer_process: Path) -> None:
    started = time.monotonic()
    with connect(credentials(writer_process)) as conn:
        with pytest.raises(NetworkError) as info:
            conn.query("SELECT 1")
    assert info.value.code == "database_locked" and info.value.retryable
    assert time.monotonic() - started < 10

"""What `test_connection()` reports a DuckDB connection may do, compared with what SQL past the guard really can do.

Each capability is checked both ways: the report, and the attack it stands for run through a connector whose guard
is switched off (the re-attach that writes a database file the worker's user may write; the COPY that overwrites a
listed file). A file the worker may not write needs a user without CAP_DAC_OVERRIDE: as root that part runs in a
subprocess started by `setpriv` with the capability dropped from its bounding set (root may write any file otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors import DuckDBCredentials, PermissionDeniedError, ReadOnlyViolation, connect, parse_credentials
from connectors.capabilities import CAPABILITIES
from connectors.duckdb import DuckDBConnector
from connectors.duckdb import sandbox as duckdb_sandbox
from connectors.duckdb.role import ConnectionState, os_user, read_role
from connectors.duckdb.sandbox import Sandbox
from connectors.duckdb.statements import attach_sql, identifier
from tests.connectors.duckdb_support import credentials, file_digest, make_probe_database

REPO = Path(__file__).resolve().parents[2]


class _UnguardedConnector(DuckDBConnector):
    """Skips the SQL guard: what the report claims must hold without it."""

    def guard(self, sql: str, timeout: float | None = None) -> str:
        return sql


def _unguarded(creds: dict[str, Any]) -> _UnguardedConnector:
    parsed = parse_credentials(creds)
    assert isinstance(parsed, DuckDBCredentials)
    return _UnguardedConnector(parsed)


def _role(creds: dict[str, Any]) -> Any:
    with connect(creds) as conn:
        test = conn.test_connection()
    assert test.ok, test.error
    assert test.role is not None
    return test.role


REATTACH_READ_WRITE = [
    "ATTACH ':memory:' AS scratch",
    "USE scratch",
    "DETACH {db}",
    "ATTACH '{path}' AS reopened",
    "CREATE TABLE reopened.main.written_past_the_guard AS SELECT 1 AS x",
    "CHECKPOINT reopened",
]


# -- a file the worker's user may write --------------------------------------------------------------------------------
def test_a_database_file_the_worker_may_write_is_reported_writable(tmp_path: Path) -> None:
    db = make_probe_database(tmp_path / "w.duckdb")
    db.chmod(0o644)  # the owner (this process's user) may write it
    role = _role(credentials(db))
    assert role.principal == os_user()
    assert role.can_write is True and role.read_only is False
    assert role.write_grants == [f"database file {db} (writable by OS user {os_user()})"]
    assert role.read_only_session is True  # attached READ_ONLY: the session's own defence
    others = {name: getattr(role, name) for name in CAPABILITIES if name != "can_write"}
    assert others == {name: False for name in others}
    assert any("attach it again read-write" in f for f in role.findings), role.findings


def test_why_a_writable_file_counts_a_statement_past_the_guard_writes_it(tmp_path: Path) -> None:
    """The READ_ONLY attach alone does not hold: detached and attached again, the file takes a new table."""
    db = make_probe_database(tmp_path / "w.duckdb")
    before = file_digest(db)
    with _unguarded(credentials(db)) as conn:
        for statement in REATTACH_READ_WRITE:
            conn.query(statement.format(db="w", path=db))
    assert file_digest(db) != before
    check = duckdb.connect(str(db), read_only=True)
    try:
        assert check.execute("SELECT x FROM written_past_the_guard").fetchall() == [(1,)]
    finally:
        check.close()


def test_through_the_guard_the_same_statements_are_refused_and_the_file_is_unchanged(tmp_path: Path) -> None:
    db = make_probe_database(tmp_path / "w.duckdb")
    before = file_digest(db)
    with connect(credentials(db)) as conn:
        for statement in REATTACH_READ_WRITE:
            with pytest.raises(ReadOnlyViolation):
                conn.query(statement.format(db="w", path=db))
        assert conn.query("SELECT count(*) FROM probe").rows == [[3]]
    assert file_digest(db) == before


def test_listed_files_the_worker_may_write_are_writes_and_copy_proves_it(tmp_path: Path) -> None:
    listed = tmp_path / "people.csv"
    listed.write_text("id,name\n1,ada\n")
    creds = {"type": "duckdb", "files": {"people": str(listed)}}
    role = _role(creds)
    assert role.can_write is True and role.read_only is False
    assert role.write_grants == [f"file {listed} of view people (writable by OS user {os_user()})"]
    assert any("in memory: writable scratch" in f for f in role.findings), role.findings  # files only: no database file
    with _unguarded(creds) as conn:
        conn.query(f"COPY (SELECT 666 AS id, 'pwned' AS name) TO '{listed}' (FORMAT csv, USE_TMP_FILE false)")
    assert listed.read_text() == "id,name\n666,pwned\n"


# -- a file the worker's user may not write ----------------------------------------------------------------------------
_PROBE = """
import json, sys
from connectors import DuckDBCredentials, connect, parse_credentials
from connectors.duckdb import DuckDBConnector

class Unguarded(DuckDBConnector):
    def guard(self, sql, timeout=None):
        return sql

path, statements = sys.argv[1], json.loads(sys.argv[2])
with connect({"type": "duckdb", "path": path}) as conn:
    role = conn.test_connection().role.model_dump(mode="json")
refusals = []
with Unguarded(parse_credentials({"type": "duckdb", "path": path})) as conn:
    for statement in statements:
        try:
            conn.query(statement)
            refusals.append(None)
        except Exception as exc:
            refusals.append(type(exc).__name__ + ": " + exc.message)
print(json.dumps({"role": role, "refusals": refusals}))
"""


def _without_write_permission(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `args` as a user the file permissions apply to: as root, with CAP_DAC_OVERRIDE (and its relatives)
    dropped from the bounding set, so mode 0444 means what it says."""
    if os.geteuid() != 0:
        return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=120)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE for this test")
    caps = "-dac_override,-dac_read_search,-fowner"
    return subprocess.run([setpriv, "--bounding-set", caps, "--", *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_a_read_only_file_with_access_off_and_settings_locked_is_read_only(tmp_path: Path) -> None:
    db = make_probe_database(tmp_path / "ro.duckdb")
    db.chmod(0o444)
    before = file_digest(db)
    statements = [s.format(db="ro", path=db) for s in REATTACH_READ_WRITE[:4]]
    done = _without_write_permission([sys.executable, "-c", _PROBE, str(db), json.dumps(statements)])
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    role = result["role"]
    assert {name: role[name] for name in CAPABILITIES} == {name: False for name in CAPABILITIES}
    assert role["read_only"] is True and role["read_only_session"] is True
    assert role["write_grants"] == []
    assert "session: database ro attached READ_ONLY" in role["findings"]
    # the attack the report rules out: the first three statements run, attaching the file read-write is refused
    assert result["refusals"][:3] == [None, None, None]
    assert result["refusals"][3] is not None and "Permission denied" in result["refusals"][3], result["refusals"]
    assert file_digest(db) == before


# -- the settings are read from the live connection ---------------------------------------------------------------------
def _seal_partly(*, external_access_off: bool, lock: bool) -> Any:
    """A stand-in for the sandbox's sealing step that leaves parts of it out, as a broken sandbox would."""

    def seal(conn: duckdb.DuckDBPyConnection, database_path: Path | None, files: dict[str, Path]) -> str | None:
        assert database_path is not None and not files
        alias = duckdb_sandbox.database_alias(database_path)
        conn.execute(attach_sql(database_path, alias))
        conn.execute(f"USE {identifier(alias)}")
        conn.execute("DETACH memory")
        if external_access_off:
            conn.execute("SET enable_external_access = false")
        if lock:
            conn.execute("SET lock_configuration = true")
        return alias

    return seal


def test_external_access_left_on_is_reported_from_the_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_probe_database(tmp_path / "w.duckdb")
    monkeypatch.setattr(duckdb_sandbox, "_seal", _seal_partly(external_access_off=False, lock=False))
    role = _role(credentials(db))
    assert role.can_read_server_files is True and role.can_write_server_files is True
    assert role.can_run_server_programs is True and role.can_change_settings is True
    assert role.read_only_session is False  # COPY ... TO may write anywhere
    assert "can_read_server_files: enable_external_access is on: SQL may read any file the worker can (read_csv, read_text, ATTACH)" in role.findings
    with _unguarded(credentials(db)) as conn:  # and it can: the report is not a guess
        assert conn.query(f"SELECT count(*) FROM read_text('{db}')").rows == [[1]]


def test_an_unlocked_configuration_is_reported_from_the_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = make_probe_database(tmp_path / "w.duckdb")
    monkeypatch.setattr(duckdb_sandbox, "_seal", _seal_partly(external_access_off=True, lock=False))
    role = _role(credentials(db))
    assert role.can_change_settings is True
    assert role.can_read_server_files is False and role.can_run_server_programs is False
    with _unguarded(credentials(db)) as conn:
        conn.query("SET threads = 1")
        assert conn.query("SELECT current_setting('threads')").rows == [[1]]


def test_the_spill_directory_is_private_and_the_working_directorys_tmp_is_out_of_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB leaves its temp directory readable and writable with external access off; the default, `.tmp` under
    the working directory, could hold anything, so each connection gets a fresh private one, removed on close."""
    work = tmp_path / "work"
    (work / ".tmp").mkdir(parents=True)
    (work / ".tmp" / "notes.txt").write_text("not for the source")
    monkeypatch.chdir(work)
    db = make_probe_database(tmp_path / "w.duckdb")
    with _unguarded(credentials(db)) as conn:
        directories = conn.query("SELECT unnest(current_setting('allowed_directories'))").rows
        assert len(directories) == 1
        private = Path(directories[0][0])
        assert private.is_dir() and private.stat().st_mode & 0o077 == 0 and private != work / ".tmp"
        with pytest.raises(PermissionDeniedError):
            conn.query("SELECT * FROM read_text('.tmp/notes.txt')")
        with pytest.raises(PermissionDeniedError):
            conn.query("COPY (SELECT 1) TO '.tmp/out.csv' (USE_TMP_FILE false)")
        assert conn.test_connection().role.can_read_server_files is False
    assert not private.exists()
    assert sorted(p.name for p in (work / ".tmp").iterdir()) == ["notes.txt"]


# -- the report from what a connection says (no file system involved) ---------------------------------------------------
def _state(**overrides: Any) -> ConnectionState:
    base = dict(
        external_access=False,
        configuration_locked=True,
        allowed_paths=(),
        allowed_directories=("/tmp/spill/",),
        databases=(),
    )
    return ConnectionState(**{**base, **overrides})


def _files_sandbox(files: dict[str, Path] | None = None) -> Sandbox:
    return Sandbox(connection=None, database=None, files=files or {}, temp_directory=Path("/tmp/spill"))  # type: ignore[arg-type]


def test_a_directory_or_path_beyond_the_sources_own_counts_as_file_access() -> None:
    role = read_role(_state(allowed_directories=("/tmp/spill/", "/home/someone/")), _files_sandbox(), principal="u")
    assert role.can_read_server_files is True and role.can_write_server_files is True
    assert role.can_run_server_programs is False and role.read_only is False
    assert any("/home/someone/" in f for f in role.findings)
    role = read_role(_state(allowed_paths=("/etc/passwd",)), _files_sandbox(), principal="u")
    assert role.can_read_server_files is True and any("/etc/passwd" in f for f in role.findings)
    role = read_role(_state(), _files_sandbox(), principal="u")
    assert role.can_read_server_files is False and role.read_only is True


def test_another_database_attached_read_write_is_a_write() -> None:
    state = _state(databases=(("other", "/data/other.duckdb", False), ("scratch", None, False)))
    role = read_role(state, _files_sandbox(), principal="u")
    assert role.can_write is True and role.write_grants == ["database other (/data/other.duckdb) attached read-write"]
    assert role.read_only_session is False
    assert "database scratch is in memory: writable scratch that nothing keeps" in role.findings

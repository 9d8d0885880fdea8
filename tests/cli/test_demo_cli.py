"""`taskpack demo` as a user runs it: the installed command in a subprocess, in a project folder of its own with no
`.taskpack/` (the README's first command on a fresh machine), then again (one source, a new snapshot, nothing
changed), with `--rebuild`, over a broken file, beside a source that already holds the name, and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.fernet import Fernet

from connectors import connect
from runtime.backend import reset_backends
from store import Snapshot, snapshots, sources
from store.secrets import ENV_KEY, ENV_PREVIOUS
from tests.runtime.conftest import make_database

TASKPACK = Path(sys.executable).with_name("taskpack")
TABLES = ["campaigns", "customers", "marketing_channels", "order_items", "orders", "payments", "products"]
VIEWS = ["customer_lifetime_value", "monthly_revenue", "revenue_by_channel"]
#: what the seed-7 build holds (tests/demo proves the build is deterministic; this pins the catalog's counts to it)
ROWS = {"marketing_channels": 8, "campaigns": 51, "products": 300, "customers": 5000, "orders": 23685, "order_items": 51288, "payments": 24288}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project folder; this process reads its store the way the command wrote it (key file and all)."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(root))
    for name in (ENV_KEY, ENV_PREVIOUS, "TASKPACK_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield root
    finally:
        reset_backends()


def taskpack(root: Path, *args: str, env: dict[str, str] | None = None, input: str = "") -> subprocess.CompletedProcess[str]:
    """The installed `taskpack`, run from the project folder, as the README runs it (no settings beyond the folder)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TASKPACK_")}
    environment.update({"TASKPACK_PROJECT_ROOT": str(root), "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [str(TASKPACK), *args], cwd=root, env=environment, input=input, capture_output=True, text=True, timeout=300
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done.stdout


def one_line_error(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    assert done.returncode == code, done.stdout + done.stderr
    line = done.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in done.stdout + done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in line, line
    return line


def sqlite_url(root: Path) -> str:
    return f"sqlite:///{root / '.taskpack' / 'taskpack.sqlite'}"


def assert_demo_snapshot(snapshot: Snapshot) -> None:
    """7 tables and 3 views with their rows and columns, every table profiled."""
    found = {t.name: t for _, _, t in snapshot.catalog.iter_tables()}
    assert sorted(n for n, t in found.items() if t.kind != "view") == TABLES
    assert sorted(n for n, t in found.items() if t.kind == "view") == VIEWS
    assert {n: found[n].row_count for n in TABLES} == ROWS
    assert all(found[n].columns for n in TABLES + VIEWS)
    assert snapshot.table_count == 10 and snapshot.column_count == sum(len(t.columns) for t in found.values())
    assert sorted(p.table.split(".")[-1] for p in snapshot.profiles) == TABLES
    orders = next(p for p in snapshot.profiles if p.table.split(".")[-1] == "orders")
    assert orders.row_count == ROWS["orders"] and orders.columns and all(c.null_fraction is not None for c in orders.columns)


def expected_warnings(path: Path) -> list[str]:
    """A worker that may write the file is told so (root may write any file); one that may not gets no warning."""
    return ["role_not_read_only"] if os.access(path, os.W_OK) else []


def test_demo_on_a_fresh_project_builds_registers_and_introspects(project: Path) -> None:
    assert not (project / ".taskpack").exists()
    out = ok(taskpack(project, "demo"))
    warehouse = project / ".taskpack" / "demo.duckdb"
    assert "built .taskpack/demo.duckdb" in out and "registered source demo" in out
    assert "7 tables, 3 views" in out and "104,620 rows" in out and "7 tables profiled" in out
    assert "order_items (51,288)" in out and "monthly_revenue" in out
    assert warehouse.stat().st_mode & 0o777 == 0o444  # read-only for its owner too: the README's DuckDB recipe

    url = sqlite_url(project)
    [source] = sources.list_sources(database_url=url)
    assert (source.name, source.source_type, source.profile) == ("demo", "duckdb", True)
    assert source.credentials.path == str(warehouse)
    first = snapshots.latest_snapshot(source.id, database_url=url)
    assert first is not None and first.diff is None
    assert_demo_snapshot(first)
    assert [w.code for w in first.warnings] == expected_warnings(warehouse)
    with connect(source.credentials) as conn:  # the registered source is a working source
        assert conn.query("SELECT count(*) FROM orders").rows == [[ROWS["orders"]]]

    # again: the same file and the same source, a second snapshot that changed nothing
    before = warehouse.stat()
    out = ok(taskpack(project, "demo"))
    assert "reused .taskpack/demo.duckdb" in out and f"updated source demo ({source.id})" in out
    assert (warehouse.stat().st_ino, warehouse.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [s.id for s in sources.list_sources(database_url=url)] == [source.id]
    second = snapshots.latest_snapshot(source.id, database_url=url)
    assert second is not None and second.id != first.id and second.previous_snapshot_id == first.id
    assert second.diff is not None and second.diff.is_empty
    assert_demo_snapshot(second)

    # --rebuild: a new file with the same rows; still one source
    out = ok(taskpack(project, "demo", "--rebuild"))
    assert "built .taskpack/demo.duckdb" in out
    assert warehouse.stat().st_ino != before.st_ino
    assert [s.id for s in sources.list_sources(database_url=url)] == [source.id]
    third = snapshots.latest_snapshot(source.id, database_url=url)
    assert third is not None and third.diff is not None and third.diff.is_empty
    assert_demo_snapshot(third)
    assert len(snapshots.list_snapshots(source.id, database_url=url)) == 3


def test_a_broken_warehouse_file_fails_the_run_with_one_line_and_rebuild_repairs_it(project: Path) -> None:
    warehouse = project / ".taskpack" / "demo.duckdb"
    warehouse.parent.mkdir()
    warehouse.write_text("not a duckdb database\n" * 100)
    line = one_line_error(taskpack(project, "demo"), 1, "the introspection run run_", "ended FAILED", "UnsupportedError")
    assert "not a DuckDB database" in line or "invalid" in line.lower(), line
    url = sqlite_url(project)
    [source] = sources.list_sources(database_url=url)  # registered; only its introspection failed
    assert snapshots.latest_snapshot(source.id, database_url=url) is None
    ok(taskpack(project, "demo", "--rebuild"))
    assert [s.id for s in sources.list_sources(database_url=url)] == [source.id]
    latest = snapshots.latest_snapshot(source.id, database_url=url)
    assert latest is not None
    assert_demo_snapshot(latest)


def test_a_name_held_by_another_source_is_left_alone(project: Path) -> None:
    creds = '{"type": "postgres", "host": "db.example", "database": "shop", "username": "reader"}'
    source_id = ok(taskpack(project, "sources", "add", "demo", "--credentials-file", "-", input=creds)).strip()
    one_line_error(taskpack(project, "demo"), 2, "a data source named 'demo' exists already", "postgres", "--name")
    assert not (project / ".taskpack" / "demo.duckdb").exists()  # refused before building anything
    url = sqlite_url(project)
    [kept] = sources.list_sources(database_url=url)
    assert (kept.id, kept.source_type, kept.credentials.host) == (source_id, "postgres", "db.example")
    # under another name the demo registers beside it
    out = ok(taskpack(project, "demo", "--name", "shop-demo"))
    assert "registered source shop-demo" in out
    assert sorted(s.name for s in sources.list_sources(database_url=url)) == ["demo", "shop-demo"]


def test_demo_on_a_postgresql_runtime_database(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, drop = make_database("postgres", project)
    try:
        one_line_error(taskpack(project, "demo", "--database-url", url), 2, "TASKPACK_SECRET_KEY")
        assert not (project / ".taskpack" / "demo.duckdb").exists()
        key = Fernet.generate_key().decode()
        monkeypatch.setenv(ENV_KEY, key)
        for _ in range(2):
            out = ok(taskpack(project, "demo", "--database-url", url, env={ENV_KEY: key}))
            assert "7 tables, 3 views" in out
        [source] = sources.list_sources(database_url=url)
        assert source.name == "demo"
        latest = snapshots.latest_snapshot(source.id, database_url=url)
        assert latest is not None and latest.diff is not None and latest.diff.is_empty
        assert_demo_snapshot(latest)
    finally:
        reset_backends()
        drop()

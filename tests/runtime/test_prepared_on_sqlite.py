"""SQLite: DBOS's enqueue statements are compiled once (`dbos_adapter._PreparedOnSqlite`, as DBOS does on
PostgreSQL) and write, refuse and report exactly what DBOS's statements built per call do."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from dbos import error as dbos_error

from runtime import dbos_adapter
from runtime.backend import get_backend, reset_backends


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'prepared.sqlite'}"
    reset_backends()


def _options(run_id: str, **extra: Any) -> dict[str, Any]:
    return {"workflow_name": dbos_adapter.workflow_name("prepared-probe"), "queue_name": "prepared-q", "app_version": "v-p",
            "workflow_id": run_id, "attributes": {"task": "prepared-probe", "tags": ["x"]}, "priority": 2,
            "workflow_timeout": 30.0, **extra}


def _enqueue(url: str, run_id: str, **extra: Any) -> None:
    backend = get_backend(url)
    backend.client.enqueue(_options(run_id, **extra), {"n": 1, "text": "héllo"})


def _rows(url: str, ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    backend = get_backend(url)
    tables = backend.dbos.sys_db.tables
    clock = {"workflow_uuid", "created_at", "updated_at", "creator_xid", "retention_timestamp", "workflow_deadline_epoch_ms"}
    found: dict[str, dict[str, dict[str, Any]]] = {}
    with backend.dbos.engine.connect() as conn:
        for table in (tables.workflow_status, tables.workflow_input):
            for row in conn.execute(sa.select(table).where(table.c.workflow_uuid.in_(ids))).mappings():
                found.setdefault(row["workflow_uuid"], {})[table.name] = {k: v for k, v in row.items() if k not in clock}
    return found


def _prepared_of(url: str) -> dbos_adapter._PreparedOnSqlite:
    execute = get_backend(url).dbos.sys_db._execute_prepared
    owner = getattr(execute, "__self__", None)
    assert isinstance(owner, dbos_adapter._PreparedOnSqlite), "the SQLite backend runs DBOS's statements compiled once"
    return owner


def test_a_run_enqueued_through_the_compiled_statements_has_the_rows_dboss_own_enqueue_writes(sqlite_url: str) -> None:
    """One run through the compiled statements, one through DBOS's per-call build: every column of the status and
    input rows alike (ids and clock readings aside). When this fails after a DBOS upgrade, DBOS's enqueue changed."""
    prepared = _prepared_of(sqlite_url)
    sys_db = get_backend(sqlite_url).dbos.sys_db
    mine, theirs = f"run_p_{uuid.uuid4().hex[:8]}", f"run_d_{uuid.uuid4().hex[:8]}"
    _enqueue(sqlite_url, mine)
    assert {name for name, *_ in prepared._prepared} == {"insert_workflow_status", "insert_workflow_input"}
    sys_db._execute_prepared = prepared._dbos_execute  # DBOS's own path for the second run
    try:
        _enqueue(sqlite_url, theirs)
    finally:
        prepared.install()
    rows = _rows(sqlite_url, [mine, theirs])
    assert set(rows[mine]) == {"workflow_status", "workflow_input"}
    assert rows[mine] == rows[theirs]
    assert rows[mine]["workflow_status"]["status"] == "ENQUEUED" and rows[mine]["workflow_status"]["priority"] == 2
    assert rows[mine]["workflow_input"]["inputs"]


def test_an_existing_id_is_checked_as_dbos_checks_it(sqlite_url: str) -> None:
    """The status insert's RETURNING of an existing row reaches DBOS's checks: the same run again is not a new one
    (its payload kept), another task under that id is refused with DBOS's conflict error, and nothing is written."""
    run_id = f"run_p_{uuid.uuid4().hex[:8]}"
    _enqueue(sqlite_url, run_id)
    before = _rows(sqlite_url, [run_id])
    get_backend(sqlite_url).client.enqueue(_options(run_id), {"n": 2})
    assert _rows(sqlite_url, [run_id]) == before
    other = {**_options(run_id), "workflow_name": dbos_adapter.workflow_name("another-task")}
    with pytest.raises(dbos_error.DBOSConflictingWorkflowError, match="different function name"):
        get_backend(sqlite_url).client.enqueue(other, {"n": 3})
    assert _rows(sqlite_url, [run_id]) == before


def test_a_taken_deduplication_id_is_dboss_typed_error(sqlite_url: str) -> None:
    """The unique index on the deduplication id fails the compiled insert with the driver's IntegrityError, which DBOS
    turns into its deduplication error: the second run is refused and leaves no row."""
    first, second = f"run_p_{uuid.uuid4().hex[:8]}", f"run_p_{uuid.uuid4().hex[:8]}"
    _enqueue(sqlite_url, first, deduplication_id="nightly")
    with pytest.raises(dbos_error.DBOSQueueDeduplicatedError):
        _enqueue(sqlite_url, second, deduplication_id="nightly")
    assert set(_rows(sqlite_url, [first, second])) == {first}


def test_a_connection_of_another_engine_goes_to_dboss_own_path(sqlite_url: str) -> None:
    """A caller's connection of another engine (its own dialect) is executed by DBOS's `_execute_prepared` (built per
    call) and caches nothing; the engine's own connections use the compiled statement."""
    prepared = _prepared_of(sqlite_url)
    sys_db = get_backend(sqlite_url).dbos.sys_db
    calls: list[str] = []
    dbos_execute = prepared._dbos_execute
    prepared._dbos_execute = lambda conn, name, values, build, **kw: calls.append(name) or dbos_execute(conn, name, values, build, **kw)
    wi = sys_db.tables.workflow_input
    own_id, other_id = f"run_e_{uuid.uuid4().hex[:8]}", f"run_o_{uuid.uuid4().hex[:8]}"
    with sys_db.engine.begin() as conn:
        prepared.execute(conn, "probe_own_engine", {"workflow_uuid": own_id, "inputs": "{}"}, lambda: sys_db.dialect.insert(wi))
    other = sa.create_engine(sys_db.engine.url)
    try:
        with other.begin() as conn:
            sys_db._apply_caller_schema(conn)  # as DBOS does to a caller's connection
            prepared.execute(conn, "probe_other_engine", {"workflow_uuid": other_id, "inputs": "{}"}, lambda: sys_db.dialect.insert(wi))
    finally:
        other.dispose()
    assert calls == ["probe_other_engine"]
    assert {name for name, *_ in prepared._prepared if name.startswith("probe_")} == {"probe_own_engine"}
    with sys_db.engine.connect() as conn:
        written = conn.execute(sa.select(wi.c.workflow_uuid).where(wi.c.workflow_uuid.in_([own_id, other_id]))).scalars().all()
    assert sorted(written) == sorted([own_id, other_id])

"""`introspect-data` and the source's role: a real Worker introspects the real PostgreSQL as roles made for the test
(role_lab.py), and a role that may do more than read is warned about in the run's output, its metadata, its log and
the snapshot; a read-only role is not.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors import Catalog
from runtime import RunStatus, Worker, runs
from runtime.backend import reset_backends
from store import SnapshotWarning, snapshots
from store import tables as store_tables
from tasks.introspect_data.interfaces import IntrospectDataOutput
from tasks.introspect_data.role_check import ROLE_NOT_READ_ONLY
from tests.connectors.role_lab import PgLab, pg_lab  # noqa: F401 - fixture
from tests.tasks.test_introspect_data import run_to_end, worker  # noqa: F401 - fixture

pytestmark = pytest.mark.postgres


def test_a_role_that_can_write_is_warned_about_everywhere_the_run_reports(worker: Worker, pg_lab: PgLab) -> None:
    role = pg_lab.reader("task_writer")
    pg_lab.execute("GRANT INSERT ON shop.orders TO {r}; GRANT pg_signal_backend TO {r}", role)
    run = run_to_end({"data_source_id": "ds-writer", "credentials": pg_lab.credentials(role)})
    assert run.status is RunStatus.COMPLETED, run.error

    output = IntrospectDataOutput.model_validate(run.output)
    assert output.role is not None and output.role.principal == role
    assert output.role.can_write is True and output.role.can_signal_sessions is True and output.role.read_only is False
    assert output.tables == 2 and output.views == 1  # the introspection itself still ran, read-only
    [warning] = output.warnings
    assert warning.code == ROLE_NOT_READ_ONLY
    assert warning.message == (
        f"postgres role {role!r} is not read-only: it can write, can cancel or kill other sessions "
        "(INSERT on table shop.orders). Connect with a read-only role (README: Read-only roles)."
    )
    assert warning.details["capabilities"] == ["can_write", "can_signal_sessions"]
    assert warning.details["write_grants"] == ["INSERT on table shop.orders"]

    assert run.metadata["role"]["read_only"] is False and run.metadata["role"]["principal"] == role
    assert run.metadata["warnings"] == [warning.model_dump(mode="json")]

    snapshot = snapshots.latest_snapshot("ds-writer")
    assert snapshot is not None and snapshot.warnings == [warning]
    assert snapshots.list_snapshots("ds-writer")[0].warnings == [warning]

    logged = [e for e in runs.logs(run.id) if e.message == "role is not read-only"]
    assert len(logged) == 1 and logged[0].level == "warn"
    assert logged[0].fields["capabilities"] == ["can_write", "can_signal_sessions"]
    assert logged[0].fields["principal"] == role


def test_a_read_only_role_gets_no_warning(worker: Worker, pg_lab: PgLab) -> None:
    role = pg_lab.reader("task_reader")
    run = run_to_end({"data_source_id": "ds-reader", "credentials": pg_lab.credentials(role)})
    assert run.status is RunStatus.COMPLETED, run.error
    output = IntrospectDataOutput.model_validate(run.output)
    assert output.role is not None and output.role.read_only is True
    assert output.warnings == [] and "warnings" not in run.metadata
    snapshot = snapshots.latest_snapshot("ds-reader")
    assert snapshot is not None and snapshot.warnings == []
    messages = [e.message for e in runs.logs(run.id)]
    assert "role is read-only" in messages and "role is not read-only" not in messages


def test_snapshots_table_of_an_older_release_gains_the_warnings_column(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    old = sa.MetaData()
    old_table = sa.Table(
        store_tables.snapshots.name, old,
        *[sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
          for c in store_tables.snapshots.columns if c.name != "warnings"],
    )
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(old_table).values(
            id="snap_old", data_source_id="ds-old", run_id=None, created_at=time.time(), source_type="postgres",
            server_version="15", table_count=0, column_count=0, source=None,
            catalog={"source_type": "postgres", "databases": []}, profiles=[],
        ))
    engine.dispose()
    try:
        before = snapshots.get_snapshot("snap_old", database_url=url)  # the store's first use adds the column
        assert before is not None and before.warnings == []
        warning = SnapshotWarning(code=ROLE_NOT_READ_ONLY, message="m", details={"capabilities": ["can_write"]})
        new_id = snapshots.save_snapshot(
            data_source_id="ds-old", catalog=before.catalog, warnings=[warning.model_dump(mode="json")], database_url=url
        )
        saved = snapshots.get_snapshot(new_id, database_url=url)
        assert saved is not None and saved.warnings == [warning]
        assert [s.warnings for s in snapshots.list_snapshots("ds-old", database_url=url)] == [[warning], []]
        store_engine = snapshots.store_engine(url)
        store_tables.add_missing_columns(store_engine, store_tables.schema)  # a second process running the same migration changes nothing
        names = [c["name"] for c in sa.inspect(store_engine).get_columns(store_tables.snapshots.name)]
        assert names.count("warnings") == 1
    finally:
        reset_backends()


def test_a_malformed_warning_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    try:
        with pytest.raises(ValueError):
            snapshots.save_snapshot(data_source_id="ds", catalog=Catalog(source_type="postgres"),
                                    warnings=[{"message": "no code"}], database_url=url)
        assert snapshots.list_snapshots("ds", database_url=url) == []
    finally:
        reset_backends()


def test_warning_words_for_a_superuser_and_for_long_grant_lists() -> None:
    from connectors import RoleCapabilities
    from tasks.introspect_data.role_check import role_warning

    superuser = role_warning(RoleCapabilities(principal="admin", superuser=True, can_write=True), "mysql")
    assert superuser is not None
    assert superuser.message.startswith("mysql role 'admin' is not read-only: it is a superuser, which may do anything.")
    writer = role_warning(RoleCapabilities(can_write=True, write_grants=[f"INSERT on t{i}" for i in range(5)]), "snowflake")
    assert writer is not None
    assert writer.message.startswith("the snowflake role is not read-only: it can write (INSERT on t0; INSERT on t1; INSERT on t2; ...).")
    assert writer.details["write_grants"] == [f"INSERT on t{i}" for i in range(5)]
    assert role_warning(RoleCapabilities(), "bigquery") is None  # unknown is not a warning
    assert role_warning(None, "postgres") is None

"""`introspect-data` end to end: a real Worker runs the task against the real PostgreSQL and MariaDB.

The runtime database is a SQLite file per test (tmp_path), except one test that runs on a fresh PostgreSQL
database the way production does. The sources are the `tid_*` schemas built in introspect_fixtures.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from runtime import PayloadError, RunStatus, Worker, runs, schedules, tasks
from runtime.backend import reset_backends
from store import snapshots, sources
from store.database import store_engine
from store.tables import data_sources as data_sources_table
from store.tables import snapshots as snapshots_table
from tasks.introspect_data import connections
from tasks.introspect_data import task as introspect_module
from tasks.introspect_data.interfaces import IntrospectDataOutput
from tests.connectors.postgres_fixtures import scram_server  # noqa: F401 - fixture
from tests.runtime.conftest import make_database
from tests.runtime.raw_store import enqueue_unchecked
from tests.tasks.introspect_fixtures import (  # noqa: F401 - fixtures
    MYSQL_COUNTS,
    PG_SHOP_COUNTS,
    MySQLSlowSource,
    MySQLSource,
    PgSource,
    mysql_slow_source,
    mysql_source,
    pg_source,
)

TASK = "introspect-data"
COUNT_KEYS = ("databases", "schemas", "tables", "views", "columns")


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    with Worker(database_url=f"sqlite:///{tmp_path / 'taskpack.sqlite'}", tasks=[introspect_module], concurrency=4) as w:
        yield w
    reset_backends()


def run_to_end(payload: dict[str, Any], timeout: float = 60, **options: Any):
    handle = tasks.trigger(TASK, payload, **options)
    return runs.wait(handle.id, timeout=timeout)


def counts_of(output: dict[str, Any]) -> dict[str, int]:
    return {k: output[k] for k in COUNT_KEYS}


def stored_text(run_id: str, engine: sa.Engine) -> str:
    """Everything the runtime keeps about a run, plus every snapshot row, as one string to scan for secrets."""
    run = runs.retrieve(run_id)
    logs = runs.logs(run_id)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for table in (snapshots_table, data_sources_table) for r in conn.execute(sa.select(table))]
    return json.dumps(
        {
            "error": run.error.model_dump() if run.error else None,
            "metadata": run.metadata,
            "output": run.output,
            "logs": [e.model_dump(mode="json") for e in logs],
            "snapshots": rows,
        },
        default=str,
    )


# -- completed runs --------------------------------------------------------------------------------------------------
def test_postgres_run_completes_with_counts_snapshot_metadata_and_logs(worker: Worker, pg_source: PgSource) -> None:
    run = run_to_end(
        {"data_source_id": "ds-pg", "credentials": pg_source.credentials(), "filters": {"include_schemas": [pg_source.shop_schema]}}
    )
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.attempts == 1
    output = IntrospectDataOutput.model_validate(run.output)
    assert counts_of(run.output) == PG_SHOP_COUNTS
    assert output.source_type == "postgres" and output.server_version and output.server_version[0].isdigit()
    assert output.profiled_tables == 0
    assert output.connection_latency_ms is not None and output.connection_latency_ms > 0
    assert output.duration_ms > 0

    snapshot = snapshots.latest_snapshot("ds-pg")
    assert snapshot is not None and snapshot.id == output.snapshot_id and snapshot.run_id == run.id
    schema = snapshot.catalog.databases[0].schema(pg_source.shop_schema)
    orders = schema.table("orders")
    assert orders.comment == "one row per checkout"
    assert orders.foreign_keys[0].referred_table == "customers" and orders.foreign_keys[0].columns == ["customer_id"]
    assert schema.table("order_items").primary_key == ["order_id", "product_id"]
    assert schema.table("customer_totals").kind == "view"
    assert snapshot.source is not None and snapshot.source["database"] == "test"
    assert [s.id for s in snapshots.list_snapshots("ds-pg")] == [snapshot.id]

    assert run.metadata["stage"] == "done" and run.metadata["progress"] == 1.0
    assert run.metadata["counts"] == PG_SHOP_COUNTS
    assert run.metadata["snapshot_id"] == snapshot.id
    assert run.metadata["introspection"]["step"] == "done"
    stages = [e.fields["stage"] for e in runs.logs(run.id) if e.message == "stage started"]
    assert stages == ["connecting", "testing", "introspecting", "saving"]
    introspected = next(e for e in runs.logs(run.id) if e.message == "catalog introspected")
    assert introspected.fields["tables"] == 4 and introspected.fields["columns"] == 16


def test_mariadb_run_completes_and_stores_no_password(worker: Worker, mysql_source: MySQLSource) -> None:
    """No filters: the user sees only its own database, so the counts are exactly what the fixture created."""
    run = run_to_end({"data_source_id": "ds-my", "credentials": mysql_source.credentials()})
    assert run.status is RunStatus.COMPLETED, run.error
    assert counts_of(run.output) == MYSQL_COUNTS
    assert run.output["source_type"] == "mysql"
    snapshot = snapshots.latest_snapshot("ds-my")
    assert snapshot is not None
    books = snapshot.catalog.databases[0].schema(mysql_source.database).table("books")
    assert books.foreign_keys[0].referred_table == "authors"
    assert snapshot.source is not None and snapshot.source["username"] == mysql_source.username
    assert snapshot.source["password"] == "**********"
    assert mysql_source.password not in stored_text(run.id, store_engine())


def test_filters_are_honoured(worker: Worker, pg_source: PgSource) -> None:
    filters = {
        "include_schemas": [pg_source.shop_schema, pg_source.slow_schema],
        "exclude_tables": ["slow_*", "order_items"],
    }
    run = run_to_end({"data_source_id": "ds-filtered", "credentials": pg_source.credentials(), "filters": filters})
    assert run.status is RunStatus.COMPLETED, run.error
    # shop without order_items (3 tables, 11 columns, 1 view) + slow schema's events table (2 columns)
    assert counts_of(run.output) == {"databases": 1, "schemas": 2, "tables": 4, "views": 1, "columns": 15}
    catalog = snapshots.latest_snapshot("ds-filtered").catalog  # type: ignore[union-attr]
    names = sorted(f"{s.name}.{t.name}" for _, s, t in catalog.iter_tables())
    assert names == sorted(
        [f"{pg_source.shop_schema}.{t}" for t in ("customers", "products", "orders", "customer_totals")]
        + [f"{pg_source.slow_schema}.events"]
    )


def test_profile_true_saves_profiles_of_at_most_n_tables(worker: Worker, pg_source: PgSource) -> None:
    run = run_to_end(
        {
            "data_source_id": "ds-profiled",
            "credentials": pg_source.credentials(),
            "filters": {"include_schemas": [pg_source.shop_schema]},
            "profile": True,
            "max_tables_to_profile": 3,
            "profile_sample_size": 1000,
        }
    )
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.output["profiled_tables"] == 3 and run.output["profile_failures"] == 0
    assert run.metadata["profile"] == {"total": 3, "chunks": 1, "chunk_size": 25, "concurrency": 4}
    assert run.metadata["profiled_tables"] == 3 and run.metadata["profile_failures"] == 0
    assert run.output["profile_runs"] == 0  # 3 tables fit one chunk: no child run
    assert [w for w in run.output["warnings"] if w["code"].startswith("profile_")] == []
    snapshot = snapshots.latest_snapshot("ds-profiled")
    assert snapshot is not None and len(snapshot.profiles) == 3
    by_table = {p.table: p for p in snapshot.profiles}
    assert "customer_totals" not in by_table  # views are profiled only with profile_views=true
    customers = by_table["customers"]
    assert customers.row_count == 40
    email = next(c for c in customers.columns if c.name == "email")
    assert email.distinct_count == 40 and email.semantic_hint == "email"
    stages = [e.fields["stage"] for e in runs.logs(run.id) if e.message == "stage started"]
    assert stages == ["connecting", "testing", "introspecting", "profiling", "saving"]


def test_introspection_progress_reads_both_kinds_of_connector_events() -> None:
    from tasks.introspect_data.task import introspection_fraction

    assert introspection_fraction("databases", {"done": 3, "total": 4, "database": "X"}) == 0.75
    assert introspection_fraction("columns", {"tables": 36}) == 0.6
    assert introspection_fraction("done", {"tables": 36}) == 1.0
    assert introspection_fraction("schema", {"schema": "s"}) is None


def test_old_snapshots_are_pruned_to_keep_snapshots(worker: Worker, mysql_source: MySQLSource) -> None:
    outputs = []
    for _ in range(3):
        run = run_to_end({"data_source_id": "ds-pruned", "credentials": mysql_source.credentials(), "keep_snapshots": 2})
        assert run.status is RunStatus.COMPLETED, run.error
        outputs.append(run.output["snapshot_id"])
    assert [s.id for s in snapshots.list_snapshots("ds-pruned")] == outputs[:0:-1]  # the two newest, newest first
    assert snapshots.get_snapshot(outputs[0]) is None
    assert any(e.message == "old snapshots pruned" for e in runs.logs(run.id))


def test_an_unchanged_source_keeps_one_catalog_body_that_outlives_pruning(worker: Worker, mysql_source: MySQLSource) -> None:
    payload = {"data_source_id": "ds-same", "credentials": mysql_source.credentials(), "keep_snapshots": 2}
    first = run_to_end(payload)
    assert first.status is RunStatus.COMPLETED, first.error
    original = snapshots.get_snapshot(first.output["snapshot_id"])
    assert original is not None and original.table_count > 0
    later = [run_to_end(payload) for _ in range(2)]
    for run in later:
        assert run.status is RunStatus.COMPLETED, run.error
        assert run.output["diff"]["tables_added"] == run.output["diff"]["columns_changed"] == 0
    ids = [run.output["snapshot_id"] for run in later]
    t = snapshots_table
    with store_engine().connect() as conn:  # the first body moved to the newest snapshot when the first was pruned
        stored = {r.id: (r.catalog_zlib is not None, r.catalog_ref) for r in conn.execute(sa.select(t).where(t.c.data_source_id == "ds-same"))}
    assert stored == {ids[0]: (False, ids[1]), ids[1]: (True, None)}
    for snapshot_id in ids:
        snapshot = snapshots.get_snapshot(snapshot_id)
        assert snapshot is not None and snapshot.catalog.databases == original.catalog.databases
        assert snapshot.catalog.introspected_at > original.catalog.introspected_at  # its own head, not the first's


def test_an_attempt_retried_after_its_save_returns_the_snapshot_saved_once(
    worker: Worker, mysql_source: MySQLSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The save is not a recorded step: its idempotence per run is what keeps a second attempt (or a resumed run)
    from writing a second snapshot. Pruning fails once, after the first attempt saved; the second attempt saves
    again and gets the same snapshot back."""
    prune = snapshots.prune_snapshots
    failures = []

    def prune_failing_once(*args: Any, **kwargs: Any) -> int:
        if not failures:
            failures.append(1)
            raise RuntimeError("the store went away for a moment")
        return prune(*args, **kwargs)

    monkeypatch.setattr(snapshots, "prune_snapshots", prune_failing_once)
    run = run_to_end({"data_source_id": "ds-retried", "credentials": mysql_source.credentials()})
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.attempts == 2 and failures == [1]
    saved = snapshots.list_snapshots("ds-retried")
    assert [s.id for s in saved] == [run.output["snapshot_id"]] and saved[0].run_id == run.id
    assert run.output["diff"] is None  # the source's first snapshot, not compared with the first attempt's copy


# -- failures ----------------------------------------------------------------------------------------------------------
def _password_protected_source(request: pytest.FixtureRequest, kind: str) -> tuple[dict[str, Any], str]:
    """(credentials with the right password, that password). The shared PostgreSQL trusts every local login, so the
    PostgreSQL case uses the connector suite's throwaway scram-sha-256 cluster, which really checks passwords."""
    if kind == "mariadb":
        source: MySQLSource = request.getfixturevalue("mysql_source")
        return source.credentials(), source.password
    scram = request.getfixturevalue("scram_server")
    return {"type": "postgres", "ssl_mode": "disable", "connect_timeout": 3, **scram}, scram["password"]


@pytest.mark.parametrize("kind", ["mariadb", "postgres"])
def test_wrong_password_fails_once_with_auth_error_and_never_leaks(
    worker: Worker, request: pytest.FixtureRequest, kind: str
) -> None:
    credentials, right = _password_protected_source(request, kind)
    wrong = f"wrongPw-{right[::-1]}"
    started = time.monotonic()
    run = run_to_end({"data_source_id": "ds-bad-pw", "credentials": {**credentials, "password": wrong}})
    assert run.status is RunStatus.FAILED
    assert run.attempts == 1, "an auth failure must not be retried"
    assert time.monotonic() - started < 5  # no backoff sleep happened
    assert run.error is not None and run.error.type == "AuthError" and run.error.code == "auth_failed"
    assert run.error.retryable is False
    assert run.metadata["stage"] == "testing"
    assert not any(e.message == "attempt failed, retrying" for e in runs.logs(run.id))
    assert snapshots.latest_snapshot("ds-bad-pw") is None
    text = stored_text(run.id, store_engine())
    assert "AuthError" in text  # the scan really covers the error
    assert wrong not in text and right not in text


def test_closed_port_is_a_network_error_that_is_retried(worker: Worker, pg_source: PgSource) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = run_to_end({"data_source_id": "ds-down", "credentials": pg_source.credentials(port=port)}, max_attempts=2)
    assert run.status is RunStatus.FAILED
    assert run.attempts == 2
    assert run.error is not None and run.error.type == "NetworkError" and run.error.retryable is True
    retries = [e for e in runs.logs(run.id) if e.message == "attempt failed, retrying"]
    assert len(retries) == 1 and retries[0].attempt == 1


def test_invalid_credentials_are_refused_at_trigger_naming_the_field(worker: Worker) -> None:
    secret = "tid-should-never-echo-1234"
    bad = {"type": "postgres", "host": "127.0.0.1", "username": "u", "password": secret, "port": "not-a-port"}
    with pytest.raises(PayloadError) as info:
        tasks.trigger(TASK, {"data_source_id": "ds-invalid", "credentials": bad})
    message = str(info.value)
    assert info.value.field == "payload.credentials"
    assert "database" in message and "port" in message
    assert secret not in message and "not-a-port" not in message
    assert runs.list(task_id=TASK).data == []  # refused: no run was created


def test_invalid_credentials_that_reach_a_worker_fail_at_once_naming_the_field(worker: Worker) -> None:
    """A payload stored without the trigger-time check (an older client) still fails once, without echoing secrets."""
    secret = "tid-should-never-echo-1234"
    bad = {"type": "postgres", "host": "127.0.0.1", "username": "u", "password": secret, "port": "not-a-port"}
    run = runs.wait(enqueue_unchecked(worker.database_url, TASK, {"data_source_id": "ds-invalid", "credentials": bad}), timeout=60)
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.type == "PayloadValidationError"
    assert "credentials" in run.error.message and "database" in run.error.message and "port" in run.error.message
    assert secret not in run.error.message and "not-a-port" not in run.error.message
    assert secret not in run.model_dump_json()
    assert "stage" not in run.metadata  # the task function never ran
    assert run.attempts == 1
    assert run.finished_at is not None and run.started_at is not None
    # failed at once, no retry delay (>= 2 s for this task); SQLite keeps whole seconds, so a run that started at
    # x.99 s and ended at x+1.01 s reads 1.0
    assert (run.finished_at - run.started_at).total_seconds() <= 1


def test_unknown_source_type_is_refused_at_trigger(worker: Worker) -> None:
    with pytest.raises(PayloadError, match="oracle") as info:
        tasks.trigger(TASK, {"data_source_id": "ds-unknown", "credentials": {"type": "oracle", "host": "x"}})
    assert info.value.field == "payload.credentials"


# -- cancel and timeout ------------------------------------------------------------------------------------------------
def _slow_profile_payload(pg_source: PgSource) -> dict[str, Any]:
    return {
        "data_source_id": "ds-slow",
        "credentials": pg_source.credentials(),
        "filters": {"include_schemas": [pg_source.slow_schema], "include_tables": ["slow_rows"]},
        "profile": True,
        "profile_views": True,
    }


def _server_pid_running(admin: Any, view: str, within_s: float = 15) -> int:
    """pid of the backend reading the slow view: the one holding a lock on it (pg_stat_activity only shows the
    named cursor's FETCH, and other engineers' sessions share the connector's application_name)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        row = admin.execute(
            "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.relation = to_regclass(%s) AND l.pid <> pg_backend_pid() AND a.state = 'active'",
            [view],
        ).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError("the profile query never started on the server")


def _session_gone(admin: Any, pid: int, within_s: float = 3) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0] == 0:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_cancel_or_timeout_stops_the_server_query_and_closes_the_connector(worker: Worker, pg_source: PgSource, how: str) -> None:
    options = {"max_duration": 4} if how == "timeout" else {}
    handle = tasks.trigger(TASK, _slow_profile_payload(pg_source), **options)
    with pg_source.admin() as admin:
        pid = _server_pid_running(admin, f'"{pg_source.slow_schema}".slow_rows')
        live = runs.retrieve(handle.id)
        assert live.status is RunStatus.EXECUTING
        deadline = time.monotonic() + 3
        while live.metadata.get("stage") != "profiling" and time.monotonic() < deadline:  # flushed every 0.5 s
            time.sleep(0.1)
            live = runs.retrieve(handle.id)
        assert live.metadata["stage"] == "profiling"
        assert live.metadata["profile_current"] == f"test.{pg_source.slow_schema}.slow_rows"
        stopped_at = time.monotonic()
        if how == "cancel":
            runs.cancel(handle.id)
        run = runs.wait(handle.id, timeout=15)
        assert run.status is (RunStatus.CANCELED if how == "cancel" else RunStatus.TIMED_OUT)
        assert time.monotonic() - stopped_at < 8  # far less than the ~50 s the view needs
        assert _session_gone(admin, pid), "the connector's server session outlived the run"
    assert snapshots.latest_snapshot("ds-slow") is None
    deadline = time.monotonic() + 2
    while connections.open_connector_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connections.open_connector_count() == 0  # the cleanup hook ran: it closed and forgot the connector


def test_cancel_on_mariadb_kills_the_query_and_closes_the_connection(worker: Worker, mysql_slow_source: MySQLSlowSource) -> None:
    payload = {
        "data_source_id": "ds-my-slow",
        "credentials": mysql_slow_source.credentials(),
        "filters": {"include_tables": ["slow_rows"]},
        "profile": True,
        "profile_views": True,
    }
    handle = tasks.trigger(TASK, payload)
    admin = mysql_slow_source.admin()
    try:
        thread_id = None
        deadline = time.monotonic() + 15
        with admin.cursor() as cur:
            while thread_id is None and time.monotonic() < deadline:
                cur.execute(
                    "SELECT id FROM information_schema.processlist WHERE db = %s AND info LIKE %s AND id <> connection_id()",
                    (mysql_slow_source.database, "%slow_rows%"),
                )
                row = cur.fetchone()
                thread_id = row[0] if row else None
                time.sleep(0.05)
            assert thread_id is not None, "the profile query never started on the server"
            runs.cancel(handle.id)
            assert runs.wait(handle.id, timeout=15).status is RunStatus.CANCELED
            gone = False
            deadline = time.monotonic() + 3
            while not gone and time.monotonic() < deadline:
                cur.execute("SELECT count(*) FROM information_schema.processlist WHERE id = %s", (thread_id,))
                gone = cur.fetchone()[0] == 0
                time.sleep(0.05)
            assert gone, "the connector's MariaDB connection outlived the run"
    finally:
        admin.close()
    assert snapshots.latest_snapshot("ds-my-slow") is None


# -- scheduling --------------------------------------------------------------------------------------------------------
def test_schedule_tick_introspects_the_registered_data_source(worker: Worker, pg_source: PgSource) -> None:
    source = sources.add_source("ds-cron", pg_source.credentials(), filters={"include_schemas": [pg_source.shop_schema]})
    schedule = schedules.create(task="introspect-data-scheduled", cron="0 3 * * *", timezone="Europe/Paris", external_id=source.id)
    assert schedule.external_id == source.id
    assert worker.backend is not None
    # fire the tick as the scheduler would once 03:00 Paris time has come
    started = schedules.tick(worker.backend, {"introspect-data-scheduled"}, now=schedule.next_run_at.timestamp() + 1)
    assert len(started) == 1
    parent = runs.wait(started[0], timeout=60)
    assert parent.status is RunStatus.COMPLETED, parent.error
    assert parent.output["data_source_id"] == source.id
    child = runs.retrieve(parent.output["run_id"])
    assert child.task_id == TASK and child.status is RunStatus.COMPLETED and child.parent_id == parent.id
    assert counts_of(child.output) == PG_SHOP_COUNTS
    assert snapshots.latest_snapshot(source.id).id == child.output["snapshot_id"]  # type: ignore[union-attr]
    assert "credentials" not in child.payload  # the child read them from the registry: no secret in a run payload


def test_registered_source_runs_without_credentials_in_the_payload(worker: Worker, mysql_source: MySQLSource) -> None:
    source = sources.add_source("ds-registered", mysql_source.credentials(), profile=True)
    run = run_to_end({"data_source_id": source.id, "profile": True, "max_tables_to_profile": 1})
    assert run.status is RunStatus.COMPLETED, run.error
    assert counts_of(run.output) == MYSQL_COUNTS and run.output["profiled_tables"] == 1
    assert mysql_source.password not in json.dumps(run.payload)
    assert mysql_source.password not in stored_text(run.id, store_engine())


def test_unregistered_source_without_credentials_fails_once(worker: Worker) -> None:
    run = run_to_end({"data_source_id": "ds-never-registered"})
    assert run.status is RunStatus.FAILED and run.attempts == 1
    assert run.error is not None and run.error.type == "AbortTaskRunError" and "ds-never-registered" in run.error.message


def test_scheduled_run_for_an_unregistered_source_fails_without_retry(worker: Worker) -> None:
    tick = {
        "type": "IMPERATIVE", "schedule_id": "sched_x", "timestamp": "2026-01-01T03:00:00Z", "timezone": "UTC",
        "external_id": "ds-nobody", "upcoming": [],
    }
    run = runs.wait(tasks.trigger("introspect-data-scheduled", tick).id, timeout=30)
    assert run.status is RunStatus.FAILED and run.attempts == 1
    assert "ds-nobody" in run.error.message  # type: ignore[union-attr]


def test_register_data_source_rejects_bad_credentials_naming_the_field(worker: Worker) -> None:
    from connectors import CredentialsError

    with pytest.raises(CredentialsError, match="database"):
        sources.add_source("ds-bad", {"type": "postgres", "host": "h", "username": "u"})
    assert sources.list_sources() == []


# -- the README's command ----------------------------------------------------------------------------------------------
def test_cli_trigger_local_wait_runs_the_task_and_exits_zero(tmp_path: Path, pg_source: PgSource) -> None:
    """`taskpack trigger introspect-data --payload ... --local --wait`, as README.md shows it (`-m` loads only this
    task, so another task folder that fails to import cannot break this test)."""
    from typer.testing import CliRunner

    from runtime.cli import app

    payload = {
        "data_source_id": "ds-cli",
        "credentials": pg_source.credentials(),
        "filters": {"include_schemas": [pg_source.shop_schema]},
        "profile": True,
        "max_tables_to_profile": 2,
    }
    args = ["trigger", TASK, "--payload", json.dumps(payload), "--local", "--wait", "-m", "tasks.introspect_data.task", "--database-url", f"sqlite:///{tmp_path / 'cli.sqlite'}"]
    try:
        result = CliRunner().invoke(app, args)
    finally:
        reset_backends()
    assert result.exit_code == 0, result.output
    assert "COMPLETED" in result.output and "progress" in result.output
    printed = json.loads(result.output[result.output.rindex('{\n  "data_source_id"') :])  # the output object, printed last
    assert counts_of(printed) == PG_SHOP_COUNTS and printed["profiled_tables"] == 2


# -- PostgreSQL as the runtime database ----------------------------------------------------------------------------------
def test_runs_on_a_postgresql_runtime_database(tmp_path: Path, pg_source: PgSource) -> None:
    url, drop = make_database("postgres", tmp_path)
    try:
        with Worker(database_url=url, tasks=[introspect_module], concurrency=2):
            run = run_to_end(
                {
                    "data_source_id": "ds-pg-runtime",
                    "credentials": pg_source.credentials(),
                    "filters": {"include_schemas": [pg_source.shop_schema]},
                    "profile": True,
                    "max_tables_to_profile": 1,
                }
            )
            assert run.status is RunStatus.COMPLETED, run.error
            assert counts_of(run.output) == PG_SHOP_COUNTS
            engine = store_engine()
            assert engine.dialect.name == "postgresql"
            snapshot = snapshots.latest_snapshot("ds-pg-runtime")
            assert snapshot is not None and snapshot.id == run.output["snapshot_id"] and len(snapshot.profiles) == 1
    finally:
        reset_backends()
        drop()

"""Profiling that fans out to `introspect-data-profile` child runs, on SQLite and PostgreSQL runtime databases, against
the real PostgreSQL (the `tid_fan_*` schema of fanout_fixtures.py).

What is proved: fan-out profiles every table exactly as the in-run path does; a table whose profile times out becomes
a warning naming it while the rest go on (in the run and in a child); a child run that fails as a whole turns its
tables into warnings; `profile_concurrency` bounds the children running at once and progress moves as they finish;
canceling the parent, or the parent hitting max_duration, stops every child and every query on the server; a child
whose parent is already gone cancels itself before it reads anything; registered credentials never enter a payload.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from pydantic import ValidationError

from runtime import PayloadError, RunStatus, Worker, runs, task, tasks
from runtime.backend import reset_backends
from store import snapshots, sources
from tasks.introspect_data import connections
from tasks.introspect_data.fanout import children_tag
from tasks.introspect_data.interfaces import IntrospectDataInput
from tasks.introspect_data.profile_task import PROFILE_QUEUE, PROFILE_TASK_ID, introspect_data_profile
from tests.secret_scan import database_bytes, hits
from tests.tasks.fanout_fixtures import (  # noqa: F401 - fixtures
    PACE_VIEWS,
    SLOW_VIEWS,
    TABLES,
    FanSource,
    Runtime,
    fan_source,
    runtime_db,
)

TASK = "introspect-data"


def run_to_end(payload: dict[str, Any], timeout: float = 90, **options: Any):
    return runs.wait(tasks.trigger(TASK, payload, **options).id, timeout=timeout)


def children_of(run_id: str) -> list[Any]:
    return sorted(runs.list(tag=children_tag(run_id), limit=500).data, key=lambda r: r.created_at)


def _chunk_tables(child: Any) -> list[str]:
    """The table names of a profiling child's chunk, from its payload."""
    payload = child.payload if isinstance(child.payload, dict) else {}
    return [t.get("name") for t in payload.get("tables", []) if isinstance(t, dict)]


def wait_for_children(run_id: str, count: int, within_s: float = 20) -> list[Any]:
    """The run's first `count` children once they execute. Wait for them before looking at server sessions: until the
    parent has fanned out, the one reading a view's catalog entry (pg_get_viewdef locks it) is the parent's own."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        children = children_of(run_id)
        if len(children) >= count and all(c.status is RunStatus.EXECUTING for c in children):
            return children
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never had {count} children executing")


def wait_for_child_reading(run_id: str, table: str, within_s: float = 20) -> Any:
    """The child profiling `table`, once it executes (its siblings with small tables may already have finished)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        child = next((c for c in children_of(run_id) if _chunk_tables(c) == [table]), None)
        if child is not None and child.status is RunStatus.EXECUTING:
            return child
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never had a child profiling {table} executing")


@pytest.fixture(autouse=True)
def no_session_outlives_its_test(fan_source: FanSource) -> Iterator[None]:
    """Set up first, so torn down after the worker stops: whatever its threads still read on the server is ended."""
    yield
    with fan_source.admin() as admin:
        fan_source.end_sessions_reading(admin, SLOW_VIEWS + PACE_VIEWS)


def profiles_of(snapshot_id: str) -> list[dict[str, Any]]:
    snapshot = snapshots.get_snapshot(snapshot_id)
    return [p.model_dump(mode="json", by_alias=True, exclude={"profiled_at"}) for p in snapshot.profiles]


def profile_warnings(output: dict[str, Any]) -> list[dict[str, Any]]:
    """The output's profiling warnings (the local `postgres` superuser also gets a role_not_read_only warning)."""
    return [w for w in output["warnings"] if w["code"].startswith("profile_")]


def session_gone(admin: psycopg.Connection[Any], pid: int, within_s: float = 5) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0] == 0:
            return True
        time.sleep(0.05)
    return False


def wait_all_final(run_ids: list[str], within_s: float = 15) -> list[Any]:
    return [runs.wait(run_id, timeout=within_s) for run_id in run_ids]


def connectors_closed(within_s: float = 3) -> bool:
    deadline = time.monotonic() + within_s
    while connections.open_connector_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    return connections.open_connector_count() == 0


# -- results -----------------------------------------------------------------------------------------------------------
def test_fan_out_profiles_every_table_exactly_as_the_in_run_path(runtime_db: Runtime, fan_source: FanSource) -> None:
    password = f"fanPw-{secrets.token_urlsafe(12)}"  # trust auth ignores it; it must appear nowhere in the database
    source = sources.add_source("fan", fan_source.credentials(password=password), filters=fan_source.filters("t*"))
    base = {"data_source_id": source.id, "profile": True, "profile_sample_size": 1000}
    in_run = run_to_end({**base, "profile_chunk_size": 100})
    fanned = run_to_end({**base, "profile_chunk_size": 2, "profile_concurrency": 2})

    for run in (in_run, fanned):
        assert run.status is RunStatus.COMPLETED, run.error
        assert run.output["profiled_tables"] == len(TABLES) and run.output["profile_failures"] == 0
        assert profile_warnings(run.output) == []
        assert run.metadata["profiled_tables"] == len(TABLES) and run.metadata["profile_failures"] == 0
        assert run.metadata["progress"] == 1.0
    assert in_run.output["profile_runs"] == 0 and children_of(in_run.id) == []
    assert fanned.output["profile_runs"] == 4 and fanned.metadata["profile_runs"] == 4
    assert fanned.metadata["profile"] == {"total": 7, "chunks": 4, "chunk_size": 2, "concurrency": 2}

    expected = profiles_of(in_run.output["snapshot_id"])
    assert [p["table"] for p in expected] == TABLES  # catalog order
    assert {p["sample_method"] for p in expected} == {"full", "tablesample"}  # t2 and t7 are sampled, seeded
    assert profiles_of(fanned.output["snapshot_id"]) == expected

    children = children_of(fanned.id)
    assert len(children) == 4
    chunks = sorted([t["name"] for t in c.payload["tables"]] for c in children)  # SQLite times are whole seconds
    assert chunks == [["t1", "t2"], ["t3", "t4"], ["t5", "t6"], ["t7"]]
    for child in children:
        assert child.task_id == PROFILE_TASK_ID and child.status is RunStatus.COMPLETED
        assert child.parent_id == fanned.id and child.queue == PROFILE_QUEUE.name
        assert child.payload.get("credentials") is None  # the child decrypted the registered source itself
        assert child.metadata["profiled_tables"] == len(child.payload["tables"])
    assert hits(database_bytes(runtime_db.url), password) == []


def test_children_of_inline_credentials_carry_them_in_the_typed_field_shown_masked(
    runtime_db: Runtime, fan_source: FanSource
) -> None:
    password = f"fanPw-{secrets.token_urlsafe(12)}"
    run = run_to_end({
        "data_source_id": "ds-inline", "credentials": fan_source.credentials(password=password),
        "filters": fan_source.filters("t1", "t3", "t5"), "profile": True, "profile_chunk_size": 1,
    })
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.output["profile_runs"] == 3 and run.output["profiled_tables"] == 3
    for child in children_of(run.id):
        assert child.payload["credentials"]["username"] == fan_source.credentials()["username"]
        assert child.payload["credentials"]["password"] != password and password not in json.dumps(child.payload)
        assert password not in json.dumps(child.metadata) and password not in json.dumps(child.output)


# -- warnings ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk_size", [100, 1], ids=["in-run", "fan-out"])
def test_a_table_whose_profile_times_out_becomes_a_warning_and_the_rest_go_on(
    runtime_db: Runtime, fan_source: FanSource, chunk_size: int
) -> None:
    slow = f"test.{fan_source.schema}.slow_1"
    started = time.monotonic()
    run = run_to_end({
        "data_source_id": "ds-timeout", "credentials": fan_source.credentials(),
        "filters": fan_source.filters("t1", "t3", "slow_1"), "profile": True, "profile_views": True,
        "profile_table_timeout": 1.5, "profile_chunk_size": chunk_size, "profile_concurrency": 3,
    })
    assert run.status is RunStatus.COMPLETED, run.error
    assert time.monotonic() - started < 25  # the view alone needs minutes
    assert run.output["profiled_tables"] == 2 and run.output["profile_failures"] == 1
    [warning] = profile_warnings(run.output)
    assert warning["code"] == "profile_timed_out" and warning["details"]["table"] == slow
    tried = [c.id for c in children_of(run.id) if c.payload["tables"][0]["name"] == "slow_1"]
    assert warning["details"].get("run_id") == (tried[0] if chunk_size == 1 else None)  # the child run that tried
    assert slow in warning["message"] and "1.5 s" in warning["message"]
    assert run.metadata["profile_warnings"] == [{"code": "profile_timed_out", "table": slow}]
    assert run.metadata["profile_failures"] == 1
    snapshot = snapshots.get_snapshot(run.output["snapshot_id"])
    assert sorted(p.table for p in snapshot.profiles) == ["t1", "t3"]
    assert [w.model_dump() for w in snapshot.warnings if w.code.startswith("profile_")] == [warning]  # kept with it
    logged_in = [c.id for c in children_of(run.id)] if chunk_size == 1 else [run.id]
    timed_out = [e for rid in logged_in for e in runs.logs(rid) if e.message == "table profile timed out"]
    assert [e.fields["table"] for e in timed_out] == [slow]
    with fan_source.admin() as admin:
        assert fan_source.sessions_reading(admin, ["slow_1"]) == set()  # the statement was canceled on the server
    assert connectors_closed()


def test_a_child_run_that_ends_badly_turns_its_tables_into_warnings_naming_it(runtime_db: Runtime, fan_source: FanSource) -> None:
    slow = f"test.{fan_source.schema}.slow_2"
    handle = tasks.trigger(TASK, {
        "data_source_id": "ds-child-fails", "credentials": fan_source.credentials(),
        "filters": fan_source.filters("t1", "t3", "slow_2"), "profile": True, "profile_views": True,
        "profile_chunk_size": 1, "profile_concurrency": 3,
    })
    victim = wait_for_child_reading(handle.id, "slow_2")
    with fan_source.admin() as admin:
        [pid] = fan_source.wait_for_sessions(admin, ["slow_2"], 1)
        runs.cancel(victim.id)  # this child only: its parent goes on
        run = runs.wait(handle.id, timeout=30)
        assert session_gone(admin, pid)
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.output["profiled_tables"] == 2 and run.output["profile_failures"] == 1
    [warning] = profile_warnings(run.output)
    assert warning["code"] == "profile_failed" and warning["details"]["table"] == slow
    assert warning["details"]["run_id"] == victim.id and warning["details"]["status"] == "CANCELED"
    assert victim.id in warning["message"]
    assert runs.retrieve(victim.id).status is RunStatus.CANCELED


# -- concurrency and progress ----------------------------------------------------------------------------------------
def test_children_respect_profile_concurrency_and_progress_moves_as_they_finish(
    runtime_db: Runtime, fan_source: FanSource
) -> None:
    handle = tasks.trigger(TASK, {
        "data_source_id": "ds-pace", "credentials": fan_source.credentials(),
        "filters": fan_source.filters("pace_*"), "profile": True, "profile_views": True,
        "profile_chunk_size": 1, "profile_concurrency": 2,
    })
    most_children = most_sessions = 0
    done_seen: set[int] = set()
    progress_seen: set[float] = set()
    with fan_source.admin() as admin:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            running = runs.list(tag=children_tag(handle.id), status=RunStatus.EXECUTING).data
            most_children = max(most_children, len(running))
            most_sessions = max(most_sessions, len(fan_source.sessions_reading(admin, PACE_VIEWS)))
            parent = runs.retrieve(handle.id)
            if parent.is_final:
                break
            if parent.metadata.get("stage") == "profiling":
                done_seen.add(parent.metadata.get("profiled_tables", 0))
                progress_seen.add(parent.metadata.get("progress", 0))
            time.sleep(0.05)
    assert parent.status is RunStatus.COMPLETED, parent.error
    assert most_children == 2  # the worker could run 4 at once: profile_concurrency is what held it to 2
    assert 1 <= most_sessions <= 2
    assert any(0 < done < len(PACE_VIEWS) for done in done_seen), done_seen  # counted as children finished
    assert any(0.5 < p < 0.95 for p in progress_seen), progress_seen
    assert parent.output["profiled_tables"] == len(PACE_VIEWS) and parent.output["profile_runs"] == len(PACE_VIEWS)
    assert all(c.status is RunStatus.COMPLETED for c in children_of(handle.id))


def test_the_next_chunk_starts_as_soon_as_an_earlier_one_ends_while_another_still_runs(
    runtime_db: Runtime, fan_source: FanSource
) -> None:
    """A sliding window, not groups: with chunks [fast, slow, next] and concurrency 2, `next` starts while `slow` is
    still profiling (waiting for the group [fast, slow] would start it only after `slow`)."""
    with fan_source.admin() as admin:
        admin.execute(f'CREATE TABLE "{fan_source.schema}".a_fast AS SELECT 1 AS id')
    try:
        handle = tasks.trigger(TASK, {
            "data_source_id": "ds-window", "credentials": fan_source.credentials(),
            "filters": fan_source.filters("a_fast", "pace_1", "t5"), "profile": True, "profile_views": True,
            "profile_chunk_size": 1, "profile_concurrency": 2,
        })
        overlapped = False
        deadline = time.monotonic() + 60
        slow_id = None
        while time.monotonic() < deadline and not runs.retrieve(handle.id).is_final:
            children = children_of(handle.id)  # found by its table, not its place: SQLite orders by whole seconds
            if slow_id is None:
                slow_id = next((c.id for c in children if _chunk_tables(runs.retrieve(c.id)) == ["pace_1"]), None)
            if len(children) == 3 and slow_id is not None and not runs.retrieve(slow_id).is_final:
                overlapped = True
            time.sleep(0.02)
        parent = runs.wait(handle.id, timeout=30)
    finally:
        with fan_source.admin() as admin:
            admin.execute(f'DROP TABLE IF EXISTS "{fan_source.schema}".a_fast')
    assert parent.status is RunStatus.COMPLETED, parent.error
    assert parent.output["profiled_tables"] == 3 and parent.output["profile_runs"] == 3
    assert overlapped  # the third child was triggered while the second (pace_1, ~1 s of pg_sleep) still ran


# -- stopping --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["cancel", "max_duration"])
def test_stopping_the_parent_stops_every_child_and_every_query_on_the_server(
    runtime_db: Runtime, fan_source: FanSource, how: str
) -> None:
    options = {"max_duration": 6} if how == "max_duration" else {}
    handle = tasks.trigger(TASK, {
        "data_source_id": "ds-stop", "credentials": fan_source.credentials(),
        "filters": fan_source.filters("slow_*"), "profile": True, "profile_views": True,
        "profile_chunk_size": 1, "profile_concurrency": 2,
    }, **options)
    started = wait_for_children(handle.id, 2)
    with fan_source.admin() as admin:
        pids = fan_source.wait_for_sessions(admin, SLOW_VIEWS, 2)
        assert len(children_of(handle.id)) == 2
        if how == "cancel":
            runs.cancel(handle.id)
        parent = runs.wait(handle.id, timeout=20)
        assert parent.status is (RunStatus.CANCELED if how == "cancel" else RunStatus.TIMED_OUT)
        assert [c.status for c in wait_all_final([c.id for c in started])] == [RunStatus.CANCELED] * 2
        assert all(session_gone(admin, pid) for pid in pids), "a child's server session outlived the cancel"
        assert fan_source.sessions_reading(admin, SLOW_VIEWS) == set()
        time.sleep(2)  # nothing starts afterwards: no third child, no new query
        assert [c.id for c in children_of(handle.id)] == [c.id for c in started]
        assert fan_source.sessions_reading(admin, SLOW_VIEWS) == set()
    assert connectors_closed()
    assert snapshots.latest_snapshot("ds-stop") is None


def test_a_child_whose_parent_is_gone_cancels_itself_before_reading(tmp_path: Path, fan_source: FanSource) -> None:
    """A child enqueued as its parent was being canceled (or just after it timed out) must not run on its own."""

    @task(id="fan-test-hands-off")
    def hands_off(payload: dict[str, Any], ctx: Any) -> str:
        return introspect_data_profile.trigger(payload, delay=1).id  # and returns at once: no wait

    child_payload = {"data_source_id": "ds-orphan", "credentials": fan_source.credentials(),
                     "tables": [{"name": "slow_3", "schema": fan_source.schema}], "table_timeout": 60}
    try:
        with Worker(database_url=f"sqlite:///{tmp_path / 'orphan.sqlite'}", tasks=[hands_off, introspect_data_profile]):
            parent = runs.wait(tasks.trigger("fan-test-hands-off", child_payload).id, timeout=20)
            assert parent.status is RunStatus.COMPLETED, parent.error
            child = runs.wait(parent.output, timeout=20)
            assert child.status is RunStatus.CANCELED and child.parent_id == parent.id
            assert any(e.message == "parent run finished: canceling this profile run" for e in runs.logs(child.id))
            assert "profile_current" not in child.metadata  # it never started a table
    finally:
        reset_backends()


# -- input -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [("profile_chunk_size", 0), ("profile_chunk_size", 1001), ("profile_concurrency", 0), ("profile_concurrency", 65),
     ("profile_table_timeout", 0), ("profile_table_timeout", 3601), ("profile_concurrency", "many")],
)
def test_bad_fan_out_settings_are_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        IntrospectDataInput.model_validate({"data_source_id": "x", field: value})
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_a_bad_setting_is_refused_at_trigger(runtime_db: Runtime) -> None:
    with pytest.raises(PayloadError) as info:
        tasks.trigger(TASK, {"data_source_id": "ds-bad", "profile": True, "profile_concurrency": 0})
    assert info.value.field == "payload.profile_concurrency"
    assert runs.list(task_id=TASK).data == []  # refused: no run was created

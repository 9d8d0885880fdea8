"""The DBOS adapter: what it relies on in DBOS still holds, it is the only door to DBOS, and its status function
agrees with its SQL twin on every state a workflow can be in.

When a DBOS upgrade changes a table, a column, a workflow state or a private function the runtime uses, a test here
fails and names it: read runtime/dbos_adapter.py (RELIES_ON) before anything else.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import itertools
import re
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy as sa
from dbos import DBOS, DBOSClient

from runtime import dbos_adapter
from runtime.backend import get_backend
from runtime.dbos_adapter import RELIES_ON, ListFilter, run_status, status_clause
from runtime.errors import RunFailed
from runtime.models import RunStatus
from tests.runtime import raw_store
from tests.runtime.conftest import fresh_database

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
# The serializer subclasses DBOS's public `Serializer` (DBOS calls it to store and read what it records).
MAY_IMPORT_DBOS = {"dbos_adapter.py", "serializer.py"}


def _dbos_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "dbos"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dbos" and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__"):
            if node.args and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).split(".")[0] == "dbos":
                found.append(str(node.args[0].value))
    return found


def test_only_the_adapter_imports_dbos() -> None:
    offenders = {p.name: _dbos_imports(p) for p in sorted(RUNTIME.glob("*.py")) if p.name not in MAY_IMPORT_DBOS}
    offenders = {name: mods for name, mods in offenders.items() if mods}
    assert offenders == {}, f"only runtime/dbos_adapter.py may import DBOS; also found in {offenders}"
    assert _dbos_imports(RUNTIME / "dbos_adapter.py"), "the scan finds DBOS imports where they are"
    assert _dbos_imports(RUNTIME / "serializer.py") == ["dbos"], "the serializer takes DBOS's public Serializer only"


def test_the_scan_catches_every_way_of_importing_dbos(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "import dbos\nimport dbos._sys_db as s\nfrom dbos import DBOS\nfrom dbos._core import x\n"
        "import importlib\nm = importlib.import_module('dbos._recovery')\nn = __import__('dbos')\nfrom . import dbos_adapter\n"
    )
    assert _dbos_imports(sneaky) == ["dbos", "dbos._sys_db", "dbos", "dbos._core", "dbos._recovery", "dbos"]


def test_no_module_but_the_adapter_reaches_dbos_internals() -> None:
    """What the issue named: `_sys_db`, `_recover_pending_workflows` and raw SQL on `workflow_status`."""
    needles = ("_sys_db", "_recover_pending_workflows", "update_workflow_attributes", "workflow_status", "operation_outputs", "workflow_input")
    found = {
        (p.name, n)
        for p in RUNTIME.glob("*.py")
        if p.name != "dbos_adapter.py"
        for n in needles
        if n in p.read_text()
    }
    assert found == set()


# -- what the adapter relies on in DBOS -----------------------------------------------------------------------------------
def test_the_private_functions_the_adapter_calls_keep_their_shape() -> None:
    from dbos._sys_db import SystemDatabase

    from dbos import _utils

    assert set(RELIES_ON["private"]) == {
        "DBOSClient._sys_db", "SystemDatabase.update_workflow_attributes", "SystemDatabase.tables", "SystemDatabase.engine",
        "DBOS._recover_pending_workflows", "SystemDatabase.get_pending_workflows", "SystemDatabase.reenqueue_for_recovery",
        "dbos._utils.INTERNAL_QUEUE_NAME", "dbos._dbos.queue_thread", "DBOS.background_thread_stop_events",
        "dbos._queue.queue_worker_thread", "DBOS._active_workflows_set", "ActiveWorkflowById._remove",
        "SystemDatabase.get_queue", "SystemDatabase._is_latest_version", "SystemDatabase.start_queued_workflows",
        "Queue._worker_concurrency", "ActiveWorkflowById.add", "ActiveWorkflowById.count_for_queue",
        "ActiveWorkflowById._m / _lock", "SystemDatabase._insert_workflow_status", "DBOSClient._build_enqueue_status",
        "SystemDatabase._apply_caller_schema", "dbos._utils.generate_uuid", "SystemDatabase.get_workflow_statuses",
        "SystemDatabase claim helpers", "Queue limits", "SystemDatabase.update_workflow_outcome",
        "dbos._context.current_owner_xid", "SystemDatabase._execute_prepared", "dbos._core.execute_dequeued_workflow",
        "dbos._utils.GlobalParams", "SystemDatabase._now_ms_sql",
    }, "a reliance added to the adapter needs its check here"
    _check_clock_reliances()
    _check_dequeue_reliances()
    _check_claim_reliances()
    _check_outcome_reliances()
    _check_queue_wakeup_reliances()
    _check_batch_enqueue_reliances()
    pending = inspect.signature(SystemDatabase.get_pending_workflows)
    assert list(pending.parameters)[1:] == ["executor_id", "app_version"], pending
    requeue = inspect.signature(SystemDatabase.reenqueue_for_recovery)
    assert list(requeue.parameters)[1:] == ["workflow_id", "executor_ids", "recovery_queue_name"], requeue
    assert isinstance(_utils.INTERNAL_QUEUE_NAME, str) and _utils.INTERNAL_QUEUE_NAME
    recover = inspect.signature(DBOS._recover_pending_workflows)
    assert list(recover.parameters)[-1] == "executor_ids" or "executor_ids" in recover.parameters, recover
    update = inspect.signature(SystemDatabase.update_workflow_attributes)
    assert {"workflow_id", "attributes", "merge"} <= set(update.parameters), update
    public = {
        DBOSClient: ("list_workflows", "enqueue", "cancel_workflow", "destroy"),
        DBOS: ("run_step", "run_step_async", "sleep", "sleep_async", "enqueue_workflow_with_options",
               "enqueue_workflow_with_options_async", "retrieve_workflow", "retrieve_workflow_async", "workflow", "launch",
               "destroy", "listen_queues", "register_queue", "migrate"),
    }
    missing = [f"{cls.__name__}.{name}" for cls, names in public.items() for name in names if not callable(getattr(cls, name, None))]
    assert missing == []
    listing = inspect.signature(DBOSClient.list_workflows)
    assert {"workflow_ids", "load_input", "load_output"} <= set(listing.parameters), listing
    assert "cancel_children" in inspect.signature(DBOSClient.cancel_workflow).parameters


def _check_clock_reliances() -> None:
    """`millisecond_clock` replaces `_now_ms_sql` on the instance: DBOS calls it through `self` as it builds its
    statements, and its status insert leaves `created_at` to the column's default (which `_PreparedOnSqlite` stamps
    on SQLite; tests/runtime/test_run_times.py checks the times themselves)."""
    from dbos._sys_db import SystemDatabase

    assert list(inspect.signature(SystemDatabase._now_ms_sql).parameters) == ["self"]
    assert inspect.getsource(SystemDatabase).count("self._now_ms_sql()") >= 5
    insert = inspect.getsource(SystemDatabase._insert_workflow_status)
    assert '"insert_workflow_status", values' in insert and "created_at" not in insert


def _check_dequeue_reliances() -> None:
    """What `_reuse_slow_reads` and `_note_backlogs` wrap: the queue thread calls them on the SystemDatabase instance
    (so an instance attribute replaces them), with these parameters, and a dequeue returns (claimed ids, reason)."""
    from dbos import _queue
    from dbos._sys_db import SystemDatabase

    assert list(inspect.signature(SystemDatabase.get_queue).parameters) == ["self", "name", "client_system_database"]
    assert list(inspect.signature(SystemDatabase._is_latest_version).parameters) == ["self", "app_version", "c"]
    claim = list(inspect.signature(SystemDatabase.start_queued_workflows).parameters)
    assert claim[:6] == ["self", "queue", "executor_id", "app_version", "queue_partition_key", "local_running_count"], claim
    worker = inspect.getsource(_queue.queue_worker_thread)
    assert "dbos._sys_db.get_queue(queue.name)" in worker and "dbos._sys_db.start_queued_workflows(" in worker
    assert "self._is_latest_version(app_version, c)" in inspect.getsource(SystemDatabase.start_queued_workflows)
    assert "self._worker_concurrency = worker_concurrency" in inspect.getsource(_queue.Queue.__init__)
    from dbos import _core

    active = _core.ActiveWorkflowById()
    assert list(inspect.signature(_core.ActiveWorkflowById.add).parameters) == ["self", "key", "queue_name", "queue_partition_key"]
    assert isinstance(active._m, dict) and isinstance(active._lock, type(threading.Lock()))
    active.add("probe", "q", None)
    assert active._m == {"probe": [("q", None)]} and active.count_for_queue("q") == 1
    assert "running = dbos._active_workflows_set.count_for_queue(queue.name)" in worker
    assert "dbos._active_workflows_set.add(" in inspect.getsource(_core._execute_workflow_wthread)


def _check_claim_reliances() -> None:
    """`_OneStatementClaim` stands in for DBOS's claim and the status read after it: the queue thread reads the
    statuses of what it claimed, in the same thread, right away; DBOS's claim is still built from the helpers reused
    here and writes the columns the adapter's claim writes (the row-by-row comparison is
    test_the_one_statement_claim_writes_and_hands_over_what_dbos_claim_does)."""
    from dbos import _queue
    from dbos._sys_db import SystemDatabase

    worker = inspect.getsource(_queue.queue_worker_thread)
    assert "dbos._sys_db.get_workflow_statuses(workflow_ids)" in worker and "start_dequeued_workflows(dequeued_workflows, owner_xid)" in worker
    assert list(inspect.signature(SystemDatabase.get_workflow_statuses).parameters) == ["self", "workflow_ids"]
    claim = inspect.getsource(SystemDatabase.start_queued_workflows)
    for part in ("self._name_filter(", "self._in_flight_status_prover()", "self._now_ms_sql()", "self._claim_gate(",
                 "self._scoped(", "with_for_update(skip_locked=skip_locks", "recovery_attempts=", "workflow_deadline_epoch_ms=",
                 "owner_xid=owner_xid", "rate_limited=", "application_name=self.app_name", "priority.asc()", "created_at.asc()"):
        assert part in claim, part
    written = set(re.findall(r"^\s{24}(\w+)=", claim, re.MULTILINE))
    assert written == {"status", "owner_xid", "application_version", "executor_id", "application_name", "started_at_epoch_ms",
                       "rate_limited", "recovery_attempts", "updated_at", "workflow_deadline_epoch_ms"}, written
    assert set(inspect.signature(_queue.Queue._has_partition_limits).parameters) == {"self", "overrides"}
    assert "is_latest_version" in inspect.signature(SystemDatabase.start_queued_workflows).parameters


def _check_outcome_reliances() -> None:
    """`_GroupedOutcomes` writes, on SQLite, what DBOS's `_update_workflow_outcome_in_transaction` writes: the status
    update of a PENDING run (owned by the writing execution) and the output upsert when it landed (the row-by-row
    comparison is tests/runtime/test_grouped_outcomes.py)."""
    from dbos import _context
    from dbos._sys_db import SystemDatabase

    outcome = inspect.signature(SystemDatabase.update_workflow_outcome)
    assert list(outcome.parameters) == ["self", "workflow_id", "status", "output", "error", "owner_xid"], outcome
    assert "current_owner_xid(workflow_id)" in inspect.getsource(SystemDatabase.update_workflow_outcome)
    body = inspect.getsource(SystemDatabase._update_workflow_outcome_in_transaction)
    values = body[body.index(".values("):body.index(".where(")]  # the status update's columns
    written = set(re.findall(r"^\s+(\w+)=", values, re.MULTILINE))
    assert written == {"status", "deduplication_id", "owner_xid", "updated_at", "completed_at"}, written
    for part in ("WorkflowStatusString.PENDING.value", "c.owner_xid == owner_xid", "result.rowcount == 0",
                 "on_conflict_do_update(", '"output": insert.excluded.output', '"error": insert.excluded.error'):
        assert part in body, part
    assert list(inspect.signature(_context.current_owner_xid).parameters)[0] == "workflow_id"


def _check_batch_enqueue_reliances() -> None:
    """`enqueue_many` (`_BatchRows`) has DBOS build each run's rows and collects them: DBOS's enqueue must still go
    through `_insert_workflow_status`, which runs its statements through `self._execute_prepared` and reads the status
    insert's result with fetchone() only."""
    from dbos import _client, _utils
    from dbos._sys_db import SystemDatabase

    insert = inspect.signature(SystemDatabase._insert_workflow_status)
    assert list(insert.parameters)[:3] == ["self", "status", "conn"] and "creator_xid" in insert.parameters, insert
    body = inspect.getsource(SystemDatabase._insert_workflow_status)
    assert body.count("self._execute_prepared(") == 2, "DBOS's enqueue writes other statements now"
    assert f'"{dbos_adapter.BATCH_STATUS_INSERT}"' in body and '"insert_workflow_input"' in body
    assert "results.fetchone()" in body and "results." not in body.replace("results.fetchone()", "")
    prepared = inspect.signature(SystemDatabase._execute_prepared)
    assert list(prepared.parameters) == ["self", "conn", "name", "values", "build", "insert_columns"], prepared
    assert prepared.parameters["insert_columns"].kind is inspect.Parameter.KEYWORD_ONLY
    # `_PreparedOnSqlite` compiles as DBOS does: the statement's columns are the values' keys, its constants kept
    source = inspect.getsource(SystemDatabase._execute_prepared)
    for part in ("column_keys=list(values) if insert_columns else None", "bind_processor(dialect)", "exec_driver_sql(sql, params)"):
        assert part in source, part
    enqueue = inspect.getsource(_client.DBOSClient._enqueue_with_connection)
    assert "self._build_enqueue_status(options, *args, **kwargs)" in enqueue and "init_workflow_with_connection" in enqueue
    assert "self._apply_caller_schema(conn)" in inspect.getsource(SystemDatabase.init_workflow_with_connection)
    assert isinstance(_utils.generate_uuid(), str)


def _check_queue_wakeup_reliances() -> None:
    """The queue wake-ups (runtime/dbos_adapter.py, `_install_queue_wakeups`): DBOS.launch starts `queue_thread`
    by its module name with a stop event it keeps in `background_thread_stop_events`; the queue threads are named
    queue-worker-<queue> and only wait on / test the event; a run leaves its slot through ActiveWorkflowById._remove."""
    from dbos import _core, _dbos, _queue

    assert list(inspect.signature(_queue.queue_thread).parameters) == ["stop_event", "dbos"]
    assert _dbos.queue_thread is _queue.queue_thread or _dbos.queue_thread is dbos_adapter._queue_thread
    launch = inspect.getsource(DBOS._launch if hasattr(DBOS, "_launch") else DBOS.launch)
    assert "target=queue_thread" in launch and "background_thread_stop_events.append(evt)" in launch
    assert "for event in self.background_thread_stop_events:" in inspect.getsource(DBOS._destroy)
    manager = inspect.getsource(_queue.queue_thread)
    assert 'name=f"queue-worker-{queue_name}"' in manager and "args=(stop_event, dbos, queue)" in manager
    worker = inspect.getsource(_queue.queue_worker_thread)
    uses = set(re.findall(r"stop_event\.(\w+)", worker))
    assert uses == {"wait", "is_set"}, uses
    assert list(inspect.signature(_core.ActiveWorkflowById._remove).parameters) == ["self", "key", "bucket"]
    assert "self._active._remove(self._key, self._bucket)" in inspect.getsource(_core.ActiveWorkflowEntry.release)
    assert "_active_workflows_set: ActiveWorkflowById = ActiveWorkflowById()" in inspect.getsource(DBOS.__init__)
    # a freed slot's own dequeue starts what it claimed as the queue thread does
    assert list(inspect.signature(_core.execute_dequeued_workflow).parameters) == ["dbos", "status", "owner_xid"]
    assert "execute_dequeued_workflow(dbos, status, owner_xid)" in worker
    assert "GlobalParams.executor_id" in worker and "GlobalParams.app_version" in worker


def test_dbos_has_exactly_the_workflow_states_the_status_function_maps() -> None:
    from dbos._sys_db import WorkflowStatusString

    assert {s.value for s in WorkflowStatusString} == set(RELIES_ON["states"])
    for state in RELIES_ON["states"]:
        assert isinstance(run_status(state, {}), RunStatus)


def test_the_tables_and_columns_the_adapter_uses_exist(db_url: str) -> None:
    backend = get_backend(db_url)
    tables = backend.dbos.sys_db.tables
    inspector = sa.inspect(backend.dbos.engine)
    for name, columns in RELIES_ON["tables"].items():
        table = getattr(tables, name)
        assert set(columns) <= set(table.c.keys()), f"DBOS's {name} model lost {set(columns) - set(table.c.keys())}"
        translate = backend.dbos.engine.get_execution_options().get("schema_translate_map") or {}
        schema = translate.get(table.schema, table.schema)
        stored = {c["name"] for c in inspector.get_columns(name, schema=schema)}
        assert set(columns) <= stored, f"the migrated {name} table lost {set(columns) - stored}"
    assert backend.dbos.workflows is tables.workflow_status


@contextlib.contextmanager
def _statements_sent(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements the engine sends to its driver while the block runs, with their parameters."""
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)


def test_changed_runs_are_read_through_an_index_dbos_does_not_have(db_url: str) -> None:
    """`changed_page` (webhook events, realtime) reads by updated_at: an index of ours on DBOS's table, built once,
    again harmlessly by every process, and used by the query instead of a scan of every run."""
    backend = get_backend(db_url)
    ws = backend.dbos.workflows
    translate = backend.dbos.engine.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(ws.schema, ws.schema)

    def indexes() -> dict[str, list[str]]:
        with warnings.catch_warnings():  # our expiry index is on an expression, which SQLAlchemy does not reflect
            warnings.simplefilter("ignore", sa.exc.SAWarning)
            found = sa.inspect(backend.dbos.engine).get_indexes("workflow_status", schema=schema)
        return {i["name"]: i["column_names"] for i in found}

    assert indexes()[dbos_adapter.CHANGES_INDEX] == ["updated_at", "workflow_uuid"]
    dbos_adapter.index_changes(backend.dbos.engine, ws)  # a second process starting: no error, still one index
    assert list(indexes()).count(dbos_adapter.CHANGES_INDEX) == 1
    run_id = raw_store.enqueue_unchecked(db_url, "adapter-probe", {"n": 1}, {})
    assert [r for r, _ in backend.dbos.changed_page(0, None, 10)] == [run_id]
    if backend.dbos.is_sqlite:
        with backend.dbos.engine.connect() as conn:
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT workflow_uuid, updated_at FROM workflow_status WHERE updated_at >= 0 "
                "ORDER BY updated_at, workflow_uuid LIMIT 11").all())
        assert dbos_adapter.CHANGES_INDEX in plan, plan



def test_expired_queued_runs_are_found_through_the_expiry_index(db_url: str) -> None:
    """Every worker looks for queued runs past their ttl twice a second: exactly those (queued or delayed, with a ttl
    that has passed; not a started run, not a run without ttl or with one that is not a number, not one still in
    time), read through a partial index of ours on the deadlines of waiting runs with a ttl, not through every queued
    run's attributes. (A row whose attributes are not JSON at all is written and listed: test_hostile_input.py.)"""
    backend = get_backend(db_url)
    now = time.time()
    expired = raw_store.enqueue_unchecked(db_url, "adapter-probe", {"n": 1}, {"expires_at": now - 5})
    delayed = raw_store.enqueue_unchecked(db_url, "adapter-probe", {"n": 2}, {"expires_at": now - 1})
    raw_store.set_columns(db_url, delayed, status="DELAYED")
    in_time = raw_store.enqueue_unchecked(db_url, "adapter-probe", {"n": 3}, {"expires_at": now + 60})
    started = raw_store.enqueue_unchecked(db_url, "adapter-probe", {"n": 4}, {"expires_at": now - 5})
    raw_store.set_columns(db_url, started, status="PENDING")
    no_ttl = raw_store.enqueue_unchecked(db_url, "adapter-probe", {"n": 5})
    not_a_number = raw_store.enqueue_unchecked(db_url, "adapter-probe", {"n": 6}, {"expires_at": "soon"})  # a foreign row
    assert in_time and no_ttl and not_a_number

    with _statements_sent(backend.dbos.engine) as statements:
        assert sorted(backend.dbos.expired_waiting(now)) == sorted([expired, delayed])
    (statement, parameters), = [s for s in statements if "workflow_uuid" in s[0]]
    with backend.dbos.engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        cursor = driver.cursor()
        if backend.dbos.is_sqlite:
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        else:  # a planner free to pick: the index when the query's WHERE shows its rows are the ones wanted
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + statement, parameters)
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        driver.rollback()
    assert dbos_adapter.EXPIRY_INDEX in plan, plan

def test_set_attributes_merges_and_status_row_reads_them(db_url: str) -> None:
    backend = get_backend(db_url)
    run_id = raw_store.enqueue_unchecked(db_url, "adapter-probe", {"n": 1}, {"tags": ["a"]})
    backend.dbos.set_attributes(run_id, {"waiting": True})
    backend.dbos.set_attributes(run_id, {"attempt": 2})
    row = backend.dbos.status_row(run_id)
    assert row is not None
    assert row.attributes == {"task": "adapter-probe", "tags": ["a"], "waiting": True, "attempt": 2}
    assert row.dbos_status == "ENQUEUED" and row.status() is RunStatus.QUEUED
    assert backend.dbos.status_row("run_does_not_exist") is None
    backend.dbos.expire(run_id)
    assert backend.dbos.status_row(run_id).status() is RunStatus.EXPIRED  # type: ignore[union-attr]


def _batch_and_single(db_url: str, count: int) -> tuple[str, list[str]]:
    """One run enqueued alone by DBOS's own `enqueue_in_transaction`, `count` through `enqueue_many`, same options."""
    backend = get_backend(db_url)

    def options(run_id: str) -> dict[str, Any]:
        return {"workflow_name": dbos_adapter.workflow_name("adapter-probe"), "queue_name": "adapter-probe-q",
                "app_version": "v-batch", "workflow_id": run_id, "attributes": {"task": "adapter-probe", "tags": ["b"]},
                "priority": 3, "deduplication_id": None}

    single = f"run_single_{uuid.uuid4().hex[:8]}"
    with backend.dbos.engine.begin() as conn:
        backend.client.enqueue_in_transaction(conn, options(single), {"n": 1}, {"queue": "adapter-probe-q"})
    batch = [f"run_batch_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    backend.dbos.enqueue_many([(options(run_id), {"n": 1}, {"queue": "adapter-probe-q"}) for run_id in batch])
    return single, batch


def test_a_batch_writes_the_rows_dbos_writes_for_one_run(db_url: str) -> None:
    """enqueue_many collects DBOS's own rows and inserts them in one statement per table: every column of the status
    and input rows equals what DBOS's enqueue writes for the same options (ids, clock readings and creator aside)."""
    backend = get_backend(db_url)
    single, batch = _batch_and_single(db_url, 3)
    tables = backend.dbos.sys_db.tables
    own = {"workflow_uuid", "created_at", "updated_at", "creator_xid", "retention_timestamp"}  # per row: the clock

    def rows(table: sa.Table) -> dict[str, dict[str, Any]]:
        with backend.dbos.engine.connect() as conn:
            found = conn.execute(sa.select(table).where(table.c.workflow_uuid.in_([single, *batch]))).mappings().all()
        return {r["workflow_uuid"]: {k: v for k, v in r.items() if k not in own} for r in found}

    status, inputs = rows(tables.workflow_status), rows(tables.workflow_input)
    assert set(status) == set(inputs) == {single, *batch}
    assert status[single]["status"] == "ENQUEUED" and status[single]["priority"] == 3 and status[single]["inputs"] is None
    assert inputs[single]["inputs"], "DBOS keeps the payload in workflow_input"
    for run_id in batch:
        assert status[run_id] == status[single], run_id
        assert inputs[run_id] == inputs[single], run_id
    assert {backend.dbos.status_row(r).status() for r in batch} == {RunStatus.QUEUED}  # type: ignore[union-attr]


def test_a_batch_with_an_id_that_exists_writes_nothing(db_url: str) -> None:
    """A batch's ids are fresh; one that exists refuses the whole batch (one transaction): no row of it is written and
    the existing run is untouched."""
    backend = get_backend(db_url)
    single, _ = _batch_and_single(db_url, 0)
    before = backend.dbos.status_row(single)
    fresh = f"run_batch_{uuid.uuid4().hex[:8]}"

    def item(run_id: str, n: int) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        return ({"workflow_name": dbos_adapter.workflow_name("other-task"), "queue_name": "adapter-probe-q",
                 "app_version": "v-batch", "workflow_id": run_id, "attributes": {"task": "other-task"}}, {"n": n}, {})

    with pytest.raises(sa.exc.IntegrityError):
        backend.dbos.enqueue_many([item(fresh, 1), item(single, 2)])
    assert backend.dbos.status_row(fresh) is None
    after = backend.dbos.status_row(single)
    assert after is not None and before is not None and after.attributes == before.attributes == {"task": "adapter-probe", "tags": ["b"]}
    with pytest.raises(ValueError, match="fresh runs only"):
        backend.dbos.enqueue_many([({**item(fresh, 1)[0], "workflow_id_reuse_policy": "reject"}, {"n": 1}, {})])
    assert backend.dbos.status_row(fresh) is None


# -- one status function, and its SQL twin agree ------------------------------------------------------------------------
NOW = time.time()
PAST, FUTURE = NOW - 3600, NOW + 3600
ATTRIBUTE_CASES = [
    {},
    {"waiting": True},
    {"waiting": False},
    {"expires_at": PAST},
    {"expires_at": FUTURE},
    {"outcome": "FAILED"},
    {"outcome": "TIMED_OUT"},
    {"outcome": "EXPIRED"},
    {"outcome": "EXPIRED", "expires_at": PAST},
    {"waiting": True, "expires_at": PAST},
    {"outcome": "CRASHED", "crash_reason": "no worker of its version"},
    {"unrunnable_on": "box-live"},  # held by a worker that does not define its task
]
STARTED_CASES = [None, int(NOW * 1000)]
LIVE = frozenset({"v-live"})
VERSION_CASES = ["v-live", "v-gone"]
LIVE_EXECUTORS = frozenset({"box-live"})
EXECUTOR_CASES = ["box-live", "box-gone"]


def test_run_status_and_status_clause_agree_on_every_state(db_url: str) -> None:
    """Every DBOS state × attribute combination × start time × version × executor (living or not): the row a listing
    filter selects has that status."""
    backend = get_backend(db_url)
    expected: dict[str, RunStatus] = {}
    cases = itertools.product(RELIES_ON["states"], ATTRIBUTE_CASES, STARTED_CASES, VERSION_CASES, EXECUTOR_CASES)
    for state, attrs, started, version, executor in cases:
        run_id = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
        raw_store.set_columns(
            db_url, run_id, status=state, attributes={"task": "adapter-probe", **attrs}, started_at_epoch_ms=started, application_version=version,
            executor_id=executor,
        )
        error = RunFailed(attrs["outcome"], {"type": "X", "message": "x"}, 1) if attrs.get("outcome") in ("FAILED", "TIMED_OUT") else None
        expected[run_id] = run_status(state, attrs, error, NOW, started, version, LIVE, executor_id=executor, live_executors=LIVE_EXECUTORS)
        # what only the row says (no decoded error) is the same status: the outcome attribute carries it
        assert backend.dbos.status_row(run_id).status(NOW, LIVE, LIVE_EXECUTORS) is expected[run_id]  # type: ignore[union-attr]
    selected: dict[str, RunStatus] = {}
    for status in RunStatus:
        for run_id, _ in backend.dbos.list_page(ListFilter(statuses=[status], task_ids=["adapter-probe"], limit=2000), NOW, LIVE, LIVE_EXECUTORS):
            assert run_id not in selected, f"{run_id} is selected as {selected.get(run_id)} and as {status}"
            selected[run_id] = status
    assert selected == expected
    assert set(expected.values()) == set(RunStatus), "the cases cover every run status"


def test_status_clause_refuses_what_is_not_a_status(db_url: str) -> None:
    with pytest.raises(ValueError):
        status_clause(get_backend(db_url).dbos.workflows, "RUNNING", NOW)  # type: ignore[arg-type]


def test_helpers_the_worker_relies_on(db_url: str) -> None:
    backend = get_backend(db_url)
    canceled = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    queued = raw_store.enqueue_unchecked(db_url, "adapter-probe", None, {"expires_at": PAST})
    executing = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    backend.dbos.cancel(canceled)
    raw_store.set_columns(db_url, executing, status="PENDING", executor_id="gone-1", updated_at=int(PAST * 1000))
    assert backend.dbos.canceled_among([canceled, queued, executing]) == [canceled]
    assert queued in backend.dbos.expired_waiting(NOW)
    assert canceled not in backend.dbos.expired_waiting(NOW)
    assert "gone-1" in backend.dbos.executors_silent_since(NOW)
    assert "gone-1" not in backend.dbos.executors_silent_since(PAST - 60)
    assert dbos_adapter.task_of_workflow("taskpack:x") == "x" and dbos_adapter.workflow_name("x") == "taskpack:x"


def test_a_started_run_whose_worker_is_gone_is_never_executing(db_url: str) -> None:
    """WAITING_FOR_WORKER whenever the executor is not among the living ones, even with no worker alive at all; with
    the living executors unknown (a status peek), the stored state decides as before."""
    backend = get_backend(db_url)
    run_id = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    raw_store.set_columns(db_url, run_id, status="PENDING", executor_id="box-1", started_at_epoch_ms=int(NOW * 1000))
    row = backend.dbos.status_row(run_id)
    assert row is not None and row.executor_id == "box-1"
    for executors, status in ((frozenset({"box-1"}), RunStatus.EXECUTING), (frozenset({"box-2"}), RunStatus.WAITING_FOR_WORKER),
                              (frozenset(), RunStatus.WAITING_FOR_WORKER), (None, RunStatus.EXECUTING)):
        assert row.status(NOW, None, executors) is status
        listed = backend.dbos.list_page(ListFilter(statuses=[status], limit=10), NOW, None, executors)
        assert [r[0] for r in listed] == [run_id], (executors, status)
        other = RunStatus.EXECUTING if status is RunStatus.WAITING_FOR_WORKER else RunStatus.WAITING_FOR_WORKER
        assert backend.dbos.list_page(ListFilter(statuses=[other], limit=10), NOW, None, executors) == []
    # a watcher's change marker moves when the worker dies, though nothing is written then
    alive, gone = (backend.dbos.change_markers([run_id], executors)[run_id] for executors in (frozenset({"box-1"}), frozenset()))
    assert alive[0] == "PENDING" and gone[0] != alive[0] and gone[1] == alive[1]
    assert backend.dbos.change_markers([run_id])[run_id] == alive


def test_without_a_living_worker_nothing_waits_for_a_version(db_url: str) -> None:
    backend = get_backend(db_url)
    run_id = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    raw_store.set_columns(db_url, run_id, application_version="v-gone")
    for live in (None, frozenset()):
        assert backend.dbos.status_row(run_id).status(NOW, live) is RunStatus.QUEUED  # type: ignore[union-attr]
        queued = backend.dbos.list_page(ListFilter(statuses=[RunStatus.QUEUED], limit=10), NOW, live)
        assert [r[0] for r in queued] == [run_id]
        assert backend.dbos.list_page(ListFilter(statuses=[RunStatus.PENDING_VERSION], limit=10), NOW, live) == []
    assert backend.dbos.status_row(run_id).status(NOW, frozenset({"v-new"})) is RunStatus.PENDING_VERSION  # type: ignore[union-attr]


def test_adoption_moves_only_unstarted_runs_of_gone_versions_of_known_tasks(db_url: str) -> None:
    backend = get_backend(db_url)
    gone = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    handed_back = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)  # queued again after a step was recorded
    delayed = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    alive = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    started = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    other_task = raw_store.enqueue_unchecked(db_url, "adapter-other", None)
    _record_operation(backend, handed_back)
    for run_id, version, state in ((gone, "v-old", "ENQUEUED"), (handed_back, "v-old", "ENQUEUED"), (delayed, "v-old", "DELAYED"), (alive, "v-live", "ENQUEUED"),
                                   (started, "v-old", "PENDING"), (other_task, "v-old", "ENQUEUED")):
        raw_store.set_columns(db_url, run_id, application_version=version, status=state)
    adopted = backend.dbos.adopt_waiting("v-new", ["adapter-probe"], frozenset({"v-live"}))
    assert sorted(adopted) == sorted([gone, delayed])
    versions = {run_id: backend.dbos.status_row(run_id).version for run_id in (gone, delayed, alive, started, other_task)}  # type: ignore[union-attr]
    assert versions == {gone: "v-new", delayed: "v-new", alive: "v-live", started: "v-old", other_task: "v-old"}
    assert backend.dbos.adopt_waiting("v-new", ["adapter-probe"], frozenset({"v-live", "v-new"})) == []
    assert backend.dbos.status_row(handed_back).version == "v-old"  # type: ignore[union-attr]  # it started on v-old
    assert sorted(backend.dbos.started_runs_of(["v-old"])) == sorted([(started, "v-old"), (handed_back, "v-old")])
    backend.dbos.crash(started, "gone")
    row = backend.dbos.status_row(started)
    assert row is not None and row.status() is RunStatus.CRASHED and row.attributes["crash_reason"] == "gone"
    assert backend.dbos.started_runs_of(["v-old"]) == [(handed_back, "v-old")]


def _record_operation(backend: Any, run_id: str) -> None:
    oo = backend.dbos.sys_db.tables.operation_outputs
    with backend.dbos.engine.begin() as conn:
        conn.execute(sa.insert(oo).values(workflow_uuid=run_id, function_id=1, function_name="one", retention_timestamp=0))


def test_hand_back_requeues_only_this_executors_runs_of_its_version(db_url: str) -> None:
    backend = get_backend(db_url)
    mine = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    other_version = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    other_executor = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    for run_id, executor, version in ((mine, "w-1", "v1"), (other_version, "w-1", "v0"), (other_executor, "w-2", "v1")):
        raw_store.set_columns(db_url, run_id, status="PENDING", executor_id=executor, application_version=version, started_at_epoch_ms=int(NOW * 1000))
    assert backend.dbos.hand_back("w-1", "v1") == [mine]
    states = {r: backend.dbos.status_row(r).dbos_status for r in (mine, other_version, other_executor)}  # type: ignore[union-attr]
    assert states == {mine: "ENQUEUED", other_version: "PENDING", other_executor: "PENDING"}
    assert backend.dbos.hand_back("w-1", "v1") == []


def test_the_unrunnable_mark_is_read_for_its_executor_only_and_can_be_cleared(db_url: str) -> None:
    """A run marked by the worker that holds it and cannot execute it reads WAITING_FOR_WORKER; the mark means
    nothing once another executor holds the run, and is cleared for runs their holder can execute."""
    backend = get_backend(db_url)
    run_id = raw_store.enqueue_unchecked(db_url, "adapter-probe", None)
    raw_store.set_columns(db_url, run_id, status="PENDING", executor_id="box-1", started_at_epoch_ms=int(NOW * 1000))
    living = frozenset({"box-1", "box-2"})
    assert [r[0] for r in backend.dbos.foreign_runs("box-1", ["other-task"])] == [run_id]
    assert backend.dbos.foreign_runs("box-1", ["adapter-probe"]) == []
    backend.dbos.mark_unrunnable(run_id, "box-1")
    assert backend.dbos.status_row(run_id).status(NOW, None, living) is RunStatus.WAITING_FOR_WORKER  # type: ignore[union-attr]
    assert backend.dbos.clear_stale_unrunnable("box-1", ["other-task"]) == 0  # box-1 cannot execute it: the mark stays
    raw_store.set_columns(db_url, run_id, executor_id="box-2")
    assert backend.dbos.status_row(run_id).status(NOW, None, living) is RunStatus.EXECUTING  # type: ignore[union-attr]
    raw_store.set_columns(db_url, run_id, executor_id="box-1")
    assert backend.dbos.clear_stale_unrunnable("box-1", ["adapter-probe"]) == 1
    assert backend.dbos.status_row(run_id).status(NOW, None, living) is RunStatus.EXECUTING  # type: ignore[union-attr]
    assert backend.dbos.hand_back_run(run_id, "box-1") is True
    assert backend.dbos.status_row(run_id).status(NOW, None, living) is RunStatus.QUEUED  # type: ignore[union-attr]


# -- the one-statement claim ------------------------------------------------------------------------------------------
def _queue(name: str, **limits: Any) -> Any:
    from dbos import _queue

    return _queue.Queue(name, token=_queue._INTERNAL_QUEUE_CONSTRUCTION, **limits)


def _enqueue_probes(db_url: str, queue: str, priorities: list[int], **extra: Any) -> list[str]:
    """Runs enqueued by DBOS's own enqueue, with a timeout, attributes and a payload, one per priority."""
    backend = get_backend(db_url)
    ids = []
    for n, priority in enumerate(priorities):
        run_id = f"run_claim_{uuid.uuid4().hex[:10]}"
        options = {"workflow_name": dbos_adapter.workflow_name("claim-probe"), "queue_name": queue, "app_version": "v-claim",
                   "workflow_id": run_id, "attributes": {"task": "claim-probe", "n": n}, "priority": priority,
                   "workflow_timeout": 30.0, **extra}
        with backend.dbos.engine.begin() as conn:
            backend.client.enqueue_in_transaction(conn, options, {"n": n}, {"queue": queue})
        ids.append(run_id)
        time.sleep(0.002)  # distinct created_at: DBOS's order within a priority
    return ids


def _rows(db_url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    backend = get_backend(db_url)
    ws = backend.dbos.workflows
    with backend.dbos.engine.connect() as conn:
        return {r["workflow_uuid"]: dict(r) for r in conn.execute(sa.select(ws).where(ws.c.workflow_uuid.in_(ids))).mappings()}


_CLOCK_COLUMNS = {"workflow_uuid", "queue_name", "created_at", "updated_at", "started_at_epoch_ms", "workflow_deadline_epoch_ms", "creator_xid"}


def _assert_written_alike(db_url: str, mine_ids: list[str], their_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Every column of each pair of runs equal, ids and clock readings aside; returns the adapter's rows."""
    rows, dbos_rows = _rows(db_url, mine_ids), _rows(db_url, their_ids)
    for mine_id, their_id in zip(mine_ids, their_ids):
        ours, dbos = rows[mine_id], dbos_rows[their_id]
        assert {k: v for k, v in ours.items() if k not in _CLOCK_COLUMNS} == {k: v for k, v in dbos.items() if k not in _CLOCK_COLUMNS}, mine_id
    return rows


def _race(claimer: Callable[[int], None], threads: int = 4) -> None:
    """`claimer(n)` in that many threads at once, as so many workers; any exception one raised fails the test."""
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            claimer(n)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    started = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join(timeout=60)
    assert errors == []


def test_the_one_statement_claim_writes_and_hands_over_what_dbos_claim_does(db_url: str) -> None:
    """The same runs on two queues, one claimed by DBOS's `start_queued_workflows`, the other by the adapter's claim:
    same runs taken in the same order, every column written alike (ids and clock readings aside), and the statuses it
    hands over equal DBOS's status read of those runs after the claim. When this fails after a DBOS upgrade, DBOS's
    claim or status read changed: bring `_OneStatementClaim` in line before anything else."""
    sys_db = get_backend(db_url).dbos.sys_db
    claim = dbos_adapter._OneStatementClaim(sys_db)
    mine, theirs = f"claim-mine-{uuid.uuid4().hex[:6]}", f"claim-dbos-{uuid.uuid4().hex[:6]}"
    priorities = [3, 1, 2, 1, 5]
    mine_ids, their_ids = _enqueue_probes(db_url, mine, priorities), _enqueue_probes(db_url, theirs, priorities)

    took, reason = claim.start_queued_workflows(_queue(mine, worker_concurrency=8), "exec-A", "v-claim", None, 4, owner_xid="owner-1")
    dbos_took, dbos_reason = sys_db.start_queued_workflows(_queue(theirs, worker_concurrency=8), "exec-A", "v-claim", None, 4, owner_xid="owner-1")
    assert reason is None and dbos_reason is None
    assert [mine_ids.index(i) for i in took] == [their_ids.index(i) for i in dbos_took] == [1, 3, 2, 0]  # 4 free slots

    handed = claim.get_workflow_statuses(took)
    assert handed == sys_db.get_workflow_statuses(took)  # DBOS's own read, after the claim
    assert [s["status"] for s in handed] == ["PENDING"] * 4 and handed[0]["inputs"], "the payload rides along"

    rows = _assert_written_alike(db_url, mine_ids, their_ids)
    for ours in (rows[i] for i in mine_ids):
        if ours["status"] == "PENDING":
            assert ours["owner_xid"] == "owner-1" and ours["executor_id"] == "exec-A" and ours["recovery_attempts"] == 1
            assert abs(ours["workflow_deadline_epoch_ms"] - ours["started_at_epoch_ms"] - 30_000) < 2_000
            assert ours["started_at_epoch_ms"] >= ours["created_at"]
    assert rows[mine_ids[4]]["status"] == "ENQUEUED" and rows[mine_ids[4]]["executor_id"] != "exec-A"


def test_the_claim_takes_no_more_than_the_free_slots_and_only_runs_it_may_run(db_url: str) -> None:
    """Free slots bound the claim (none free: no statement, DBOS's stop reason); runs of another version stay; runs
    enqueued with no version go only to a worker of the newest version, as DBOS's claim does."""
    backend = get_backend(db_url)
    sys_db = backend.dbos.sys_db
    claim = dbos_adapter._OneStatementClaim(sys_db)
    name = f"claim-slots-{uuid.uuid4().hex[:6]}"
    queue = _queue(name, worker_concurrency=3)
    ids = _enqueue_probes(db_url, name, [1, 1, 1, 1])
    other = _enqueue_probes(db_url, name, [1], app_version="v-other")
    ws = backend.dbos.workflows
    unversioned = _enqueue_probes(db_url, name, [1])
    with backend.dbos.engine.begin() as conn:
        conn.execute(ws.update().where(ws.c.workflow_uuid == unversioned[0]).values(application_version=None))

    with _statements_sent(backend.dbos.engine) as statements:
        assert claim.start_queued_workflows(queue, "exec-B", "v-claim", None, 3) == ([], "worker_concurrency")
    assert statements == []
    took, _ = claim.start_queued_workflows(queue, "exec-B", "v-claim", None, 1, is_latest_version=False)
    assert took == ids[:2]
    took, _ = claim.start_queued_workflows(queue, "exec-B", "v-claim", None, 0, is_latest_version=False)
    assert took == ids[2:]  # two left of this version; the unversioned run waits for a worker of the newest version
    took, _ = claim.start_queued_workflows(queue, "exec-B", "v-claim", None, 0, is_latest_version=True)
    assert took == unversioned
    assert _rows(db_url, other)[other[0]]["status"] == "ENQUEUED"


def test_queues_with_shared_limits_are_claimed_by_dbos(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rate limit or partitions are budgets shared with other workers: DBOS claims those queues, with the isolation
    its rules need; so does it a global concurrency on PostgreSQL. The adapter claims queues limited by this worker's
    slots, and on SQLite (one writer: its statement counts and claims under the file's write lock) a global
    concurrency too."""
    sys_db = get_backend(db_url).dbos.sys_db
    claim = dbos_adapter._OneStatementClaim(sys_db)
    asked: list[str] = []
    monkeypatch.setattr(claim, "_dbos_claim", lambda queue, *a, **k: asked.append(queue.name) or ([], None))
    shared = [
        _queue("g", worker_concurrency=2, global_concurrency=4),
        _queue("r", worker_concurrency=2, limiter={"limit": 5, "period": 1.0}),
        _queue("p", worker_concurrency=2, partition_concurrency=1),
        _queue("u"),  # no slots of its own: unbounded, DBOS's chunked claim
    ]
    for queue in shared:
        assert claim.start_queued_workflows(queue, "exec", "v", None, 0) == ([], None)
    name = f"claim-own-{uuid.uuid4().hex[:6]}"
    _enqueue_probes(db_url, name, [1])
    assert claim.start_queued_workflows(_queue("k", worker_concurrency=2), "exec", "v", "a-key", 0) == ([], None)
    by_dbos = ["g", "r", "p", "u", "k"] if db_url.startswith("postgresql") else ["r", "p", "u", "k"]
    assert asked == by_dbos
    took, _ = claim.start_queued_workflows(_queue(name, worker_concurrency=2), "exec", "v-claim", None, 0)
    assert len(took) == 1 and asked == by_dbos


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A SQLite runtime database alone: on PostgreSQL a global concurrency is DBOS's claim (the test above)."""
    with fresh_database("sqlite", tmp_path) as url:
        yield url


def test_a_global_concurrency_on_sqlite_claims_what_dbos_claims(sqlite_url: str) -> None:
    """SQLite: the same runs on two queues of global concurrency 3 with one run of each already running elsewhere,
    one claimed by DBOS, the other by the adapter's one statement: the same two runs taken (the global room, not the
    worker's 4 free slots), every column written alike; then both queues are full and both claims say so."""
    sys_db = get_backend(sqlite_url).dbos.sys_db
    claim = dbos_adapter._OneStatementClaim(sys_db)
    mine, theirs = f"claim-gmine-{uuid.uuid4().hex[:6]}", f"claim-gdbos-{uuid.uuid4().hex[:6]}"
    priorities = [3, 1, 2, 1, 5]
    mine_ids, their_ids = _enqueue_probes(sqlite_url, mine, priorities), _enqueue_probes(sqlite_url, theirs, priorities)
    for name in (mine, theirs):  # a run of each queue taken by another worker
        took, _ = claim._dbos_claim(_queue(name, worker_concurrency=1), "exec-other", "v-claim", None, 0)
        assert len(took) == 1
    queues = {name: _queue(name, worker_concurrency=8, global_concurrency=3) for name in (mine, theirs)}

    with _statements_sent(get_backend(sqlite_url).dbos.engine) as statements:
        took, reason = claim.start_queued_workflows(queues[mine], "exec-A", "v-claim", None, 4, owner_xid="owner-1", is_latest_version=True)
    dbos_took, dbos_reason = claim._dbos_claim(queues[theirs], "exec-A", "v-claim", None, 4, owner_xid="owner-1", is_latest_version=True)
    assert reason is None and dbos_reason is None
    assert [mine_ids.index(i) for i in took] == [their_ids.index(i) for i in dbos_took] == [3, 2]  # room for 2 of 4
    assert len(statements) == 1, statements  # counted, picked and claimed in one statement
    _assert_written_alike(sqlite_url, mine_ids, their_ids)
    # both full now (3 running each): nothing claimed, and the same stop reason, which wakes the queue as a slot frees
    assert claim.start_queued_workflows(queues[mine], "exec-A", "v-claim", None, 2) == ([], "concurrency")
    assert claim._dbos_claim(queues[theirs], "exec-A", "v-claim", None, 2) == ([], "concurrency")
    # an empty queue with room is no stop
    empty = f"claim-gempty-{uuid.uuid4().hex[:6]}"
    assert claim.start_queued_workflows(_queue(empty, worker_concurrency=8, global_concurrency=3), "exec-A", "v-claim", None, 0) == ([], None)


def test_claims_racing_on_a_globally_limited_queue_never_exceed_its_concurrency(sqlite_url: str) -> None:
    """SQLite: four threads, as four workers of two free slots each, claim one queue of 40 runs with a global
    concurrency of 5, over and over: 5 runs are taken in all, never more, each once."""
    sys_db = get_backend(sqlite_url).dbos.sys_db
    claim = dbos_adapter._OneStatementClaim(sys_db)
    name = f"claim-grace-{uuid.uuid4().hex[:6]}"
    ids = _enqueue_probes(sqlite_url, name, [1] * 40)
    taken: list[str] = []
    reasons: list[str | None] = []

    def claimer(n: int) -> None:
        for _ in range(15):
            took, reason = claim.start_queued_workflows(_queue(name, worker_concurrency=2, global_concurrency=5), f"exec-{n}", "v-claim", None, 0)
            taken.extend(took)
            reasons.append(reason)

    _race(claimer)
    assert len(taken) == len(set(taken)) == 5 and set(taken) <= set(ids)
    assert sum(1 for r in _rows(sqlite_url, ids).values() if r["status"] == "PENDING") == 5
    # with 40 runs queued, a claim that took nothing was stopped by the limit, and said so
    assert 1 <= reasons.count(None) <= 5 and reasons.count("concurrency") == len(reasons) - reasons.count(None)


def test_claims_racing_on_one_queue_never_take_a_run_twice(db_url: str) -> None:
    """Four threads claim one queue of 60 runs at once, two runs at a time (PostgreSQL: rows locked by one claim are
    skipped by the others; SQLite: one writer at a time): every run is taken exactly once."""
    sys_db = get_backend(db_url).dbos.sys_db
    claim = dbos_adapter._OneStatementClaim(sys_db)
    name = f"claim-race-{uuid.uuid4().hex[:6]}"
    ids = _enqueue_probes(db_url, name, [1] * 60)
    taken: list[str] = []

    def claimer(n: int) -> None:
        while True:
            took, _ = claim.start_queued_workflows(_queue(name, worker_concurrency=2), f"exec-{n}", "v-claim", None, 0)
            if not took and len(taken) >= len(ids):
                return
            taken.extend(took)

    _race(claimer)
    assert sorted(taken) == sorted(ids)
    owners = {r["executor_id"] for r in _rows(db_url, ids).values()}
    assert len(owners) > 1, "one claimer took everything: the race was not run"


def test_the_handed_statuses_serve_one_read_of_exactly_those_runs(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DBOS's queue thread reads the statuses of what it just claimed: that read is served from the claim once; any
    other read (other ids, a second read, another thread) goes to DBOS."""
    sys_db = get_backend(db_url).dbos.sys_db
    claim = dbos_adapter._OneStatementClaim(sys_db)
    reads: list[list[str]] = []
    dbos_read = claim._dbos_statuses
    monkeypatch.setattr(claim, "_dbos_statuses", lambda ids: reads.append(list(ids)) or dbos_read(ids))
    name = f"claim-hand-{uuid.uuid4().hex[:6]}"
    ids = _enqueue_probes(db_url, name, [1, 1])
    took, _ = claim.start_queued_workflows(_queue(name, worker_concurrency=2), "exec", "v-claim", None, 0)
    elsewhere: list[Any] = []
    t = threading.Thread(target=lambda: elsewhere.append(claim.get_workflow_statuses(took)))
    t.start()
    t.join()
    assert reads == [took] and [s["workflow_uuid"] for s in elsewhere[0]] == took
    assert [s["workflow_uuid"] for s in claim.get_workflow_statuses(took)] == took and reads == [took]
    assert [s["workflow_uuid"] for s in claim.get_workflow_statuses(took)] == took and reads == [took, took]
    claim.start_queued_workflows(_queue(name, worker_concurrency=2), "exec", "v-claim", None, 0)
    assert claim.get_workflow_statuses([ids[0], "run_unknown"]) == sys_db.get_workflow_statuses([ids[0]])


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite's plan reads the picked rows by key anyway
def test_a_claim_finds_the_picked_runs_by_their_key_whatever_the_backlog(db_url: str) -> None:
    """PostgreSQL: a claim from a backlog of thousands of queued runs reads the queue index once (the pick) and finds
    the picked rows by their key. With a second status test in the update, the planner intersected the index entries
    of every queued run with the keys (a claim took time linear in the backlog: 3.5 ms of server time at 20,000 runs)
    whenever the table's statistics had not seen the backlog yet, as right after a burst of triggers."""
    backend = get_backend(db_url)
    sys_db = backend.dbos.sys_db
    name = f"claim-backlog-{uuid.uuid4().hex[:6]}"
    probe = _enqueue_probes(db_url, name, [1])[0]
    ws = backend.dbos.workflows
    with backend.dbos.engine.begin() as conn:
        schema = sys_db.engine.get_execution_options()["schema_translate_map"][ws.schema]
        conn.exec_driver_sql(f'ANALYZE "{schema}".{ws.name}')  # statistics from before the burst
        columns = [c.name for c in ws.columns if c.name != "workflow_uuid"]
        conn.execute(sa.insert(ws).from_select(
            ["workflow_uuid", *columns],
            sa.select(sa.literal_column("'run_backlog_' || g").label("workflow_uuid"), *(ws.c[c] for c in columns))
            .select_from(ws.join(sa.func.generate_series(1, 5000).alias("g"), sa.true()))
            .where(ws.c.workflow_uuid == probe),
        ))
    plans: list[Any] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> Any:
        return "EXPLAIN (FORMAT JSON) " + statement, parameters

    claim = dbos_adapter._OneStatementClaim(sys_db)
    engine = sa.create_engine(sys_db.engine.url, execution_options=sys_db.engine.get_execution_options())
    sa.event.listen(engine, "before_cursor_execute", explain, retval=True)
    try:
        with engine.connect() as conn:
            params = {"claim_queue": name, "claim_version": "v-claim", "claim_limit": 8, "claim_owner": "o",
                      "claim_executor": "e", "claim_start_ms": int(time.time() * 1000)}
            compiled = claim._statement(True)
            plans.append(conn.exec_driver_sql(compiled.sql, compiled.params(params)).scalar_one())
    finally:
        engine.dispose()

    def nodes(node: dict[str, Any]) -> Any:
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    plan = plans[0][0]["Plan"] if isinstance(plans[0], list) else plans[0]
    index_reads = [n.get("Index Name") for n in nodes(plan) if n.get("Index Name")]
    assert index_reads.count("idx_workflow_status_in_flight_v2") == 1, index_reads  # the pick, once
    assert "workflow_status_pkey" in index_reads, index_reads  # the update, by key

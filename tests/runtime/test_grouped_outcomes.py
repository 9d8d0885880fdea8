"""SQLite: the outcomes of runs that end together are written in one transaction (`dbos_adapter._GroupedOutcomes`),
with what DBOS's own outcome write writes, and each run still learns whether its write landed."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from runtime import dbos_adapter
from runtime.backend import get_backend, reset_backends
from tests.runtime.test_dbos_adapter import _enqueue_probes, _queue, _rows


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'outcomes.sqlite'}"
    reset_backends()


def _claimed(url: str, n: int, owner: str = "owner-1") -> list[str]:
    sys_db = get_backend(url).dbos.sys_db
    name = f"outcome-{uuid.uuid4().hex[:6]}"
    ids = _enqueue_probes(url, name, [1] * n)
    took, _ = sys_db.start_queued_workflows(_queue(name, worker_concurrency=n), "exec-A", "v-claim", None, 0, owner_xid=owner)
    assert sorted(took) == sorted(ids)
    return ids


def _outputs(url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    backend = get_backend(url)
    wo = backend.dbos.sys_db.tables.workflow_output
    with backend.dbos.engine.connect() as conn:
        found = conn.execute(sa.select(wo).where(wo.c.workflow_uuid.in_(ids))).mappings().all()
    return {r["workflow_uuid"]: {k: v for k, v in r.items() if k not in ("workflow_uuid", "retention_timestamp")} for r in found}


def test_a_grouped_outcome_writes_what_dboss_own_write_writes(sqlite_url: str) -> None:
    """Two runs claimed alike; one's outcome through the group, the other's through DBOS's `update_workflow_outcome`:
    the same status row (ids and clock readings aside) and the same output row. When this fails after a DBOS
    upgrade, DBOS's outcome write changed: bring `_GroupedOutcomes` in line."""
    sys_db = get_backend(sqlite_url).dbos.sys_db
    grouped = dbos_adapter._GroupedOutcomes(sys_db)
    mine, theirs = _claimed(sqlite_url, 1), _claimed(sqlite_url, 1)
    assert grouped.update_workflow_outcome(mine[0], "SUCCESS", output="out-1", owner_xid="owner-1") is True
    assert sys_db.update_workflow_outcome(theirs[0], "SUCCESS", output="out-1", owner_xid="owner-1") is True
    clock = {"workflow_uuid", "queue_name", "created_at", "updated_at", "started_at_epoch_ms", "completed_at",
             "workflow_deadline_epoch_ms", "creator_xid"}
    ours, dbos = _rows(sqlite_url, mine)[mine[0]], _rows(sqlite_url, theirs)[theirs[0]]
    assert {k: v for k, v in ours.items() if k not in clock} == {k: v for k, v in dbos.items() if k not in clock}
    assert ours["status"] == "SUCCESS" and ours["owner_xid"] is None and ours["completed_at"] is not None
    assert _outputs(sqlite_url, mine)[mine[0]] == _outputs(sqlite_url, theirs)[theirs[0]] == {"output": "out-1", "error": None}


def test_an_outcome_that_is_not_this_executions_to_write_lands_nowhere(sqlite_url: str) -> None:
    """Another execution's token, or a run no longer PENDING: False, and no output row left behind (as DBOS)."""
    sys_db = get_backend(sqlite_url).dbos.sys_db
    grouped = dbos_adapter._GroupedOutcomes(sys_db)
    first, second = _claimed(sqlite_url, 2)
    assert grouped.update_workflow_outcome(first, "ERROR", error="boom", owner_xid="someone-else") is False
    assert _rows(sqlite_url, [first])[first]["status"] == "PENDING" and _outputs(sqlite_url, [first]) == {}
    assert grouped.update_workflow_outcome(second, "SUCCESS", output="x", owner_xid="owner-1") is True
    assert grouped.update_workflow_outcome(second, "ERROR", error="late", owner_xid="owner-1") is False  # not PENDING now
    assert _rows(sqlite_url, [second])[second]["status"] == "SUCCESS" and _outputs(sqlite_url, [second])[second]["output"] == "x"


def test_runs_ending_together_share_a_transaction_and_each_learns_its_own_result(sqlite_url: str) -> None:
    """Eight runs end at once (one with a stale token): fewer commits than runs, seven landed, one refused."""
    backend = get_backend(sqlite_url)
    grouped = dbos_adapter._GroupedOutcomes(backend.dbos.sys_db)
    ids = _claimed(sqlite_url, 8)
    commits: list[int] = []
    sa.event.listen(backend.dbos.engine, "commit", lambda conn: commits.append(1))
    start, results = threading.Barrier(8), {}
    # The first group's write waits (up to 10 s) until the other runs have ended too, as they do when they end while
    # it is under way: released by the barrier alone, the threads of a loaded 2-core host once came one at a time.
    write, groups = grouped._write, []

    def write_once_all_ended(group: list[Any]) -> None:
        deadline = time.monotonic() + 10
        while not groups and len(group) + len(grouped._pending) < 8 and time.monotonic() < deadline:
            time.sleep(0.001)
        groups.append(len(group))
        write(group)

    grouped._write = write_once_all_ended  # type: ignore[method-assign]

    def end(run_id: str, owner: str) -> None:
        start.wait()
        results[run_id] = grouped.update_workflow_outcome(run_id, "SUCCESS", output=run_id, owner_xid=owner)

    threads = [threading.Thread(target=end, args=(r, "stale" if i == 3 else "owner-1")) for i, r in enumerate(ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {r: i != 3 for i, r in enumerate(ids)}
    assert len(commits) < 8 and sum(groups) == 8, (commits, groups)
    outputs = _outputs(sqlite_url, ids)
    assert set(outputs) == set(ids) - {ids[3]} and all(outputs[r]["output"] == r for r in outputs)


def test_a_group_whose_transaction_fails_is_written_by_dbos_run_by_run(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sys_db = get_backend(sqlite_url).dbos.sys_db
    grouped = dbos_adapter._GroupedOutcomes(sys_db)
    (run_id,) = _claimed(sqlite_url, 1)

    def broken(group: list[Any]) -> None:
        raise sa.exc.OperationalError("UPDATE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(grouped, "_write", broken)
    assert grouped.update_workflow_outcome(run_id, "SUCCESS", output="kept", owner_xid="owner-1") is True
    assert _rows(sqlite_url, [run_id])[run_id]["status"] == "SUCCESS" and _outputs(sqlite_url, [run_id])[run_id]["output"] == "kept"

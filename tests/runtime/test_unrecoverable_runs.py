"""Runs whose worker is gone are never shown EXECUTING, and the ones no worker can resume end CRASHED with the reason
(issue 13 §3, end of section). SQLite and PostgreSQL; the killed worker is a real separate process
(tests/runtime/worker_process.py: heartbeat 0.3 s, dead after 2 s).

- no worker alive at all: after the dead worker's heartbeat limit, `runs.list` has no run EXECUTING; the run reads
  WAITING_FOR_WORKER with the reason, and a worker that starts resumes it from its recorded steps;
- the run's task is defined by no living worker of its version: a living worker ends it CRASHED (TaskNotRegistered)
  once the grace period has passed, without executing any of it again, and holds no run it cannot execute;
- a run DBOS has recovered too many times: CRASHED (RecoveryAttemptsExceeded), not recovered again;
- a run DBOS hands to a worker that does not define its task is handed back, and runs where it can.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from api.schemas import run_json
from runtime import Run, RunStatus, Worker, runs, tasks
from runtime.backend import get_backend, reset_backends
from runtime.executor_ids import live_executors
from runtime.versions import ENV_VERSION
from tests.runtime.conftest import eventually
from tests.runtime import raw_store, sample_tasks
from tests.runtime.test_crash_recovery import ROOT, start_worker, stop, wait_for_lines

WORKER_DEAD_AFTER = 2.0  # tests/runtime/worker_process.py




def _retrieve(url: str, run_id: str) -> Run:
    return runs.retrieve(run_id, database_url=url)


@pytest.fixture
def killed_mid_step(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, Path, Path]]:
    """A worker of version A killed (SIGKILL) while a run of t-three-steps is in its second step: (url, run id, log, go)."""
    log, go = tmp_path / "steps.log", tmp_path / "go"
    monkeypatch.setenv(ENV_VERSION, "A")
    proc: subprocess.Popen | None = start_worker(db_url)  # inherits TASKPACK_VERSION=A
    try:
        run_id = tasks.trigger("t-three-steps", {"log": str(log), "go": str(go)}, database_url=db_url).id
        wait_for_lines(log, "step2-started")
        assert _retrieve(db_url, run_id).status is RunStatus.EXECUTING
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        yield db_url, run_id, log, go
    finally:
        stop(proc)


def test_with_no_worker_alive_no_run_stays_executing_and_a_new_worker_resumes_it(killed_mid_step: tuple[str, str, Path, Path]) -> None:
    url, run_id, log, go = killed_mid_step
    waiting = eventually(
        lambda: (r := _retrieve(url, run_id)).status is RunStatus.WAITING_FOR_WORKER and r, timeout=WORKER_DEAD_AFTER + 10, what="WAITING_FOR_WORKER"
    )
    assert live_executors(get_backend(url), time.time()) == frozenset()
    # the invariant: past the heartbeat limit, nothing is listed EXECUTING without a living worker
    assert runs.list(status="EXECUTING", database_url=url).data == []
    assert [r.id for r in runs.list(status="WAITING_FOR_WORKER", database_url=url).data] == [run_id]
    listed = {r.id: r for r in runs.list(database_url=url).data}
    assert listed[run_id].status is RunStatus.WAITING_FOR_WORKER
    assert waiting.status_reason is not None and waiting.executor_id and waiting.executor_id in waiting.status_reason
    assert "stopped heartbeating" in waiting.status_reason and "version A" in waiting.status_reason
    assert not waiting.is_final and waiting.error is None and waiting.started_at is not None
    assert runs.change_markers([run_id], database_url=url)[run_id][0] == "PENDING:WAITING_FOR_WORKER"  # realtime streams see it
    shown = run_json(waiting)  # what the HTTP API and its realtime events send
    assert shown["status"] == "WAITING_FOR_WORKER" and shown["statusReason"] == waiting.status_reason and not shown["isFinished"]
    go.touch()
    with Worker(database_url=url, tasks=[sample_tasks], heartbeat_interval=0.2, dead_worker_after=1):
        done = runs.wait(run_id, timeout=60, database_url=url)
    assert done.status is RunStatus.COMPLETED and done.status_reason is None
    lines = log.read_text().splitlines()
    assert lines.count("step1") == 1 and lines.count("step2-started") == 2 and lines.count("step3") == 1


def _start_other_tasks_worker(url: str, grace: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.other_tasks_worker", url, str(grace)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if line.startswith("READY"):
            proc.executor_id, proc.version = line.split()[1:3]  # type: ignore[attr-defined]
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"worker did not start: {proc.stdout.read() if proc.stdout else ''}")


def test_a_started_run_whose_task_no_living_worker_defines_ends_crashed(killed_mid_step: tuple[str, str, Path, Path]) -> None:
    """A worker of the same version A that does not define t-three-steps declares the dead worker dead, and DBOS
    hands it the run (one shared queue); it cannot execute it and no living worker can, so it holds it marked
    (WAITING_FOR_WORKER, with the reason), and once no worker of A has defined the task for the grace period, ends
    it CRASHED."""
    url, run_id, log, go = killed_mid_step
    go.touch()  # a resumed run would finish at once
    grace = 8.0
    other = _start_other_tasks_worker(url, grace)
    seen: list[Run] = []

    def crashed_yet() -> Run | None:
        seen.append(run := _retrieve(url, run_id))
        return run if run.status is RunStatus.CRASHED else None

    try:
        assert other.version == "A"  # type: ignore[attr-defined]
        crashed = eventually(crashed_yet, timeout=WORKER_DEAD_AFTER + grace + 30, what="CRASHED")
        # while the worker that cannot execute it holds it, the run does not read EXECUTING (past one heartbeat)
        held = [r for r in seen if r.executor_id == other.executor_id and r.status is RunStatus.WAITING_FOR_WORKER]  # type: ignore[attr-defined]
        assert held, [(r.status, r.executor_id) for r in seen]
        assert "does not define task 't-three-steps'" in (held[-1].status_reason or ""), held[-1].status_reason
        # no run left held by a worker that cannot execute it
        ws = get_backend(url).workflows
        with get_backend(url).sys_engine.connect() as conn:
            still_held = conn.execute(sa.select(ws.c.workflow_uuid).where(ws.c.status == "PENDING", ws.c.executor_id == other.executor_id)).all()  # type: ignore[attr-defined]
        assert still_held == []
    finally:
        stop(other)
    assert crashed.error is not None and crashed.error.type == "TaskNotRegistered", crashed.error
    assert crashed.error.code == "TASK_NOT_REGISTERED" and crashed.error.retryable is False
    assert "'t-three-steps'" in crashed.error.message and "version A" in crashed.error.message
    assert crashed.id in [r.id for r in runs.list(status="CRASHED", database_url=url).data]
    lines = log.read_text().splitlines()
    assert lines == ["step1", "step2-started"], lines  # nothing of it executed again


def test_runs_dequeued_by_a_worker_that_cannot_execute_them_go_to_one_that_can(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers of version A share the default queue; only one defines t-echo. DBOS hands runs to either, and
    left alone the other would hold its share PENDING for ever (DBOS finds no function for them); it hands them
    back, so every run completes, on the worker that defines the task."""
    monkeypatch.setenv(ENV_VERSION, "A")
    right = start_worker(db_url, concurrency=2)
    wrong = None
    try:
        wrong = _start_other_tasks_worker(db_url, 300.0)
        ids = [tasks.trigger("t-echo", {"n": i}, database_url=db_url).id for i in range(12)]
        done = [runs.wait(i, timeout=90, database_url=db_url) for i in ids]
        assert [r.status for r in done] == [RunStatus.COMPLETED] * len(ids), [(r.id, r.status) for r in done]
        assert wrong.executor_id not in {r.executor_id for r in done}  # type: ignore[attr-defined]
    finally:
        stop(right)
        if wrong is not None:
            stop(wrong)


def test_a_run_recovered_too_many_times_ends_crashed_with_the_reason(killed_mid_step: tuple[str, str, Path, Path]) -> None:
    """DBOS counts every dispatch of a run; past its limit (100 by default) it dead-letters the run instead of
    starting it once more. The count is set near the limit here rather than killing a worker a hundred times."""
    url, run_id, log, go = killed_mid_step
    raw_store.set_columns(url, run_id, recovery_attempts=101)
    go.touch()
    with Worker(database_url=url, tasks=[sample_tasks], heartbeat_interval=0.2, dead_worker_after=1):
        crashed = runs.wait(run_id, timeout=60, database_url=url)
    assert crashed.status is RunStatus.CRASHED, crashed
    assert crashed.error is not None and crashed.error.type == "RecoveryAttemptsExceeded" and crashed.error.retryable is False
    assert "not recovered again" in crashed.error.message
    assert crashed.id in [r.id for r in runs.list(status="CRASHED", database_url=url).data]
    assert log.read_text().splitlines() == ["step1", "step2-started"]


def test_a_workers_table_of_an_older_release_gets_alive_until_and_its_rows_still_count(tmp_path: Path) -> None:
    """A database whose taskpack_workers predates `alive_until`: the column is added at start, and a row without it
    is alive while its last heartbeat is within the configured dead_worker_after."""
    from runtime.config import load_config
    from runtime.store import create_tables

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE taskpack_workers (executor_id VARCHAR(200) PRIMARY KEY, hostname VARCHAR(200) NOT NULL, "
            "pid INTEGER NOT NULL, concurrency INTEGER NOT NULL, tasks JSON, started_at FLOAT NOT NULL, last_seen_at FLOAT NOT NULL)"
        )
        now = time.time()
        for executor_id, seen in (("old-alive", now), ("old-dead", now - load_config().dead_worker_after - 5)):
            conn.exec_driver_sql(
                "INSERT INTO taskpack_workers VALUES (?, 'h', 1, 1, '[]', ?, ?)", (executor_id, seen, seen)
            )
    create_tables(engine)
    create_tables(engine)  # a second process starting: nothing left to add
    assert "alive_until" in {c["name"] for c in sa.inspect(engine).get_columns("taskpack_workers")}
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    try:
        assert live_executors(get_backend(url), time.time()) == frozenset({"old-alive"})
    finally:
        reset_backends()
        engine.dispose()


def test_reading_ended_runs_does_not_ask_which_workers_live(worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    """Which workers live only tells queued and started runs apart (PENDING_VERSION, WAITING_FOR_WORKER): reading
    runs that ended, as `runs.wait` does at its end, skips those two queries; a queued run still asks."""
    from runtime import run_reader

    done = tasks.trigger("t-echo", {"n": 1})
    failed = tasks.trigger("t-always-fails", {})
    assert runs.wait(done.id, timeout=30).status is RunStatus.COMPLETED
    assert runs.wait(failed.id, timeout=30).status is RunStatus.FAILED
    asked: list[str] = []
    monkeypatch.setattr(run_reader, "live_versions", lambda *a: asked.append("versions") or frozenset())
    monkeypatch.setattr(run_reader, "live_executors", lambda *a: asked.append("executors") or frozenset())

    ended = run_reader.load_runs(get_backend(), [done.id, failed.id], time.time())
    assert [r.status for r in ended] == [RunStatus.COMPLETED, RunStatus.FAILED]
    assert runs.retrieve(done.id).output == {"echo": {"n": 1}, "attempt": 1}
    assert asked == []

    queued = tasks.trigger("t-echo", {"n": 2}, delay=60)  # waits in the queue: its status depends on the workers
    runs.retrieve(queued.id)
    assert asked == ["versions", "executors"]
    runs.cancel(queued.id)

"""A worker may not take a living worker's executor id: refused while the holder heartbeats, taken over (with its
runs) once the heartbeat has expired, and of two workers claiming one id at the same moment exactly one wins.
SQLite and PostgreSQL; the holder is a real separate process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime import ExecutorIdInUseError, RunStatus, Worker, runs, tasks
from runtime.backend import get_backend
from runtime.executor_ids import claim_executor_id, heartbeat, release
from runtime.store import workers_table
from runtime.worker import current_worker
from tests.runtime import sample_tasks
from tests.runtime.conftest import fresh_database
from tests.runtime.racing import claim_ids, race, start_worker_as
from tests.runtime.test_crash_recovery import ROOT, start_worker, stop, wait_for_lines

DEAD_AFTER = 2.0  # tests/runtime/worker_process.py heartbeats every 0.3 s and uses the same limit


def _holder(url: str, executor_id: str) -> tuple[int, float] | None:
    """(pid, last_seen_at) of the worker row holding the id."""
    with get_backend(url).engine.connect() as conn:
        row = conn.execute(
            sa.select(workers_table.c.pid, workers_table.c.last_seen_at).where(workers_table.c.executor_id == executor_id)
        ).first()
    return None if row is None else (row[0], row[1])


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path):
    with fresh_database(request.param, tmp_path) as url:
        yield url


def test_a_living_workers_id_is_refused_then_taken_over_with_its_runs_once_its_heartbeat_expires(url: str, tmp_path: Path, token: str) -> None:
    executor_id = f"box-{token}"
    holder = start_worker(url, executor_id=executor_id)
    try:
        log, go = tmp_path / "steps.log", tmp_path / "go"
        handle = tasks.trigger("t-three-steps", {"log": str(log), "go": str(go)}, database_url=url)
        wait_for_lines(log, "step2-started")

        with pytest.raises(ExecutorIdInUseError) as refused:
            Worker(database_url=url, tasks=[sample_tasks], executor_id=executor_id, dead_worker_after=DEAD_AFTER).start()
        assert refused.value.executor_id == executor_id and refused.value.pid == holder.pid
        assert f"executor id {executor_id!r} is held by a living worker (pid {holder.pid} on " in str(refused.value)
        assert current_worker() is None
        assert _holder(url, executor_id)[0] == holder.pid  # the refused worker changed nothing
        time.sleep(0.5)
        assert log.read_text().splitlines().count("step2-started") == 1  # nothing ran the step a second time

        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        killed_at = time.time()
        last_seen = _holder(url, executor_id)[1]
        with pytest.raises(ExecutorIdInUseError):  # dead, but not silent long enough to be known dead
            Worker(database_url=url, tasks=[sample_tasks], executor_id=executor_id, dead_worker_after=DEAD_AFTER).start()

        successor = None
        deadline = time.monotonic() + 30
        while successor is None and time.monotonic() < deadline:
            candidate = Worker(database_url=url, tasks=[sample_tasks], executor_id=executor_id, dead_worker_after=DEAD_AFTER, heartbeat_interval=0.3)
            try:
                candidate.start()
                successor = candidate
            except ExecutorIdInUseError:
                time.sleep(0.2)
        assert successor is not None, "the id of a dead worker was never freed"
        try:
            assert time.time() - last_seen > DEAD_AFTER and time.time() - killed_at > DEAD_AFTER - 0.5
            assert _holder(url, executor_id)[0] == os.getpid()
            go.touch()
            run = runs.wait(handle.id, timeout=60)
            assert run.status is RunStatus.COMPLETED and run.executor_id == executor_id
            lines = log.read_text().splitlines()
            assert lines.count("step1") == 1 and lines.count("step2-started") == 2 and lines.count("step3") == 1
        finally:
            successor.stop()
        assert _holder(url, executor_id) is None  # a graceful stop frees the id at once
    finally:
        stop(holder)


def test_cli_worker_on_a_living_workers_id_exits_2_with_one_line(url: str, token: str) -> None:
    executor_id = f"cli-{token}"
    holder = start_worker(url, executor_id=executor_id)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "runtime.cli", "worker", "--executor-id", executor_id, "--database-url", url, "-m", "tests.runtime.sample_tasks"],
            cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"},
        )
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"error: executor id {executor_id!r} is held by a living worker (pid {holder.pid} on ")
        assert "last heartbeat" in lines[0] and lines[0].endswith("once its worker has been silent for 15s")  # the config default
        assert _holder(url, executor_id)[0] == holder.pid
        assert holder.poll() is None
    finally:
        stop(holder)


def test_two_processes_claiming_the_same_ids_at_once_have_one_winner_per_id(url: str, token: str) -> None:
    free = [f"free-{token}-{i}" for i in range(200)]
    silent = [f"silent-{token}-{i}" for i in range(200)]  # held by workers that stopped heartbeating long ago
    long_ago = time.time() - 10 * DEAD_AFTER
    with get_backend(url).engine.begin() as conn:
        conn.execute(
            sa.insert(workers_table),
            [{"executor_id": e, "hostname": "gone", "pid": 1, "concurrency": 1, "tasks": [], "started_at": long_ago, "last_seen_at": long_ago} for e in silent],
        )
    results = race(claim_ids, url, free + silent, DEAD_AFTER)
    winners = {e: sum(r[e] for r in results) for e in free + silent}
    wrong = {e: n for e, n in winners.items() if n != 1}
    assert not wrong, f"{len(wrong)} ids did not have exactly one winner, e.g. {list(wrong.items())[:3]}"
    with get_backend(url).engine.connect() as conn:
        rows = conn.execute(sa.select(workers_table.c.executor_id, workers_table.c.hostname)).all()
    assert sorted(e for e, _ in rows) == sorted(free + silent) and "gone" not in {h for _, h in rows}


def test_two_workers_started_on_one_id_at_the_same_moment_one_runs(url: str, token: str) -> None:
    with Worker(database_url=url, tasks=[sample_tasks], run_schedules=False):
        pass  # migrate and register first, so both processes race on the claim alone
    outcomes = race(start_worker_as, url, f"twin-{token}", 3.0)
    assert sorted(outcomes) == ["refused", "started"]
    assert _holder(url, f"twin-{token}") is None


def test_a_worker_never_refreshes_or_releases_an_id_another_worker_took_over(url: str, token: str) -> None:
    backend = get_backend(url)
    executor_id = f"paused-{token}"
    paused = claim_executor_id(backend, executor_id, dead_after=DEAD_AFTER, concurrency=1, tasks=[])
    with pytest.raises(ExecutorIdInUseError):
        claim_executor_id(backend, executor_id, dead_after=DEAD_AFTER, concurrency=1, tasks=[])
    with backend.engine.begin() as conn:  # the holder pauses past the limit
        conn.execute(sa.update(workers_table).where(workers_table.c.executor_id == executor_id).values(last_seen_at=time.time() - 3 * DEAD_AFTER))
    successor = claim_executor_id(backend, executor_id, dead_after=DEAD_AFTER, concurrency=2, tasks=[])
    assert successor.started_at != paused.started_at
    assert heartbeat(backend, paused, concurrency=1, tasks=[]) is None  # it comes back to find its id taken
    release(backend, paused)
    with backend.engine.connect() as conn:
        row = conn.execute(sa.select(workers_table.c.started_at, workers_table.c.concurrency).where(workers_table.c.executor_id == executor_id)).one()
    assert (row[0], row[1]) == (successor.started_at, 2)
    assert heartbeat(backend, successor, concurrency=2, tasks=[]) == successor
    release(backend, successor)
    assert _holder(url, executor_id) is None
    # a worker declared dead by a peer (its row deleted) comes back with a new row when nobody took the id
    back = claim_executor_id(backend, executor_id, dead_after=DEAD_AFTER, concurrency=1, tasks=[])
    with backend.engine.begin() as conn:
        conn.execute(sa.delete(workers_table).where(workers_table.c.executor_id == executor_id))
    again = heartbeat(backend, back, concurrency=1, tasks=[])
    assert again is not None and _holder(url, executor_id) is not None


def test_living_workers_are_read_per_code_version(url: str) -> None:
    """A run is handed back only towards a living worker of its own version (DBOS gives a run to no other): the
    reader filters by version, keeps rows of an older release (no version recorded), and drops dead workers."""
    from runtime.executor_ids import live_executor_tasks

    backend = get_backend(url)
    claim_executor_id(backend, "w-a", dead_after=30, concurrency=1, tasks=["t-a"], version="A")
    claim_executor_id(backend, "w-b", dead_after=30, concurrency=1, tasks=["t-b"], version="B")
    claim_executor_id(backend, "w-old", dead_after=30, concurrency=1, tasks=["t-old"])  # an older release: no version
    dead = claim_executor_id(backend, "w-a-dead", dead_after=30, concurrency=1, tasks=["t-dead"], version="A")
    release(backend, dead)
    now = time.time()
    assert live_executor_tasks(backend, now, version="A") == {"w-a": frozenset({"t-a"}), "w-old": frozenset({"t-old"})}
    assert set(live_executor_tasks(backend, now, version="B")) == {"w-b", "w-old"}
    assert set(live_executor_tasks(backend, now)) == {"w-a", "w-b", "w-old"}
    claim = claim_executor_id(backend, "w-c", dead_after=30, concurrency=1, tasks=["t-c"], version="C")
    with backend.engine.begin() as conn:  # the row vanished (a peer declared it dead): the heartbeat re-creates it
        conn.execute(sa.delete(workers_table).where(workers_table.c.executor_id == "w-c"))
    assert heartbeat(backend, claim, concurrency=1, tasks=["t-c"], dead_after=30, version="C") is not None
    assert live_executor_tasks(backend, time.time(), version="C") == {"w-c": frozenset({"t-c"}), "w-old": frozenset({"t-old"})}

"""Crash safety at scale (issue 13 §3): 100 runs of a 3-step task, workers SIGKILLed while runs are mid-step.

Every step writes a side effect to a real table keyed by `ctx.idempotency_key(step)` and counts its executions
(tests/runtime/crash_tasks.py). What must hold after a crash:
- every run completes;
- a step DBOS had recorded before the kill is never executed again (its counter stays 1);
- a step interrupted after its write and before its record runs again (the at-least-once window), but with the
  same key, so the side effect exists once per (run, step): 3 rows per run, never more;
- at most one step per run re-executes (only the one in flight at the kill).
Recovery time (kill -> every run the dead worker held completed) is printed; only a generous bound is asserted.
Workers are real processes (tests/runtime/crash_worker.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from runtime import RunStatus, runs, tasks
from runtime.backend import get_backend, reset_backends
from tests.runtime import crash_tasks
from tests.runtime.conftest import make_database

ROOT = Path(__file__).resolve().parents[2]
TASK = "t-crash-three-effects"
STEPS = ("one", "two", "three")
RUNS = 100
RECOVERY_BOUND = 75.0  # dead_worker_after is 4 s in these workers; the rest is margin for a loaded 2-core machine


def start_worker(url: str, concurrency: int = 10, grace: int = 0, executor_id: str | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.crash_worker", url, str(concurrency), str(grace)] + ([executor_id] if executor_id else []),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("READY"):
            proc.executor_id = line.split()[1]  # type: ignore[attr-defined]
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"worker did not start: {proc.stdout.read() if proc.stdout else ''}")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def effects_url(kind: str, url: str, tmp_path: Path) -> str:
    """The side-effect table: beside the runs in PostgreSQL; in its own file on SQLite (the runtime's file is DBOS's)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'effects.sqlite'}"
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def executions(eff_url: str) -> dict[tuple[str, str], tuple[str, int]]:
    with crash_tasks.effects_engine(eff_url).connect() as conn:
        rows = conn.execute(sa.select(crash_tasks.effects)).all()
    return {(r.run_id, r.step): (r.idem_key, r.executions) for r in rows}


def wait_for_effects(eff_url: str, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(n for _, n in executions(eff_url).values()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} step executions after {timeout}s: {len(executions(eff_url))}")


def recorded_steps(url: str, run_ids: list[str]) -> set[tuple[str, str]]:
    """(run, step) pairs DBOS has recorded as finished, read through DBOS's public client API."""
    client = get_backend(url).client
    done: set[tuple[str, str]] = set()
    for run_id in run_ids:
        for step in client.list_workflow_steps(run_id):
            if step["function_name"] in STEPS and step.get("error") is None:
                done.add((run_id, step["function_name"]))
    return done


def executing_on(url: str, executor_id: str) -> list[str]:
    listed = runs.list(status=RunStatus.EXECUTING, task_id=TASK, limit=500, database_url=url)
    return [r.id for r in listed.data if r.executor_id == executor_id]


def wait_all(url: str, run_ids: list[str], timeout: float) -> dict[str, float]:
    """Wait for every run; returns when (monotonic) each was seen finished."""
    finished: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    pending = list(run_ids)
    while pending and time.monotonic() < deadline:
        for run_id in list(pending):
            run = runs.retrieve(run_id, database_url=url)
            if run.status.is_final:
                finished[run_id] = time.monotonic()
                pending.remove(run_id)
        if pending:
            time.sleep(0.25)
    return finished



def assert_crash_safe(url: str, eff_url: str, run_ids: list[str], recorded_at_kill: set[tuple[str, str]], interrupted: list[str]) -> None:
    statuses = {run_id: runs.retrieve(run_id, database_url=url) for run_id in run_ids}
    not_done = {i: r.status for i, r in statuses.items() if r.status is not RunStatus.COMPLETED}
    assert not not_done, f"{len(not_done)} of {len(run_ids)} runs did not complete: {not_done}"
    assert all(r.output == [f"{s} applied" for s in STEPS] for r in statuses.values())
    effects = executions(eff_url)
    # one side effect per (run, step), under the key the run's context gives for that step
    assert set(effects) == {(i, s) for i in run_ids for s in STEPS}, "a side effect is missing or was written under a second key"
    twice = {pair: n for pair, (_, n) in effects.items() if n > 1}
    assert not (set(twice) & recorded_at_kill), f"recorded steps executed again: {set(twice) & recorded_at_kill}"
    per_run: dict[str, int] = {}
    for run_id, _ in twice:
        per_run[run_id] = per_run.get(run_id, 0) + 1
    assert all(n == 1 for n in per_run.values()), f"a run re-executed more than the step in flight: {per_run}"
    assert all(n == 2 for n in twice.values()), twice
    assert set(per_run) <= set(interrupted), "only runs the dead worker held may re-execute a step"
    print(f"\n  {len(interrupted)} runs mid-flight at the kill, {len(recorded_at_kill)} steps recorded by then, "
          f"{len(twice)} steps re-executed inside the at-least-once window (same key, one side effect each)")


def kill(proc: subprocess.Popen) -> float:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    return time.monotonic()


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_100_runs_survive_a_sigkilled_worker_and_a_restart(kind: str, tmp_path: Path) -> None:
    url, drop = make_database(kind, tmp_path)
    eff_url = effects_url(kind, url, tmp_path)
    crash_tasks.effects_engine(eff_url)  # the table exists before the first step writes to it
    first = second = None
    try:
        first = start_worker(url)
        batch = tasks.batch_trigger(TASK, [{"effects": eff_url, "seconds": 0.3} for _ in range(RUNS)], database_url=url)
        run_ids = [h.id for h in batch.runs]
        wait_for_effects(eff_url, 60)  # about 20 runs in: some finished, ten mid-step, the rest queued
        killed_at = kill(first)
        interrupted = executing_on(url, first.executor_id)
        recorded = recorded_steps(url, run_ids)
        assert interrupted, "the kill should land while runs are executing"
        second = start_worker(url)
        finished = wait_all(url, run_ids, timeout=240)
        assert len(finished) == RUNS, f"only {len(finished)}/{RUNS} runs finished"
        recovery = max(finished[i] for i in interrupted) - killed_at
        total = max(finished.values()) - killed_at
        print(f"\n  [{kind}] restart: {len(interrupted)} interrupted runs recovered {recovery:.1f}s after the kill "
              f"(new worker start included); all {RUNS} done {total:.1f}s after it")
        assert_crash_safe(url, eff_url, run_ids, recorded, interrupted)
        assert recovery < RECOVERY_BOUND + 60  # the restart itself (a new process importing DBOS) is part of it
    finally:
        stop(first)
        stop(second)
        reset_backends()
        drop()


def test_100_runs_two_workers_one_sigkilled_the_survivor_takes_over(tmp_path: Path) -> None:
    url, drop = make_database("postgres", tmp_path)
    eff_url = effects_url("postgres", url, tmp_path)
    crash_tasks.effects_engine(eff_url)
    a = b = None
    try:
        a = start_worker(url, concurrency=6)
        b = start_worker(url, concurrency=6)
        batch = tasks.batch_trigger(TASK, [{"effects": eff_url, "seconds": 0.3} for _ in range(RUNS)], database_url=url)
        run_ids = [h.id for h in batch.runs]
        wait_for_effects(eff_url, 60)
        killed_at = kill(a)
        interrupted = executing_on(url, a.executor_id)
        recorded = recorded_steps(url, run_ids)
        assert interrupted, "the kill should land while the victim executes runs"
        finished = wait_all(url, run_ids, timeout=240)
        assert len(finished) == RUNS, f"only {len(finished)}/{RUNS} runs finished"
        recovery = max(finished[i] for i in interrupted) - killed_at
        print(f"\n  [postgres] takeover: {len(interrupted)} runs of the killed worker finished by the survivor "
              f"{recovery:.1f}s after the kill (heartbeat expiry 4 s)")
        assert_crash_safe(url, eff_url, run_ids, recorded, interrupted)
        assert {runs.retrieve(i, database_url=url).executor_id for i in interrupted} == {b.executor_id}
        assert recovery < RECOVERY_BOUND
    finally:
        stop(a)
        stop(b)
        reset_backends()
        drop()


def test_sigterm_with_a_long_grace_period_finishes_the_runs_while_another_worker_waits(tmp_path: Path) -> None:
    """The stopping worker keeps heartbeating through its grace period, so the other worker (dead-worker timeout 4 s)
    never takes over runs that are still executing: each step runs once, all on the stopping worker."""
    url, drop = make_database("postgres", tmp_path)
    eff_url = effects_url("postgres", url, tmp_path)
    crash_tasks.effects_engine(eff_url)
    first = second = None
    try:
        first = start_worker(url, concurrency=4, grace=60)
        batch = tasks.batch_trigger(TASK, [{"effects": eff_url, "seconds": 5.0} for _ in range(4)], database_url=url)
        run_ids = [h.id for h in batch.runs]
        wait_for_effects(eff_url, 4)  # all four started on the first worker (15 s each)
        second = start_worker(url, concurrency=4)
        asked = time.monotonic()
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=120)
        took = time.monotonic() - asked
        print(f"\n  SIGTERM with a 60 s grace: the worker finished its runs and exited after {took:.1f}s")
        assert first.returncode == 0, out
        assert took < 60 + 30, f"the worker overran its grace period: {took:.1f}s"
        finished = {i: runs.retrieve(i, database_url=url) for i in run_ids}
        assert all(r.status is RunStatus.COMPLETED for r in finished.values()), {i: r.status for i, r in finished.items()}
        assert {r.executor_id for r in finished.values()} == {first.executor_id}
        assert all(n == 1 for _, n in executions(eff_url).values()), executions(eff_url)
    finally:
        stop(first)
        stop(second)
        reset_backends()
        drop()


def test_sigterm_with_a_short_grace_period_hands_the_runs_back(tmp_path: Path) -> None:
    """Grace 1 s, runs of 6 s: the worker exits in about a second and hands them back to their queue (QUEUED);
    another worker finishes them, without redoing a recorded step."""
    url, drop = make_database("postgres", tmp_path)
    eff_url = effects_url("postgres", url, tmp_path)
    crash_tasks.effects_engine(eff_url)
    first = second = None
    try:
        first = start_worker(url, concurrency=4, grace=1)
        batch = tasks.batch_trigger(TASK, [{"effects": eff_url, "seconds": 2.0} for _ in range(4)], database_url=url)
        run_ids = [h.id for h in batch.runs]
        wait_for_effects(eff_url, 4)
        asked = time.monotonic()
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=60)
        took = time.monotonic() - asked
        print(f"\n  SIGTERM with a 1 s grace: the worker exited after {took:.1f}s")
        assert first.returncode == 0, out
        assert took < 1 + 25, f"the worker overran its 1 s grace period: {took:.1f}s"
        states = {i: runs.retrieve(i, database_url=url) for i in run_ids}
        handed_back = [i for i, r in states.items() if not r.status.is_final]
        assert handed_back, "with a 1 s grace the 6 s runs cannot have finished"
        assert {states[i].status for i in handed_back} == {RunStatus.QUEUED}, {i: states[i].status for i in handed_back}
        recorded = recorded_steps(url, run_ids)
        second = start_worker(url, concurrency=4)
        finished = wait_all(url, run_ids, timeout=120)
        assert len(finished) == len(run_ids)
        print(f"  {len(handed_back)} runs handed back and finished by {second.executor_id} "
              f"{max(finished.values()) - asked:.1f}s after the SIGTERM")
        assert_crash_safe(url, eff_url, run_ids, recorded, handed_back)
        assert {runs.retrieve(i, database_url=url).executor_id for i in handed_back} == {second.executor_id}
    finally:
        stop(first)
        stop(second)
        reset_backends()
        drop()

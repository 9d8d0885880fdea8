"""Durability: a worker process SIGKILLed mid-step; a surviving or new worker finishes its runs without redoing
finished steps. Workers are real separate processes (tests/runtime/worker_process.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime import RunStatus, runs, tasks
from runtime.backend import reset_backends
from tests.runtime.conftest import make_database

ROOT = Path(__file__).resolve().parents[2]


def start_worker(url: str, concurrency: int = 4, executor_id: str | None = None) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.runtime.worker_process", url, str(concurrency)] + ([executor_id] if executor_id else []),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("READY"):
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"worker did not start: {proc.stdout.read() if proc.stdout else ''}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for_lines(path: Path, text: str, count: int = 1, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().splitlines().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never had {count}x {text!r}: {path.read_text() if path.exists() else '(missing)'}")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_killed_worker_run_is_finished_by_a_new_worker_without_redoing_step_one(kind: str, tmp_path: Path) -> None:
    url, drop = make_database(kind, tmp_path)
    first = second = None
    try:
        first = start_worker(url)
        log, go = tmp_path / "steps.log", tmp_path / "go"
        handle = tasks.trigger("t-three-steps", {"log": str(log), "go": str(go)}, database_url=url)
        wait_for_lines(log, "step2-started")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        go.touch()
        second = start_worker(url)
        run = runs.wait(handle.id, timeout=60, database_url=url)
        assert run.status is RunStatus.COMPLETED, run
        assert run.output == "all steps done"
        lines = log.read_text().splitlines()
        assert lines.count("step1") == 1  # finished before the crash: never re-run
        assert lines.count("step2-started") == 2  # the interrupted step ran again
        assert lines.count("step2") == 1 and lines.count("step3") == 1
    finally:
        for proc in (first, second):
            if proc is not None:
                stop(proc)
        reset_backends()
        drop()


def test_two_postgres_workers_one_killed_the_other_finishes_all_runs(tmp_path: Path) -> None:
    url, drop = make_database("postgres", tmp_path)
    a = b = None
    try:
        a = start_worker(url, concurrency=4)
        b = start_worker(url, concurrency=4)
        go = tmp_path / "go"
        logs = [tmp_path / f"run{i}.log" for i in range(6)]
        handles = [tasks.trigger("t-three-steps", {"log": str(p), "go": str(go)}, database_url=url) for p in logs]
        for p in logs:
            wait_for_lines(p, "step2-started")
        owners = {runs.retrieve(h.id, database_url=url).executor_id for h in handles}
        assert len(owners) == 2, f"runs should be spread over both workers, got {owners}"
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        go.touch()
        for h in handles:
            run = runs.wait(h.id, timeout=60, database_url=url)
            assert run.status is RunStatus.COMPLETED
        for p in logs:
            lines = p.read_text().splitlines()
            assert lines.count("step1") == 1 and lines.count("step3") == 1
        finishers = {runs.retrieve(h.id, database_url=url).executor_id for h in handles}
        assert len(finishers) == 1  # the survivor finished everything, including the dead worker's runs
    finally:
        for proc in (a, b):
            if proc is not None:
                stop(proc)
        reset_backends()
        drop()


def test_runs_left_by_a_gracefully_stopped_worker_are_recovered_by_another_worker(tmp_path: Path) -> None:
    """A worker that stops (SIGTERM) mid-run hands its runs back and removes its heartbeat; a worker with another id
    picks them up."""
    url, drop = make_database("postgres", tmp_path)
    first = second = None
    try:
        first = start_worker(url, executor_id="box-a")
        log, go = tmp_path / "steps.log", tmp_path / "go"
        handle = tasks.trigger("t-three-steps", {"log": str(log), "go": str(go)}, database_url=url)
        wait_for_lines(log, "step2-started")
        stop(first)
        assert runs.retrieve(handle.id, database_url=url).status is RunStatus.QUEUED  # handed back (issue 13 §3)
        go.touch()
        second = start_worker(url, executor_id="box-b")
        run = runs.wait(handle.id, timeout=60, database_url=url)
        assert run.status is RunStatus.COMPLETED and run.executor_id == "box-b"
        assert log.read_text().splitlines().count("step1") == 1
    finally:
        for proc in (first, second):
            if proc is not None:
                stop(proc)
        reset_backends()
        drop()

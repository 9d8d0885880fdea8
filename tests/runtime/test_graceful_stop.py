"""A worker stopped by SIGTERM takes no new run, lets running runs finish within its grace period, and hands back
the ones that do not, so another worker resumes them at once (not after the dead-worker limit) without redoing
their finished steps. Real `taskpack worker` processes, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from runtime import RunStatus, runs, tasks
from tests.runtime.test_crash_recovery import ROOT, start_worker, stop, wait_for_lines

def start_cli_worker(url: str, grace: int, executor_id: str) -> subprocess.Popen:
    """`taskpack worker` as production runs it, with its SIGTERM handling."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "worker", "--grace", str(grace), "--executor-id", executor_id,
         "--database-url", url, "-m", "tests.runtime.sample_tasks", "--concurrency", "4"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if f"executor {executor_id}" in line:
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"worker did not start: {proc.stdout.read() if proc.stdout else ''}")


def test_a_run_that_ends_within_the_grace_period_is_finished_by_the_stopping_worker(db_url: str, tmp_path: Path) -> None:
    log, go = tmp_path / "steps.log", tmp_path / "go"
    worker = start_cli_worker(db_url, grace=20, executor_id="graceful-a")
    try:
        handle = tasks.trigger("t-three-steps", {"log": str(log), "go": str(go)}, database_url=db_url)
        wait_for_lines(log, "step2-started")
        worker.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert worker.poll() is None, "the worker waits for its running run"
        queued_late = tasks.trigger("t-echo", {"late": True}, database_url=db_url)  # no new run starts while stopping
        go.touch()
        worker.wait(timeout=30)
        run = runs.retrieve(handle.id, database_url=db_url)
        assert run.status is RunStatus.COMPLETED and run.executor_id == "graceful-a", run
        assert runs.retrieve(queued_late.id, database_url=db_url).status is RunStatus.QUEUED
        assert log.read_text().splitlines() == ["step1", "step2-started", "step2", "step3"]
    finally:
        stop(worker)


def test_a_run_still_executing_after_the_grace_period_is_handed_back_and_resumed_at_once(db_url: str, tmp_path: Path) -> None:
    log, go = tmp_path / "steps.log", tmp_path / "go"
    first = start_cli_worker(db_url, grace=1, executor_id="graceful-b")
    second = None
    try:
        handle = tasks.trigger("t-three-steps", {"log": str(log), "go": str(go)}, database_url=db_url)
        wait_for_lines(log, "step2-started")
        signalled = time.monotonic()
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
        assert time.monotonic() - signalled < 15, "the grace period bounds the stop"
        assert first.returncode == 0
        said = first.stdout.read() if first.stdout else ""
        assert "handed back 1 runs to their queues" in said, said
        handed = runs.retrieve(handle.id, database_url=db_url)
        assert handed.status is RunStatus.QUEUED, handed  # handed back, not left EXECUTING under a stopped worker
        go.touch()
        second = start_worker(db_url, executor_id="graceful-c")  # another id: no restart of the same slot needed
        run = runs.wait(handle.id, timeout=60, database_url=db_url)
        assert run.status is RunStatus.COMPLETED and run.executor_id == "graceful-c", run
        lines = log.read_text().splitlines()
        assert lines.count("step1") == 1 and lines.count("step2-started") == 2 and lines.count("step3") == 1
    finally:
        for proc in (first, second):
            if proc is not None:
                stop(proc)


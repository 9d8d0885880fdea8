"""Code versions (issue 13 §1): a run waits for the version it was triggered for, visibly; a worker of a new version
adopts runs of a gone version that never started (unless strict); a started run is never resumed by another
version and ends CRASHED, with the reason, once its version has had no worker for the grace period.
SQLite and PostgreSQL; the killed worker is a real separate process."""

from __future__ import annotations

import hashlib

import signal
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from runtime import RunStatus, Worker, runs, tasks
from runtime.backend import get_backend
from runtime.run_reader import NO_WORKER_REASON
from runtime.versions import ENV_VERSION, VersionError, code_version, live_versions, record_seen, task_modules_hash
from tests.runtime.conftest import eventually
from tests.runtime import sample_tasks, secret_tasks
from tests.runtime.test_crash_recovery import start_worker, stop, wait_for_lines

DEAD_AFTER = 1.0
#: the dead-worker limit of a worker whose version a test reads as live while it runs: a heartbeat (every 0.2 s) held
#: up past DEAD_AFTER on a loaded machine made its version read as gone, and a PENDING_VERSION run read QUEUED, "no
#: worker is running". Workers that must be seen dead soon (version A of `version_a_has_run`) keep DEAD_AFTER.
LIVE_DEAD_AFTER = 30.0


def _worker(
    url: str, version: str, monkeypatch: pytest.MonkeyPatch, modules: Any = None, dead_after: float = DEAD_AFTER, **options: Any
) -> Worker:
    monkeypatch.setenv(ENV_VERSION, version)
    return Worker(
        database_url=url, tasks=modules or [sample_tasks], concurrency=2, heartbeat_interval=0.2, dead_worker_after=dead_after, **options
    )


def _trigger_as(version: str, monkeypatch: pytest.MonkeyPatch, url: str, task_id: str = "t-echo", payload: Any = None) -> str:
    monkeypatch.setenv(ENV_VERSION, version)
    return tasks.trigger(task_id, payload if payload is not None else {"v": version}, database_url=url).id




@pytest.fixture
def version_a_has_run(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A worker of version A ran and was stopped: A is a version the database has seen, with no worker left."""
    with _worker(db_url, "A", monkeypatch):
        pass
    time.sleep(DEAD_AFTER + 0.2)  # A's last heartbeat is older than the dead-worker limit: no living worker runs A
    yield db_url


def test_a_run_records_the_version_it_was_triggered_for(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _trigger_as("release-7", monkeypatch, db_url)
    run = runs.retrieve(run_id, database_url=db_url)
    assert (run.version, run.triggered_version, run.status) == ("release-7", "release-7", RunStatus.QUEUED)
    monkeypatch.delenv(ENV_VERSION)
    hashed = runs.retrieve(tasks.trigger("t-echo", {}, database_url=db_url).id, database_url=db_url)
    assert hashed.version == code_version() and hashed.version.startswith("code-")


def test_adopt_a_new_version_worker_runs_what_the_old_version_never_started(version_a_has_run: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = version_a_has_run
    run_id = _trigger_as("A", monkeypatch, url)
    with _worker(url, "B", monkeypatch):  # adopt is the default
        run = runs.wait(run_id, timeout=30, database_url=url)
    assert run.status is RunStatus.COMPLETED, run
    assert run.output == {"echo": {"v": "A"}, "attempt": 1}
    assert (run.version, run.triggered_version) == ("B", "A")


def test_strict_the_run_shows_pending_version_and_waits_for_its_own_version(version_a_has_run: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = version_a_has_run
    run_id = _trigger_as("A", monkeypatch, url)
    with _worker(url, "B", monkeypatch, dead_after=LIVE_DEAD_AFTER, version_adoption="strict") as worker:
        eventually(lambda: "B" in live_versions(get_backend(url).engine, time.time()), what="B live")
        time.sleep(1.0)  # several housekeeping rounds: a strict worker adopts nothing
        run = runs.retrieve(run_id, database_url=url)
        assert run.status is RunStatus.PENDING_VERSION, run
        assert run.version == "A" and worker.version == "B"
        pending = runs.list(status="PENDING_VERSION", database_url=url).data
        assert [r.id for r in pending] == [run_id]
        assert run_id not in [r.id for r in runs.list(status="QUEUED", database_url=url).data]
    # B is gone and A comes back: the run was waiting for A, and A runs it
    with _worker(url, "A", monkeypatch):
        done = runs.wait(run_id, timeout=30, database_url=url)
    assert done.status is RunStatus.COMPLETED and done.version == "A"


def test_adopt_takes_only_runs_of_tasks_the_worker_can_run(version_a_has_run: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = version_a_has_run
    run_id = _trigger_as("A", monkeypatch, url)  # t-echo: defined in sample_tasks, not in secret_tasks
    with _worker(url, "B", monkeypatch, modules=[secret_tasks], dead_after=LIVE_DEAD_AFTER):
        eventually(lambda: runs.retrieve(run_id, database_url=url).status is RunStatus.PENDING_VERSION, what="PENDING_VERSION")
        time.sleep(1.0)
        run = runs.retrieve(run_id, database_url=url)
        assert run.status is RunStatus.PENDING_VERSION and run.version == "A"


def test_with_no_living_worker_a_queued_run_is_just_queued(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _trigger_as("A", monkeypatch, db_url)
    assert runs.retrieve(run_id, database_url=db_url).status is RunStatus.QUEUED
    assert [r.id for r in runs.list(status="QUEUED", database_url=db_url).data] == [run_id]
    assert runs.list(status="PENDING_VERSION", database_url=db_url).data == []
    # ... and says why it does not start (a `--wait` or a UI showed a bare QUEUED for as long as no worker was started)
    assert runs.retrieve(run_id, database_url=db_url).status_reason == NO_WORKER_REASON
    record_seen(get_backend(db_url).engine, "A", time.time(), 60.0)  # a worker of its version is alive: it takes it
    queued = runs.retrieve(run_id, database_url=db_url)
    assert queued.status is RunStatus.QUEUED and queued.status_reason is None


def test_a_started_run_is_never_resumed_by_another_version_and_ends_crashed(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Version A's worker is SIGKILLed mid-step; a worker of B declares it dead but does not resume its run (DBOS
    resumes only runs of the recovering worker's version); after the grace period the run ends CRASHED."""
    log, go = tmp_path / "steps.log", tmp_path / "go"
    monkeypatch.setenv(ENV_VERSION, "A")
    first = start_worker(db_url)  # the subprocess inherits TASKPACK_VERSION=A
    try:
        run_id = tasks.trigger("t-three-steps", {"log": str(log), "go": str(go)}, database_url=db_url).id
        wait_for_lines(log, "step2-started")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)
    go.touch()  # a resumed run would finish now
    with _worker(db_url, "B", monkeypatch, version_grace_period=4.0):
        time.sleep(2.5)  # B has declared A's worker dead (1 s) and tried to recover its runs
        run = runs.retrieve(run_id, database_url=db_url)
        # nothing executes it: its worker is dead, and it waits for a worker of its version (issue 13 §3)
        assert run.status is RunStatus.WAITING_FOR_WORKER and run.version == "A", run
        assert run.status_reason is not None and "version A" in run.status_reason, run.status_reason
        assert runs.list(status="EXECUTING", database_url=db_url).data == []
        crashed = eventually(
            lambda: (r := runs.retrieve(run_id, database_url=db_url)).status is RunStatus.CRASHED and r, timeout=30, what="CRASHED"
        )
    lines = log.read_text().splitlines()
    assert lines.count("step1") == 1 and lines.count("step2-started") == 1, lines  # B executed nothing of it
    assert "step2" not in lines and "step3" not in lines
    assert crashed.error is not None and crashed.error.type == "WorkerVersionGone"
    assert "code version A" in crashed.error.message and crashed.error.retryable is False
    assert crashed.version == "A"
    assert crashed.id in [r.id for r in runs.list(status="CRASHED", database_url=db_url).data]


# -- the version itself --------------------------------------------------------------------------------------------------
def test_the_hash_covers_the_task_modules_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "tasks" / "pkg").mkdir(parents=True)
    (tmp_path / "tasks" / "a.py").write_text("x = 1\n")
    (tmp_path / "tasks" / "pkg" / "b.py").write_text("y = 2\n")
    (tmp_path / "other.py").write_text("z = 3\n")

    def version() -> str:
        task_modules_hash.cache_clear()
        return task_modules_hash(str(tmp_path), ("tasks",))

    first = version()
    assert first.startswith("code-") and len(first) == len("code-") + 16
    assert version() == first
    (tmp_path / "other.py").write_text("z = 4\n")
    (tmp_path / "tasks" / "notes.txt").write_text("not code")
    (tmp_path / "tasks" / "pkg" / "__pycache__").mkdir()
    (tmp_path / "tasks" / "pkg" / "__pycache__" / "b.cpython-311.py").write_text("cached")
    assert version() == first
    (tmp_path / "tasks" / "pkg" / "b.py").write_text("y = 3\n")
    changed = version()
    assert changed != first
    (tmp_path / "tasks" / "pkg" / "b.py").rename(tmp_path / "tasks" / "pkg" / "c.py")  # same bytes, another module
    assert version() != changed


def test_task_dirs_missing_from_the_project_are_hashed_where_their_package_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh project folder runs the installed tasks (`taskpack demo`, `taskpack ask`): its version is the hash of
    those, the same as a checkout of the same code, and a new release is a new version (it was the hash of no file:
    `code-e3b0c44298fc1c14`, the SHA-256 of nothing, for every release)."""
    site, project = tmp_path / "site", tmp_path / "fresh-project"
    package = site / "vt_pkg" / "jobs"
    package.mkdir(parents=True)
    project.mkdir()
    (site / "vt_pkg" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "job.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(site))

    def version(root: Path) -> str:
        task_modules_hash.cache_clear()
        return task_modules_hash(str(root), ("vt_pkg/jobs",))

    installed = version(project)
    assert installed != "code-" + hashlib.sha256().hexdigest()[:16]
    assert installed == version(site)  # the checkout's hash: the same modules under the same names
    (package / "job.py").write_text("x = 2\n")
    assert version(project) != installed
    task_modules_hash.cache_clear()
    assert task_modules_hash(str(project), ("no_such_package_here",)) == "code-" + hashlib.sha256().hexdigest()[:16]


@pytest.mark.parametrize("value", ["x" * 129, "v1\x7f", "v1\nv2", "v1\tv2", "\x1b[31mred"])
def test_a_version_that_cannot_be_stored_or_shown_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VERSION, value)
    with pytest.raises(VersionError) as caught:
        code_version()
    assert caught.value.field == ENV_VERSION
    assert value not in str(caught.value)


def test_a_blank_version_falls_back_to_the_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VERSION, "  ")
    assert code_version().startswith("code-")
    monkeypatch.setenv(ENV_VERSION, " v2 ")
    assert code_version() == "v2"


def test_an_unknown_adoption_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="version_adoption"):
        Worker(tasks=[sample_tasks], version_adoption="sometimes")

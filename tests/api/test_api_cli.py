"""`taskpack keys` and `taskpack serve` / `taskpack dev` as a user runs them: real processes on a real port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from runtime.backend import reset_backends
from store import api_keys
from tests.runtime.conftest import fresh_database, make_database

runner = CliRunner()
TASKPACK = str(Path(sys.executable).with_name("taskpack"))
TASK_SOURCE = '''
from runtime import task

@task(id="cli-hello")
def hello(payload, ctx):
    return {"greeting": "GREETING", "payload": payload}
'''


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    with fresh_database(request.param, tmp_path) as url:
        yield url


def test_keys_create_list_revoke(db: str) -> None:
    created = runner.invoke(app, ["keys", "create", "--env", "staging", "--name", "ci", "--database-url", db])
    assert created.exit_code == 0, created.output
    key = created.stdout.splitlines()[0].strip()
    assert key.startswith("tp_staging_") and len(key) == len("tp_staging_") + 32
    listed = runner.invoke(app, ["keys", "list", "--json", "--database-url", db])
    rows = json.loads(listed.stdout)
    assert [(r["environment"], r["name"], r["revoked_at"]) for r in rows] == [("staging", "ci", None)]
    assert key not in listed.stdout and rows[0]["display_prefix"].startswith("tp_staging_")
    assert api_keys.verify_key(key, database_url=db) is not None
    revoked = runner.invoke(app, ["keys", "revoke", rows[0]["id"], "--database-url", db])
    assert revoked.exit_code == 0 and rows[0]["id"] in revoked.stdout
    assert api_keys.verify_key(key, database_url=db) is None
    assert json.loads(runner.invoke(app, ["keys", "list", "--json", "--database-url", db]).stdout)[0]["revoked_at"]


def test_keys_refuse_bad_input(db: str) -> None:
    bad_env = runner.invoke(app, ["keys", "create", "--env", "production", "--database-url", db])
    assert bad_env.exit_code == 2 and "environment" in bad_env.output
    unknown = runner.invoke(app, ["keys", "revoke", "key_nope", "--database-url", db])
    assert unknown.exit_code == 2 and "no API key" in unknown.output
    assert runner.invoke(app, ["keys", "create", "--env", "dev", "--name", "a\x00b", "--database-url", db]).exit_code == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _project(tmp_path: Path, greeting: str = "hello") -> Path:
    (tmp_path / "trigger_config.py").write_text(
        "from runtime.config import ProjectConfig\nconfig = ProjectConfig(dirs=['tp_tasks'], queue_polling_interval=0.05)\n"
    )
    (tmp_path / "tp_tasks").mkdir(exist_ok=True)
    (tmp_path / "tp_tasks" / "hello.py").write_text(TASK_SOURCE.replace("GREETING", greeting))
    return tmp_path


def _start(args: list[str], project: Path, db: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "TASKPACK_PROJECT_ROOT": str(project), "TASKPACK_DATABASE_URL": db}
    proc = subprocess.Popen([TASKPACK, *args, "--port", str(port)], cwd=project, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise AssertionError(f"{args[0]} did not start: {proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _run(base: str, key: str, payload: object, timeout: float = 30) -> dict:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        response = client.post("/api/v1/tasks/cli-hello/trigger", json={"payload": payload})
        assert response.status_code == 200, response.text
        run_id = response.json()["id"]
        deadline = time.monotonic() + timeout
        while True:
            run = client.get(f"/api/v1/runs/{run_id}").json()
            if run["isFinished"] or time.monotonic() > deadline:
                return run
            time.sleep(0.1)


def test_serve_runs_the_api_with_an_embedded_worker(db: str, tmp_path: Path) -> None:
    project = _project(tmp_path)
    proc, base = _start(["serve"], project, db)
    _stop(proc)
    assert "taskpack keys create --env dev" in proc.stdout.read()  # nobody could call it: it says how to fix that
    key = api_keys.create_key("dev", database_url=db).key
    proc, base = _start(["serve"], project, db)
    try:
        run = _run(base, key, {"n": 1})
        assert run["status"] == "COMPLETED" and run["output"] == {"greeting": "hello", "payload": {"n": 1}}
    finally:
        _stop(proc)


def test_serve_without_worker_leaves_runs_queued(db: str, tmp_path: Path) -> None:
    project = _project(tmp_path)
    key = api_keys.create_key("dev", database_url=db).key
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        proc, base = _start(["serve", "--no-worker"], project, db)
        try:  # no worker has published the task yet, and this process does not define it
            assert client.post(f"{base}/api/v1/tasks/cli-hello/trigger", json={}).status_code == 404
        finally:
            _stop(proc)
        proc, base = _start(["serve"], project, db)  # a worker publishes the task's definition
        _stop(proc)
        proc, base = _start(["serve", "--no-worker"], project, db)
        try:
            run_id = client.post(f"{base}/api/v1/tasks/cli-hello/trigger", json={}).json()["id"]
            time.sleep(2)
            assert client.get(f"{base}/api/v1/runs/{run_id}").json()["status"] == "QUEUED"  # nobody executes it
        finally:
            _stop(proc)
        proc, base = _start(["serve"], project, db)
        try:
            assert _run(base, key, None)["status"] == "COMPLETED"
            assert client.get(f"{base}/api/v1/runs/{run_id}").json()["status"] == "COMPLETED"  # picked up later
        finally:
            _stop(proc)


def test_dev_reloads_when_a_task_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    url, drop = make_database("sqlite", tmp_path)
    project = _project(tmp_path, "first")
    key = api_keys.create_key("dev", database_url=url).key
    proc, base = _start(["dev"], project, url)
    try:
        assert _run(base, key, 1)["output"]["greeting"] == "first"
        (project / "tp_tasks" / "hello.py").write_text(TASK_SOURCE.replace("GREETING", "second"))
        deadline = time.monotonic() + 60
        greeting = "first"
        while greeting != "second" and time.monotonic() < deadline:
            time.sleep(1)
            try:
                greeting = _run(base, key, 2, timeout=10)["output"]["greeting"]
            except (httpx.HTTPError, TypeError, KeyError):
                continue
        assert greeting == "second"
    finally:
        _stop(proc)
        reset_backends()
        drop()


def test_dev_without_task_modules_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither a `jobs` dir in the project nor an installed `jobs_nowhere` package: refused before the server starts
    (it was the worker's refusal inside the server's startup, printed as a traceback)."""
    from runtime.config import load_config, project_root

    (tmp_path / "trigger_config.py").write_text('from runtime.config import ProjectConfig\nconfig = ProjectConfig(dirs=["jobs_nowhere"])\n')
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("the server was started"))
    assert project_root() == tmp_path.resolve() and load_config().dirs == ["jobs_nowhere"]
    refused = runner.invoke(app, ["dev", "--port", str(_free_port())])
    assert refused.exit_code == 2, refused.output
    assert "no task modules" in refused.output and "jobs_nowhere" in refused.output and "Traceback" not in refused.output

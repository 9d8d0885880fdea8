"""The `taskpack` command line, driven through Typer's runner (and a real subprocess for the dev reloader)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from runtime.backend import reset_backends
from runtime.cli import app

runner = CliRunner()
MODULE = "tests.runtime.sample_tasks"


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.sqlite'}"


def test_trigger_local_wait_runs_the_task_and_exits_zero(tmp_path: Path) -> None:
    result = runner.invoke(app, ["trigger", "t-progress", "-p", '{"token": "cli", "steps": 3, "pause": 0.01}', "--local", "--wait", "-m", MODULE, "--database-url", _url(tmp_path)])
    reset_backends()
    assert result.exit_code == 0, result.output
    assert "COMPLETED" in result.output and "progress" in result.output
    run_id = result.output.split("run ")[1].split()[0]
    shown = runner.invoke(app, ["runs", "show", run_id, "--json", "--database-url", _url(tmp_path)])
    reset_backends()
    data = json.loads(shown.output)
    assert data["run"]["status"] == "COMPLETED" and data["run"]["output"] == 3
    assert [e["message"] for e in data["logs"]].count("step done") == 3


def test_trigger_wait_exits_one_when_the_run_fails(tmp_path: Path) -> None:
    result = runner.invoke(app, ["trigger", "t-aborts", "-p", '{"token": "x"}', "--local", "--wait", "-m", MODULE, "--database-url", _url(tmp_path)])
    reset_backends()
    assert result.exit_code == 1
    assert "FAILED" in result.output and "AbortTaskRunError" in result.output


def test_bad_payload_and_unknown_task_are_clear_errors(tmp_path: Path) -> None:
    bad = runner.invoke(app, ["trigger", "t-echo", "-p", "{not json", "-m", MODULE, "--database-url", _url(tmp_path)])
    assert bad.exit_code == 2 and "not valid JSON" in bad.output
    unknown = runner.invoke(app, ["trigger", "no-such-task", "-m", MODULE, "--database-url", _url(tmp_path)])
    reset_backends()
    assert unknown.exit_code == 2 and "no-such-task" in unknown.output


def test_runs_list_cancel_replay_and_schedules(tmp_path: Path) -> None:
    url = _url(tmp_path)
    queued = runner.invoke(app, ["trigger", "t-echo", "-p", '{"n": 1}', "-t", "cli-tag", "-m", MODULE, "--database-url", url])
    assert queued.exit_code == 0, queued.output  # no worker: it stays queued
    run_id = queued.output.split("run ")[1].split()[0]
    listed = runner.invoke(app, ["runs", "list", "--json", "--tag", "cli-tag", "--database-url", url])
    assert [r["id"] for r in json.loads(listed.output)["data"]] == [run_id]
    assert json.loads(runner.invoke(app, ["runs", "list", "--json", "--status", "queued", "--database-url", url]).output)["data"][0]["id"] == run_id
    table = runner.invoke(app, ["runs", "list", "--database-url", url], env={"COLUMNS": "200"}).output
    assert run_id in table and "QUEUED" in table
    canceled = runner.invoke(app, ["runs", "cancel", run_id, "--database-url", url])
    assert "CANCELED" in canceled.output
    replayed = runner.invoke(app, ["runs", "replay", run_id, "--database-url", url])
    assert replayed.exit_code == 0 and "replayed" in replayed.output
    created = runner.invoke(app, ["schedules", "create", "--task", "t-echo", "--cron", "0 3 * * *", "--timezone", "Europe/Paris", "--database-url", url])
    assert created.exit_code == 0, created.output
    schedule_id = created.output.split("schedule ")[1].split(":")[0]
    listed_schedules = json.loads(runner.invoke(app, ["schedules", "list", "--json", "--database-url", url]).output)
    assert [(s["id"], s["timezone"]) for s in listed_schedules] == [(schedule_id, "Europe/Paris")]
    bad_cron = runner.invoke(app, ["schedules", "create", "--task", "t-echo", "--cron", "sometimes", "--database-url", url])
    assert bad_cron.exit_code == 2 and "cron" in bad_cron.output
    assert runner.invoke(app, ["schedules", "delete", schedule_id, "--database-url", url]).exit_code == 0
    missing = runner.invoke(app, ["runs", "show", "run_missing", "--database-url", url])
    reset_backends()
    assert missing.exit_code == 1 and "run_missing" in missing.output


def test_dev_worker_restarts_when_a_task_file_changes(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "jobs").mkdir(parents=True)
    (project / "trigger_config.py").write_text(
        "from runtime.config import ProjectConfig\nconfig = ProjectConfig(project='devtest', dirs=['jobs'])\n"
    )
    task_file = project / "jobs" / "hello.py"
    task_file.write_text("from runtime import task\n\n@task(id='dev-hello')\ndef hello(payload):\n    return 1\n")
    env = {**os.environ, "TASKPACK_PROJECT_ROOT": str(project), "TASKPACK_DATABASE_URL": f"sqlite:///{project / 'dev.sqlite'}", "PYTHONPATH": str(project)}
    # its own process group, as a terminal's Ctrl-C reaches `dev` and its worker alike: nothing outlives the test
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "dev"], cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: list[str] = []

    def wait_for(text: str, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "".join(seen).count(text) >= count:
                return
        raise AssertionError("".join(seen))

    try:
        wait_for("dev-hello", 1)  # the worker banner lists the tasks it loaded
        assert "dev-second" not in "".join(seen)
        task_file.write_text(task_file.read_text() + "\n@task(id='dev-second')\ndef second(payload):\n    return 2\n")
        wait_for("change detected", 1)
        wait_for("dev-second", 1)
        assert "taskpack worker" in "".join(seen).split("change detected")[1]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        time.sleep(0.5)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # a worker still stopping (or orphaned) goes with its group
        except ProcessLookupError:
            pass

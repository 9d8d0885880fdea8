"""The agent under the runtime's hard cases: a worker SIGKILLed during analyzing, a cancel while a warehouse query
runs (the query stops on the server), max_duration, and one run per chat at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from runtime import RunStatus, runs, tasks
from runtime.backend import reset_backends
from store import metrics, sources
from tasks.analyst_agent import task as agent_module
from tests.tasks.analyst_agent.agent_harness import (
    CHANNEL_SQL,
    MAIN_SQL,
    QUESTION,
    AgentWorld,
    ask_and_wait,
    build_world,
    done_action,
    metric_action,
    structured,
    use_model,
)
from tests.runtime.conftest import eventually
from tests.tasks.analyst_agent.scripted_model import RecordedRequest, Reply, ScriptedModel

ROOT = Path(__file__).resolve().parents[3]
STRUCTURED = {"tool_mode": "structured"}


def respond_by_schema(turns: list[dict[str, Any]], *, plan_delay: float = 0.0) -> Any:
    """A script that answers by what is asked (plan, SQL, then the agent turns in order): what a restarted run
    asks again gets the same answer."""
    lock = threading.Lock()

    def answer(request: RecordedRequest) -> Reply:
        schema = request.schema_name
        if schema == "Plan":
            return structured({"todo": ["Revenue per channel in 2025 Q2", "Save it"]}, delay=plan_delay)
        if schema == "SqlAnswer":
            return structured({"sql": MAIN_SQL})
        with lock:
            done = sum(1 for m in request.messages if m.get("role") == "assistant")
        return structured({"step": turns[min(done, len(turns) - 1)]})

    return answer


# -- SIGKILL during analyzing ---------------------------------------------------------------------------------------
def start_worker(url: str, env: dict[str, str], executor_id: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.tasks.analyst_agent.agent_worker", url, executor_id],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline() if proc.stdout else ""
        if line.startswith("READY"):
            return proc
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"worker did not start: {proc.stdout.read() if proc.stdout else ''}")


def stop(proc: subprocess.Popen[str] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_worker_killed_during_analyzing_resumes_there_and_stores_the_metric_once(tmp_path: Path) -> None:
    from demo import build_demo_warehouse, demo_credentials

    url = f"sqlite:///{tmp_path / 'taskpack.sqlite'}"
    warehouse = tmp_path / "demo.duckdb"
    build_demo_warehouse(warehouse)
    warehouse.chmod(0o444)
    answer = "Paid Search brought the most revenue."
    turns = [metric_action(CHANNEL_SQL), done_action(answer)]
    second_turn_asked = threading.Event()
    base = respond_by_schema(turns)

    def script(request: RecordedRequest) -> Reply:
        reply = base(request)
        if request.schema_name == "AgentTurn" and any("saved metric" in str(m.get("content")) for m in request.messages):
            if not second_turn_asked.is_set():
                second_turn_asked.set()
                reply.delay = 60  # the worker dies while it waits for this answer
        return reply

    model = ScriptedModel(script).start()
    env = {"OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": "sk-scripted-0000", "TASKPACK_MODEL": "scripted-model"}
    first = second = None
    try:
        first = start_worker(url, env, "agent-box-a")
        source = sources.add_source("demo", demo_credentials(warehouse), profile=True, database_url=url)
        handle = agent_module.ask(QUESTION, source.id, chat_id="chat-crash", options=STRUCTURED, database_url=url)
        assert second_turn_asked.wait(120), "the run never reached its second analyzing turn"
        # the worker flushes run metadata on an interval: the state it is in may reach the database a moment later
        state = eventually(lambda: runs.retrieve(handle.id, database_url=url).metadata.get("state") == "analyzing", 10.0,
                           "the run's metadata saying it is analyzing")
        assert state
        run = runs.retrieve(handle.id, database_url=url)
        assert run.metadata["state"] == "analyzing"
        (stored,) = metrics.list_metrics(run_id=handle.id, database_url=url)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = start_worker(url, env, "agent-box-b")
        run = runs.wait(handle.id, timeout=180, database_url=url)
        assert run.status is RunStatus.COMPLETED, run.error
        assert run.output["answer"] == answer
        # the metric was stored once, by the first worker, and the resumed run reports that one
        assert [m.id for m in metrics.list_metrics(run_id=handle.id, database_url=url)] == [stored.id]
        assert len(metrics.metric_versions_of(stored.id, database_url=url)) == 1
        assert [m["id"] for m in run.output["metrics"]] == [stored.id]
        # finished states and turns were not asked again; only the interrupted turn was
        schemas = [r.schema_name for r in model.requests if r.method == "POST"]
        assert schemas.count("Plan") == 1 and schemas.count("SqlAnswer") == 1
        assert schemas.count("AgentTurn") == 3  # create_metric once, the interrupted turn twice
        assert [s["name"] for s in run.output["states"]][-3:] == ["analyzing", "reviewing", "completed"]
    finally:
        stop(first)
        stop(second)
        model.stop()
        reset_backends()


# -- in-process worker tests ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentWorld]:
    yield from build_world(tmp_path_factory.mktemp("agent-durability"))


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedModel]:
    scripted = ScriptedModel().start()
    use_model(monkeypatch, scripted)
    try:
        yield scripted
    finally:
        scripted.stop()


def test_max_duration_stops_a_run_waiting_for_the_model(world: AgentWorld, model: ScriptedModel,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    model.add(structured({"todo": ["x"]}, delay=60))
    started = time.monotonic()
    run = ask_and_wait(world, max_duration=4, timeout=90)
    elapsed = time.monotonic() - started
    assert run.status is RunStatus.TIMED_OUT, run.status
    assert elapsed < 45, elapsed  # far below the model's 60 s: the call was abandoned, not waited for
    assert run.metadata["state"] in ("planning", "failed")


def test_one_run_per_chat_at_a_time_and_other_chats_in_parallel(world: AgentWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three questions: two in one chat, one in another. The chat's second run starts only after its first ended;
    the other chat's run overlaps the first."""
    windows: dict[str, list[float]] = {}
    lock = threading.Lock()

    def script(request: RecordedRequest) -> Reply:
        question = next((m["content"] for m in request.messages if m.get("role") == "user"), "")
        tag = question.split("Question: ")[-1].split("\n")[0]
        with lock:
            windows.setdefault(tag, []).append(time.monotonic())
        return respond_by_schema([done_action("ok")], plan_delay=1.5)(request)

    scripted = ScriptedModel(script).start()
    use_model(monkeypatch, scripted)
    try:
        a1 = agent_module.ask("chat A first?", world.source_id, chat_id="chat-A", options=STRUCTURED,
                              database_url=world.url)
        a2 = agent_module.ask("chat A second?", world.source_id, chat_id="chat-A", options=STRUCTURED,
                              database_url=world.url)
        b1 = agent_module.ask("chat B first?", world.source_id, chat_id="chat-B", options=STRUCTURED,
                              database_url=world.url)
        done = {h.id: runs.wait(h.id, timeout=180, database_url=world.url) for h in (a1, a2, b1)}
    finally:
        scripted.stop()
    assert all(r.status is RunStatus.COMPLETED for r in done.values()), [r.error for r in done.values()]
    first_a, second_a, first_b = (done[h.id] for h in (a1, a2, b1))
    assert first_a.concurrency_key == "chat-A" and first_b.concurrency_key == "chat-B"
    # chat A: the second run's first model call comes after the first run's last one
    assert min(windows["chat A second?"]) >= max(windows["chat A first?"])
    # chat B ran beside chat A's first run (its first call before chat A's first run had finished)
    assert min(windows["chat B first?"]) < max(windows["chat A first?"]) or min(windows["chat B first?"]) < min(windows["chat A second?"])


# -- cancel while a warehouse query runs ----------------------------------------------------------------------------
from tests.tasks.introspect_fixtures import PgSource, pg_source  # noqa: E402,F401 - fixture


def _readers_of(pg: PgSource, view: str) -> list[int]:
    """pids of active sessions reading the view: the ones holding a lock on it (pg_stat_activity shows only the named
    cursor's FETCH, and other sessions share the connector's application_name)."""
    with pg.admin() as conn:
        rows = conn.execute(
            "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.relation = to_regclass(%s) AND l.pid <> pg_backend_pid() AND a.state = 'active'",
            [view],
        ).fetchall()
    return [int(r[0]) for r in rows]


def test_cancel_during_a_query_stops_the_query_on_the_server(world: AgentWorld, model: ScriptedModel,
                                                               pg_source: PgSource) -> None:
    source = sources.add_source("pg-cancel", pg_source.credentials(), database_url=world.url)
    introspected = runs.wait(tasks.trigger("introspect-data", {"data_source_id": source.id}, database_url=world.url).id,
                             timeout=120, database_url=world.url)
    assert introspected.status is RunStatus.COMPLETED, introspected.error
    view = f'"{pg_source.slow_schema}".slow_rows'  # every row waits 50 ms on the server: ~50 s in all
    model.add(structured({"todo": ["count"]}), structured({"sql": f"SELECT count(*) AS n FROM {view}"}))
    handle = agent_module.ask("How many slow rows are there?", source.id, options=STRUCTURED, database_url=world.url)
    deadline = time.monotonic() + 60
    while not _readers_of(pg_source, view):
        run = runs.retrieve(handle.id, database_url=world.url)
        assert time.monotonic() < deadline and not run.is_final, f"the query never started: {run.status} {run.error}"
        time.sleep(0.1)
    canceled_at = time.monotonic()
    runs.cancel(handle.id, database_url=world.url)
    while _readers_of(pg_source, view):
        assert time.monotonic() - canceled_at < 10, "the query kept running on the server after the cancel"
        time.sleep(0.1)
    run = runs.wait(handle.id, timeout=60, database_url=world.url)
    assert run.status is RunStatus.CANCELED
    assert time.monotonic() - canceled_at < 25  # well before the ~50 s query would have ended

"""What the analyst agent's task tests share: a runtime database with a worker, the demo warehouse registered and
introspected once per module, the scripted model wired in through the OPENAI_* variables, and script builders.

The worker runs in this process (as `taskpack ask` runs it); the scripted model is a real HTTP server on 127.0.0.1,
and the agent reaches it through the real `openai` client, exactly as it would reach a remote endpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest

from runtime import Run, RunStatus, Worker, runs, tasks
from runtime.backend import reset_backends
from store import sources
from tasks.analyst_agent import task as agent_module
from tests.tasks.analyst_agent.scripted_model import (
    SCRIPTED_MODEL_NAME,
    RecordedRequest,
    Reply,
    ScriptedModel,
    Step,
    wants_schema,
)

#: the demo question and the SQL that answers it on the demo warehouse (the data ends 2025-06-30: Q2 is "last quarter")
QUESTION = "Which marketing channel brought the most revenue last quarter?"
MAIN_SQL = (
    "SELECT channel, revenue FROM revenue_by_channel WHERE quarter = DATE '2025-04-01' ORDER BY revenue DESC LIMIT 1"
)
CHANNEL_SQL = (
    "SELECT channel, sum(revenue) AS revenue FROM revenue_by_channel WHERE quarter = DATE '2025-04-01' "
    "GROUP BY channel ORDER BY revenue DESC"
)


@dataclass
class AgentWorld:
    url: str
    worker: Worker
    source_id: str
    warehouse: Path

    def best_channel(self) -> tuple[str, float]:
        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            name, revenue = conn.execute(MAIN_SQL).fetchone()
        return name, float(revenue)


def build_world(tmp_path: Path, url: str | None = None, *, introspect: bool = True) -> Iterator[AgentWorld]:
    from demo import build_demo_warehouse, demo_credentials

    url = url or f"sqlite:///{tmp_path / 'taskpack.sqlite'}"
    warehouse = tmp_path / "demo.duckdb"
    build_demo_warehouse(warehouse)
    warehouse.chmod(0o444)
    worker = Worker(database_url=url, tasks=[agent_module], concurrency=4, heartbeat_interval=0.5, dead_worker_after=3)
    worker.start()
    try:
        source = sources.add_source("demo", demo_credentials(warehouse), profile=True, database_url=url)
        if introspect:
            handle = tasks.trigger("introspect-data", {"data_source_id": source.id, "profile": True}, database_url=url)
            run = runs.wait(handle.id, timeout=180, database_url=url)
            assert run.status is RunStatus.COMPLETED, run.error
        yield AgentWorld(url=url, worker=worker, source_id=source.id, warehouse=warehouse)
    finally:
        worker.stop()
        reset_backends()


def use_model(monkeypatch: pytest.MonkeyPatch, model: ScriptedModel) -> None:
    """Point the agent at the scripted model the way a user points it at any endpoint."""
    monkeypatch.setenv("OPENAI_BASE_URL", model.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-scripted-test-key-0000")
    monkeypatch.setenv("TASKPACK_MODEL", SCRIPTED_MODEL_NAME)


def ask_and_wait(world: AgentWorld, question: str = QUESTION, *, timeout: float = 120, chat_id: str | None = None,
                 options: dict[str, Any] | None = None, **trigger: Any) -> Run:
    """Run the agent to its end; the action loop is structured (what the offline model runs) unless `options` say
    otherwise."""
    handle = agent_module.ask(question, world.source_id, chat_id=chat_id,
                              options={"tool_mode": "structured", **(options or {})}, database_url=world.url, **trigger)
    return runs.wait(handle.id, timeout=timeout, database_url=world.url)


# -- script builders ------------------------------------------------------------------------------------------------
def structured(payload: dict[str, Any], **reply: Any) -> Reply:
    return Reply(content=json.dumps(payload), **reply)


def plan_step(*todo: str) -> Step:
    return Step(structured({"todo": list(todo) or ["Sum revenue by channel for 2025 Q2", "Save it as a metric"]}),
                expect=wants_schema("Plan"), name="plan")


def sql_step(sql: str = MAIN_SQL, **reply: Any) -> Step:
    return Step(structured({"sql": sql}, **reply), expect=wants_schema("SqlAnswer"), name="sql")


def action_step(action: dict[str, Any], expect: Any = None, name: str = "", **reply: Any) -> Step:
    checks = [wants_schema("AgentTurn")] + ([expect] if expect else [])
    return Step(structured({"step": action}, **reply), expect=lambda r: all(c(r) for c in checks), name=name or action["action"])


def final_step(answer: str, expect: Any = None) -> Step:
    checks = [wants_schema("FinalAnswer")] + ([expect] if expect else [])
    return Step(structured({"step": {"action": "done", "answer": answer}}), expect=lambda r: all(c(r) for c in checks),
                name="final")


def metric_action(sql: str | None = None, name: str = "Revenue by channel, 2025 Q2", chart_type: str = "bar",
                  x: str | None = "channel", y: list[str] | None = None) -> dict[str, Any]:
    return {"action": "create_metric", "name": name, "description": "Revenue per marketing channel in 2025 Q2.",
            "sql": sql, "chart_type": chart_type, "x": x, "y": y or ["revenue"],
            "time_frame": "2025-04-01 to 2025-06-30"}


def done_action(answer: str) -> dict[str, Any]:
    return {"action": "done", "answer": answer}


def last_user(request: RecordedRequest) -> str:
    return request.last_message("user")


def state_names(run: Run) -> list[str]:
    return [s["name"] for s in run.metadata.get("states", [])]

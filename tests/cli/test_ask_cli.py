"""`taskpack ask` as a user runs it: the installed command in a subprocess, in a fresh project folder after
`taskpack demo`, talking to the scripted model through the OPENAI_* variables (as it would talk to any endpoint)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.cli.test_demo_cli import ok, project, taskpack  # noqa: F401 - fixture
from tests.tasks.analyst_agent.agent_harness import CHANNEL_SQL, MAIN_SQL, done_action, metric_action, structured
from tests.tasks.analyst_agent.scripted_model import RecordedRequest, Reply, ScriptedModel

QUESTION = "Which marketing channel brought the most revenue last quarter?"
ANSWER = "Email brought the most revenue last quarter: 269,687.71 USD."


def agent_script(turns: list[dict[str, Any]]) -> Any:
    def answer(request: RecordedRequest) -> Reply:
        if request.schema_name == "Plan":
            return structured({"todo": ["Revenue per channel in 2025 Q2", "Save it as a metric"]})
        if request.schema_name == "SqlAnswer":
            return structured({"sql": MAIN_SQL})
        done = sum(1 for m in request.messages if m.get("role") == "assistant")
        return structured({"step": turns[min(done, len(turns) - 1)]})

    return answer


@pytest.fixture
def demo_project(project: Path) -> Iterator[Path]:
    ok(taskpack(project, "demo"))
    yield project


def model_env(model: ScriptedModel) -> dict[str, str]:
    return {"OPENAI_BASE_URL": model.base_url, "OPENAI_API_KEY": "sk-cli-test-0000", "TASKPACK_MODEL": "scripted-model"}


def test_ask_shows_the_states_then_the_answer_the_sql_and_the_metric(demo_project: Path) -> None:
    with ScriptedModel(agent_script([metric_action(CHANNEL_SQL), done_action(ANSWER)])) as model:
        done = taskpack(demo_project, "ask", QUESTION, "--source", "demo", "--tool-mode", "structured", env=model_env(model))
    out = ok(done)
    for state in ("initializing", "searching", "planning", "analyzing", "reviewing"):
        assert f"✓ {state}" in out, out
    assert "269,687.71" in out and "Email" in out
    assert "revenue_by_channel" in out  # the metric's SQL is printed
    assert "Revenue by channel, 2025 Q2" in out and "met_" in out
    assert "sk-cli-test-0000" not in done.stdout + done.stderr


def test_ask_json_prints_the_runs_output(demo_project: Path) -> None:
    with ScriptedModel(agent_script([done_action(ANSWER)])) as model:
        done = taskpack(demo_project, "ask", QUESTION, "--source", "demo", "--json", "--chat", "chat-cli",
                        "--tool-mode", "structured", env=model_env(model))
    data = json.loads(ok(done))
    assert data["answer"] == ANSWER and data["chat_id"] == "chat-cli" and data["run_id"].startswith("run_")
    assert [s["name"] for s in data["states"]][-1] == "completed"
    assert data["sql_queries"][0]["sql"] == MAIN_SQL


def test_ask_about_an_unknown_source_is_one_line_and_exit_2(demo_project: Path) -> None:
    done = taskpack(demo_project, "ask", QUESTION, "--source", "nope")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "nope" in done.stderr and "Traceback" not in done.stderr


def test_ask_when_the_model_refuses_the_key_exits_1_with_the_reason(demo_project: Path) -> None:
    from tests.tasks.analyst_agent.scripted_model import Error

    with ScriptedModel(lambda request: Error(401, "Incorrect API key provided: sk-cli-test-0000")) as model:
        done: subprocess.CompletedProcess[str] = taskpack(demo_project, "ask", QUESTION, "--source", "demo",
                                                          env=model_env(model))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ended FAILED" in done.stderr and "Traceback" not in done.stderr
    assert "sk-cli-test-0000" not in done.stdout + done.stderr

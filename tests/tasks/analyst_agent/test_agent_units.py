"""The agent's pieces on their own: the date context, structured actions turned into tool arguments, the payload at
the door, the tool-calling path against the scripted model, and a turn re-run after a crash storing nothing twice."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Iterator

import pytest
from pydantic import ValidationError

import connectors
from runtime import PayloadError, runs, tasks
from runtime.backend import reset_backends
from store import metrics
from tasks.analyst_agent import task as agent_module  # noqa: F401 - defines the task in this process
from tasks.analyst_agent.actions import AgentTurn, CreateMetric, ModifyMetric, tool_arguments
from tasks.analyst_agent.dates import date_context
from tasks.analyst_agent.interfaces import AgentOptions, AnalystInput
from tasks.analyst_agent.llm import ModelClient
from tasks.analyst_agent.llm.structured import response_format_for
from tasks.analyst_agent.memory import RunMemory
from tasks.analyst_agent.states import analyzing
from tasks.analyst_agent.tools import ToolEnv
from tests.tasks.analyst_agent.agent_harness import CHANNEL_SQL, metric_action, structured
from tests.tasks.analyst_agent.scripted_model import Reply, ScriptedModel, Step, offers_tool, tool_call


# -- dates ----------------------------------------------------------------------------------------------------------
def test_a_warehouse_whose_data_stopped_in_the_past_counts_periods_from_the_day_after_its_end() -> None:
    dates = date_context(date(2026, 12, 2), data_ends=date(2025, 6, 30))
    assert dates.as_of == date(2025, 7, 1) and "2025-06-30" in dates.reason
    periods = {p.name: (p.start, p.end) for p in dates.periods()}
    assert periods["last quarter"] == (date(2025, 4, 1), date(2025, 6, 30))
    assert periods["last month"] == (date(2025, 6, 1), date(2025, 6, 30))
    assert periods["last year"] == (date(2024, 1, 1), date(2024, 12, 31))
    assert "last quarter: >= '2025-04-01' and < '2025-07-01'" in dates.prompt_text()


def test_live_data_and_a_given_date_keep_their_own_today() -> None:
    assert date_context(date(2026, 2, 15), data_ends=date(2026, 2, 15)).as_of == date(2026, 2, 15)
    assert date_context(date(2026, 2, 15), data_ends=date(2026, 2, 14)).as_of == date(2026, 2, 15)
    given = date_context(date(2026, 2, 15), given=date(2024, 1, 10), data_ends=date(2025, 6, 30))
    assert given.as_of == date(2024, 1, 10)
    periods = {p.name: (p.start, p.end) for p in given.periods()}
    assert periods["last quarter"] == (date(2023, 10, 1), date(2023, 12, 31))  # across the year boundary


# -- actions --------------------------------------------------------------------------------------------------------
def test_the_action_schema_is_one_discriminated_object_the_local_server_can_compile() -> None:
    fmt = response_format_for(AgentTurn, "json_object_schema")
    text = json.dumps(fmt)
    assert fmt["type"] == "json_object" and "anyOf" in text
    for name in ("execute_sql", "create_metric", "modify_metric", "create_dashboard", "modify_dashboard",
                 "ask_clarifying_question", "done"):
        assert f'"{name}"' in text
    with pytest.raises(ValidationError):
        AgentTurn.model_validate({"step": {"action": "drop_table", "table": "x"}})


def test_a_metric_action_becomes_the_tools_arguments_with_a_chart_and_the_last_good_sql() -> None:
    action = CreateMetric.model_validate(metric_action(None))
    args = tool_arguments(action, "SELECT 1 AS revenue, 'x' AS channel")
    assert args["sql"] == "SELECT 1 AS revenue, 'x' AS channel"
    assert args["chart"] == {"type": "bar", "x": "channel", "y": ["revenue"]}
    number = CreateMetric.model_validate(metric_action("SELECT 1 AS n", chart_type="number", x="ignored", y=["n"]))
    assert tool_arguments(number, None)["chart"] == {"type": "number", "y": ["n"]}
    modify = ModifyMetric.model_validate({"action": "modify_metric", "metric_id": "met_1", "name": None,
                                          "description": None, "sql": "SELECT 2", "chart_type": None, "x": None,
                                          "y": None, "time_frame": None})
    assert tool_arguments(modify, "SELECT 1") == {"metric_id": "met_1", "sql": "SELECT 2"}  # null = keep


# -- the payload at the door ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "payload, field",
    [
        ({"question": "   ", "data_source_id": "src_1"}, "question"),
        ({"question": "x" * 4001, "data_source_id": "src_1"}, "question"),
        ({"question": "q", "data_source_id": ""}, "data_source_id"),
        ({"question": "q", "data_source_id": "src_1", "chat_id": "../../etc/passwd"}, "chat_id"),
        ({"question": "q", "data_source_id": "src_1", "chat_id": "a' OR 1=1 --"}, "chat_id"),
        ({"question": "q", "data_source_id": "src_1", "options": {"max_steps": 0}}, "max_steps"),
        ({"question": "q", "data_source_id": "src_1", "options": {"max_rows": 10**9}}, "max_rows"),
        ({"question": "q", "data_source_id": "src_1", "options": {"tool_mode": "free"}}, "tool_mode"),
        ({"question": "q", "data_source_id": "src_1", "options": {"api_key": "sk-x"}}, "api_key"),
        ({"question": "q", "data_source_id": "src_1", "history": [{"question": "q"}] * 51}, "history"),
    ],
)
def test_bad_input_is_refused_at_trigger_naming_the_field(payload: dict, field: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        AnalystInput.model_validate(payload)
    assert field in str(caught.value)
    with pytest.raises(PayloadError) as refused:
        tasks.trigger("analyst-agent", payload, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert field in str(refused.value) and "sk-x" not in str(refused.value)
    reset_backends()


def test_a_run_triggered_without_a_concurrency_key_still_gets_its_chat_as_key(tmp_path: Path) -> None:
    """An HTTP client that forgets `concurrencyKey` must not put every chat in one lane: the analyst queue takes the
    key from the payload's chat_id (Queue.concurrency_key_from); `ask()` passes it explicitly, which stays the same."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    try:
        handle = tasks.trigger("analyst-agent", {"question": "q?", "data_source_id": "src_1", "chat_id": "chat_42"}, database_url=url)
        run = runs.retrieve(handle.id, database_url=url)
        assert run.concurrency_key == "chat_42"
        asked = agent_module.ask("q?", "src_1", chat_id="chat_43", database_url=url)
        assert runs.retrieve(asked.id, database_url=url).concurrency_key == "chat_43"
    finally:
        reset_backends()


# -- a turn on a real warehouse and store, outside a worker ---------------------------------------------------------
@pytest.fixture
def env(tmp_path: Path) -> Iterator[ToolEnv]:
    from demo import build_demo_warehouse, demo_credentials

    warehouse = tmp_path / "demo.duckdb"
    build_demo_warehouse(warehouse)
    conn = connectors.connect(connectors.parse_credentials(demo_credentials(warehouse)))
    try:
        yield ToolEnv(connector=conn, data_source_id="src_unit", run_id="run_unit", database_url=f"sqlite:///{tmp_path / 's.sqlite'}")
    finally:
        conn.close()
        reset_backends()


def memory_for(question: str = "Revenue by channel?") -> RunMemory:
    return RunMemory(run_id="run_unit", question=question, data_source_id="src_unit", dialect="duckdb",
                     schema_text="revenue_by_channel(quarter date, channel text, revenue decimal)")


def test_a_turn_run_again_after_a_crash_returns_the_metric_its_first_run_stored(env: ToolEnv) -> None:
    """The crash window: the metric is stored, the step is not recorded yet; the resumed run repeats the turn with
    the same memory, so the same tool call id, and gets the stored row back."""
    with ScriptedModel([structured({"step": metric_action(CHANNEL_SQL)})] * 2) as model:
        client = ModelClient(model.endpoint())
        before = memory_for()
        first = analyzing.take_turn(before.model_copy(deep=True), env, client, AgentOptions(), tools=False)
        again = analyzing.take_turn(before.model_copy(deep=True), env, client, AgentOptions(), tools=False)
        model.assert_done()
    assert first.metrics[0].id == again.metrics[0].id
    assert len(metrics.list_metrics(run_id="run_unit", database_url=env.database_url)) == 1
    assert again.tool_calls[0].id == first.tool_calls[0].id == "analyzing-1"


def test_the_tool_calling_path_runs_the_endpoints_tool_calls_and_answers_with_done(env: ToolEnv) -> None:
    script = [
        Step(Reply(tool_calls=[tool_call("execute_sql", {"sql": CHANNEL_SQL}, "call_a")]), expect=offers_tool("create_metric")),
        Step(Reply(tool_calls=[tool_call("done", {"answer": "Email leads."}, "call_b")]),
             expect=lambda r: r.messages[-1]["role"] == "tool" and r.messages[-1]["tool_call_id"] == "call_a"
             and "revenue" in r.messages[-1]["content"]),
    ]
    with ScriptedModel(script) as model:
        client = ModelClient(model.endpoint())
        memory = memory_for()
        memory = analyzing.take_turn(memory, env, client, AgentOptions(), tools=True)
        assert not analyzing.finished(memory) and memory.last_good_sql == CHANNEL_SQL
        memory = analyzing.take_turn(memory, env, client, AgentOptions(), tools=True)
        model.assert_done()
    assert memory.answer == "Email leads." and [c.name for c in memory.tool_calls] == ["execute_sql", "done"]


def test_a_plain_text_reply_on_the_tool_path_is_the_answer(env: ToolEnv) -> None:
    with ScriptedModel([Reply(content="Email brought the most.")]) as model:
        memory = analyzing.take_turn(memory_for(), env, ModelClient(model.endpoint()), AgentOptions(), tools=True)
    assert memory.answer == "Email brought the most."


def test_tool_mode_auto_is_structured_for_the_offline_model_and_tools_for_a_remote_one() -> None:
    assert analyzing.uses_tools(AgentOptions(), local=False) is True
    assert analyzing.uses_tools(AgentOptions(), local=True) is False
    assert analyzing.uses_tools(AgentOptions(tool_mode="tools"), local=True) is True
    assert analyzing.uses_tools(AgentOptions(tool_mode="structured"), local=False) is False


def test_a_failing_query_sent_again_is_not_run_again_and_counts_as_a_failure(env: ToolEnv) -> None:
    broken = {"action": "execute_sql", "sql": "SELECT nope FROM orders"}
    resent = {"action": "execute_sql", "sql": "select  nope from ORDERS;"}
    with ScriptedModel([structured({"step": broken}), structured({"step": resent})]) as model:
        client = ModelClient(model.endpoint())
        memory = analyzing.take_turn(memory_for(), env, client, AgentOptions(), tools=False)
        memory = analyzing.take_turn(memory, env, client, AgentOptions(), tools=False)
    assert len(memory.queries) == 1  # the warehouse saw it once
    assert memory.failing_sql_streak == 2
    assert "this exact query already failed" in memory.conversation[-1]["content"]
    assert analyzing.must_stop(memory, AgentOptions(max_sql_repairs=1)) is not None


def test_a_metric_chart_on_a_known_query_gets_the_real_column_names_or_becomes_a_table() -> None:
    sql = "SELECT channel, revenue FROM revenue_by_channel"
    known = {sql.lower(): ["channel", "revenue"]}
    cased = CreateMetric.model_validate(metric_action(sql, x="Channel", y=["Revenue"]))
    assert tool_arguments(cased, None, known)["chart"] == {"type": "bar", "x": "channel", "y": ["revenue"]}
    wrong = CreateMetric.model_validate(metric_action(sql, x="channel", y=["total_sales"]))
    assert tool_arguments(wrong, None, known)["chart"] == {"type": "table", "y": []}
    unknown = CreateMetric.model_validate(metric_action("SELECT 1 AS n", x="a", y=["b"]))
    assert tool_arguments(unknown, None, known)["chart"] == {"type": "bar", "x": "a", "y": ["b"]}  # the tool decides


def test_a_query_that_already_ran_is_not_run_again_and_the_next_turn_may_not_query(env: ToolEnv) -> None:
    query = {"action": "execute_sql", "sql": CHANNEL_SQL}
    script = [
        Step(structured({"step": query})),
        Step(structured({"step": query})),
        Step(structured({"step": {"action": "done", "answer": "Email."}}),
             expect=lambda r: r.schema_name == "AgentTurnNoQuery"
             and '"const": "execute_sql"' not in json.dumps(r.body["response_format"])),
    ]
    with ScriptedModel(script) as model:
        client = ModelClient(model.endpoint())
        memory = memory_for()
        for _ in range(3):
            memory = analyzing.take_turn(memory, env, client, AgentOptions(), tools=False)
        model.assert_done()
    assert len(memory.queries) == 1 and memory.answer == "Email."
    assert "this query already ran; its result:" in memory.conversation[3]["content"]

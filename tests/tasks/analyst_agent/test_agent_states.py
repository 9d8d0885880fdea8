"""`analyst-agent` end to end with the scripted model: every state and transition, on the demo warehouse (DuckDB)
registered in a real runtime database, a real in-process worker, the real `openai` client over a real socket.

One world per module (building and introspecting the warehouse takes seconds); each test triggers its own run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from runtime import RunStatus, runs
from store import chats, metrics
from tests.tasks.analyst_agent.agent_harness import (
    CHANNEL_SQL,
    MAIN_SQL,
    QUESTION,
    AgentWorld,
    action_step,
    ask_and_wait,
    build_world,
    done_action,
    final_step,
    last_user,
    metric_action,
    plan_step,
    sql_step,
    state_names,
    structured,
    use_model,
)
from tests.tasks.analyst_agent.scripted_model import Error, Reply, ScriptedModel, Step, wants_schema

STATES = ["initializing", "searching", "planning", "analyzing", "reviewing", "completed"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentWorld]:
    yield from build_world(tmp_path_factory.mktemp("agent-world"))


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedModel]:
    scripted = ScriptedModel().start()
    use_model(monkeypatch, scripted)
    try:
        yield scripted
    finally:
        scripted.stop()


def answer_for(world: AgentWorld) -> str:
    name, revenue = world.best_channel()
    return f"{name} brought the most revenue last quarter: {revenue:,.2f} USD."


# -- the whole way through ------------------------------------------------------------------------------------------
def test_a_question_goes_through_every_state_and_ends_with_a_reviewed_answer_and_a_stored_metric(
    world: AgentWorld, model: ScriptedModel
) -> None:
    answer = answer_for(world)
    model.add(
        plan_step(),
        sql_step(),
        action_step(metric_action(CHANNEL_SQL), expect=lambda r: MAIN_SQL in json.dumps(r.messages)),
        action_step(done_action(answer), expect=lambda r: "saved metric met_" in last_user(r)),
    )
    run = ask_and_wait(world, chat_id="chat-happy")
    assert run.status is RunStatus.COMPLETED, run.error
    model.assert_done()
    out = run.output
    assert out["answer"] == answer and out["clarifying_question"] is None
    assert [s["name"] for s in out["states"]] == STATES
    assert state_names(run) == STATES and run.metadata["state"] == "completed"
    assert all(s["finished_at"] for s in out["states"]), out["states"]
    # searching chose the view that answers it and said why; the dates count from the end of the data
    assert "revenue_by_channel" in out["tables"]
    assert any(t["reasons"] for t in run.metadata["tables"])
    assert run.metadata["dates"]["as_of"] == "2025-07-01" and run.metadata["dates"]["data_ends"] == "2025-06-30"
    assert "last quarter: >= '2025-04-01' and < '2025-07-01'" in model.requests[0].messages[0]["content"]
    # the plan is shown and ticked off
    assert [t["done"] for t in run.metadata["plan"]] == [True, True]
    # one metric, stored once, with the executed SQL and its rows
    (metric,) = out["metrics"]
    stored = metrics.get_metric(metric["id"], database_url=world.url)
    assert stored.sql == CHANNEL_SQL and stored.run_id == run.id and stored.version == 1
    assert metric["chart"]["type"] == "bar" and metric["row_count"] >= 5 and metric["rows"][0][0] in answer
    assert len(metrics.list_metrics(run_id=run.id, database_url=world.url)) == 1
    # every query and tool call is recorded; usage counts every model call
    assert [q["purpose"] for q in out["sql_queries"]] == ["main", "metric"]
    assert [c["name"] for c in run.metadata["tool_calls"]] == ["create_metric", "done"]
    assert out["usage"]["model_calls"] == len(model.requests) == 4
    assert out["usage"]["prompt_tokens"] == 4 * 11 and run.metadata["usage"] == out["usage"]
    assert out["review"]["problems"] == [] and out["review"]["first"]["metrics"][0]["ok"] is True
    # the chat keeps the turn
    (turn,) = chats.history("chat-happy", database_url=world.url)
    assert turn.run_id == run.id and turn.answer == answer and turn.metric_ids == [metric["id"]]


def test_a_follow_up_in_the_same_chat_sees_the_earlier_turn(world: AgentWorld, model: ScriptedModel) -> None:
    answer = answer_for(world)
    model.add(plan_step(), sql_step(), action_step(done_action(answer)))
    first = ask_and_wait(world, chat_id="chat-follow")
    assert first.status is RunStatus.COMPLETED, first.error
    model.add(
        Step(plan_step().respond, expect=lambda r: f"You answered: {answer}" in last_user(r), name="plan-2"),
        sql_step(CHANNEL_SQL),
        action_step(done_action(answer)),
    )
    second = ask_and_wait(world, "And the other channels?", chat_id="chat-follow")
    assert second.status is RunStatus.COMPLETED, second.error
    model.assert_done()
    assert [t.question for t in chats.history("chat-follow", database_url=world.url)] == [QUESTION, "And the other channels?"]


# -- analyzing ------------------------------------------------------------------------------------------------------
def test_an_sql_error_goes_back_to_the_model_verbatim_and_the_corrected_query_is_used(
    world: AgentWorld, model: ScriptedModel
) -> None:
    bad = "SELECT channel, sum(amount) FROM revenue_by_channel GROUP BY channel"
    seen: dict[str, str] = {}

    def shows_error(request) -> bool:
        seen["text"] = last_user(request)
        return "execute_sql result:\nERROR" in seen["text"] and '"amount"' in seen["text"]

    model.add(
        plan_step(),
        sql_step(),
        action_step({"action": "execute_sql", "sql": bad}, name="bad-sql"),
        action_step({"action": "execute_sql", "sql": CHANNEL_SQL}, expect=shows_error, name="fixed-sql"),
        action_step(metric_action(None), expect=lambda r: "rows" in last_user(r)),
        action_step(done_action(answer_for(world))),
    )
    run = ask_and_wait(world)
    assert run.status is RunStatus.COMPLETED, run.error
    model.assert_done()
    queries = run.output["sql_queries"]
    assert [(q["purpose"], q["ok"]) for q in queries] == [("main", True), ("explore", False), ("explore", True), ("metric", True)]
    assert queries[1]["error"] in seen["text"]  # the warehouse's words, not a paraphrase
    # a metric without SQL takes the last query that returned rows
    assert run.output["metrics"][0]["sql"] == CHANNEL_SQL


def test_a_write_is_refused_by_the_guard_and_the_refusal_is_shown_to_the_model(world: AgentWorld, model: ScriptedModel) -> None:
    model.add(
        plan_step(),
        sql_step(),
        action_step({"action": "execute_sql", "sql": "DELETE FROM orders"}, name="delete"),
        action_step(done_action(answer_for(world)),
                    expect=lambda r: "refused by the read-only guard, nothing ran" in last_user(r)),
    )
    run = ask_and_wait(world)
    assert run.status is RunStatus.COMPLETED, run.error
    model.assert_done()
    refused = run.output["sql_queries"][1]
    assert refused["ok"] is False and refused["sql"] == "DELETE FROM orders"
    assert world.best_channel()  # the warehouse is untouched (read-only file and guard)


def test_the_step_limit_forces_an_answer(world: AgentWorld, model: ScriptedModel) -> None:
    explore = {"action": "execute_sql", "sql": "SELECT count(*) AS n FROM orders"}
    model.add(plan_step(), sql_step(), action_step(explore), action_step(explore),
              final_step(answer_for(world), expect=lambda r: "You have used all 2 steps" in last_user(r)))
    run = ask_and_wait(world, options={"max_steps": 2})
    assert run.status is RunStatus.COMPLETED, run.error
    model.assert_done()
    assert run.metadata["step_limit_reached"] is True and run.metadata["steps_taken"] == 3
    assert run.output["answer"] == answer_for(world)
    assert "step limit reached" in run.output["states"][3]["summary"]


def test_repeated_failing_queries_stop_the_loop(world: AgentWorld, model: ScriptedModel) -> None:
    broken = {"action": "execute_sql", "sql": "SELECT nope FROM orders"}
    model.add(plan_step(), sql_step(), action_step(broken), action_step(broken),
              final_step("I could not compute it.", expect=lambda r: "2 queries in a row failed" in last_user(r)))
    run = ask_and_wait(world, options={"max_sql_repairs": 1})
    assert run.status is RunStatus.COMPLETED, run.error
    model.assert_done()
    assert run.output["answer"].startswith("I could not compute it.")


def test_a_clarifying_question_ends_the_run_and_is_kept_in_the_chat(world: AgentWorld, model: ScriptedModel) -> None:
    asked = "Do you mean revenue before or after refunds?"
    model.add(plan_step(), sql_step(), action_step({"action": "ask_clarifying_question", "question": asked}))
    run = ask_and_wait(world, "What is our revenue?", chat_id="chat-clarify")
    assert run.status is RunStatus.COMPLETED, run.error
    model.assert_done()
    assert run.output["clarifying_question"] == asked and run.output["answer"] == asked
    assert [s["name"] for s in run.output["states"]] == ["initializing", "searching", "planning", "analyzing", "completed"]
    (turn,) = chats.history("chat-clarify", database_url=world.url)
    assert turn.clarifying_question == asked and turn.answer is None


# -- reviewing ------------------------------------------------------------------------------------------------------
def test_reviewing_catches_a_metric_without_rows_and_an_invented_number_and_one_repair_round_fixes_them(
    world: AgentWorld, model: ScriptedModel
) -> None:
    empty_sql = "SELECT channel, revenue FROM revenue_by_channel WHERE quarter = DATE '2031-01-01'"
    wrong = "Paid Search brought 999,999,999 USD."
    right = answer_for(world)
    model.add(
        plan_step(),
        sql_step(),
        action_step(metric_action(empty_sql)),
        action_step(done_action(wrong)),
        Step(
            structured(
                {"step": {"action": "modify_metric", "metric_id": "__ID__", "name": None, "description": None,
                          "sql": CHANNEL_SQL, "chart_type": None, "x": None, "y": None, "time_frame": None}}
            ),
            expect=lambda r: "A review of your work found problems" in last_user(r) and "returns no rows" in last_user(r)
            and "999,999,999" in last_user(r),
            name="repair",
        ),
        action_step(done_action(right)),
    )
    # the repair turn must name the metric the run created: patch the scripted reply once the id is known
    original = model._choose

    def choose(request):
        response = original(request)
        body = getattr(response, "content", None)
        if body and "__ID__" in body:
            (metric,) = metrics.list_metrics(run_id=request_run_id(), database_url=world.url)
            response.content = body.replace("__ID__", metric.id)
        return response

    run_ids: list[str] = []

    def request_run_id() -> str:
        return run_ids[0]

    model._choose = choose  # type: ignore[method-assign]
    from tasks.analyst_agent import task as agent_module

    handle = agent_module.ask(QUESTION, world.source_id, options={"tool_mode": "structured"}, database_url=world.url)
    run_ids.append(handle.id)
    run = runs.wait(handle.id, timeout=120, database_url=world.url)
    assert run.status is RunStatus.COMPLETED, run.error
    model.assert_done()
    out = run.output
    assert [s["name"] for s in out["states"]] == [
        "initializing", "searching", "planning", "analyzing", "reviewing", "analyzing", "reviewing", "completed"]
    assert len(out["review"]["first"]["problems"]) == 2 and out["review"]["final"]["problems"] == []
    assert out["answer"] == right and out["review"]["previous_answer"] == wrong
    (metric,) = out["metrics"]
    assert metric["version"] == 2 and metric["sql"] == CHANNEL_SQL
    assert [m.version for m in metrics.metric_versions_of(metric["id"], database_url=world.url)] == [1, 2]


# -- the model misbehaving -------------------------------------------------------------------------------------------
def test_transient_model_errors_are_retried_inside_the_step(world: AgentWorld, model: ScriptedModel) -> None:
    model.add(
        Error(503, "overloaded"),
        Error(429, "slow down", headers={"Retry-After": "0"}),
        plan_step(),
        sql_step(),
        action_step(done_action(answer_for(world))),
    )
    run = ask_and_wait(world)
    assert run.status is RunStatus.COMPLETED, run.error
    model.assert_done()
    assert run.output["usage"]["model_calls"] == 3 and len(model.requests) == 5


def test_an_endpoint_that_refuses_the_key_fails_the_run_with_a_typed_error_and_no_key_in_it(
    world: AgentWorld, model: ScriptedModel
) -> None:
    model.add(Error(401, "Incorrect API key provided: sk-scripted-test-key-0000"))
    run = ask_and_wait(world)
    assert run.status is RunStatus.FAILED
    assert run.error.type == "ModelAuthError" and run.error.code == "model_auth_failed"
    assert "sk-scripted" not in json.dumps(run.model_dump(mode="json"), default=str)
    assert run.metadata["state"] == "failed" and state_names(run)[-2:] == ["planning", "failed"]


def test_a_reply_that_breaks_the_action_schema_is_asked_again(world: AgentWorld, model: ScriptedModel) -> None:
    model.add(
        plan_step(),
        sql_step(),
        Step(Reply(
            content='{"step": {"action": "drop_table", "table": "orders"}}'), expect=wants_schema("AgentTurn")),
        action_step(done_action(answer_for(world)), expect=lambda r: "That reply was invalid" in last_user(r)),
    )
    run = ask_and_wait(world)
    assert run.status is RunStatus.COMPLETED, run.error
    model.assert_done()


# -- input at the door ----------------------------------------------------------------------------------------------
def test_an_unknown_source_fails_at_once_with_a_message_for_the_user(world: AgentWorld, model: ScriptedModel) -> None:
    from tasks.analyst_agent import task as agent_module

    handle = agent_module.ask(QUESTION, "src_does_not_exist", database_url=world.url)
    run = runs.wait(handle.id, timeout=60, database_url=world.url)
    assert run.status is RunStatus.FAILED and run.error.code == "source_not_found"
    assert "is not registered" in run.error.message
    assert model.requests == []

"""`write_sql` against the scripted model (a real OpenAI-format HTTP server) and a real SQLite database (pets_1):
the first answer, execution-guided repair with hints, redraw when the model repeats itself, empty results, voting
only when doubtful, and model failures."""

from __future__ import annotations

import json
import pytest

from bench.agent_eval_data import DEFAULT_DATASET, load_dataset
from bench.agent_eval_sql import sqlite_executor
from tasks.analyst_agent.llm import ModelAuthError, ModelClient
from tasks.analyst_agent.llm.backoff import RetryPolicy
from tasks.analyst_agent.search import TableKey
from tasks.analyst_agent.sqlgen import ExecResult, SqlContext, build_context, write_sql
from tests.tasks.analyst_agent.scripted_model import Error, Reply, ScriptedModel, Step, last_user_contains

PETS = DEFAULT_DATASET / "sqlite" / "pets_1.sqlite"


def answer(sql: str) -> Reply:
    return Reply(content=json.dumps({"sql": sql}))


@pytest.fixture(scope="module")
def pets():  # type: ignore[no-untyped-def]
    return load_dataset(DEFAULT_DATASET, None, databases=["pets_1"])


def context(pets, question: str, tables=("Student", "Has_Pet", "Pets")) -> SqlContext:  # type: ignore[no-untyped-def]
    keys = [TableKey("pets_1", "main", t) for t in tables]
    return build_context(question, "sqlite", pets.catalog, keys, pets.profiles, pets.values)


def client(model: ScriptedModel) -> ModelClient:
    return ModelClient(model.endpoint(), retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01))


def test_a_first_answer_that_executes_costs_one_call(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    scripted_model.add(Step(answer("SELECT count(*) FROM Pets WHERE PetType = 'dog'"), expect=last_user_contains("dog")))
    ctx = context(pets, "How many dogs are there?")
    with client(scripted_model) as model:
        out = write_sql(model, ctx, sqlite_executor(PETS))
    scripted_model.assert_done()
    assert out.ok and out.sql == "SELECT count(*) FROM Pets WHERE PetType = 'dog'"
    assert out.rows == [(2,)] and out.row_count == 1 and out.columns == ["count(*)"]
    assert [a.kind for a in out.attempts] == ["first"] and out.model_calls == 1 and not out.voted
    body = scripted_model.requests[0].body
    assert body["temperature"] == 0.0 and body["response_format"]["json_schema"]["name"] == "SqlAnswer"
    prompt = scripted_model.requests[0].last_message()
    assert prompt.index("Schema:") < prompt.index("Question: How many dogs are there?")  # stable part first
    assert "'dog' is a value of Pets.PetType" in prompt  # the literal linked to its column
    assert out.usage.prompt_tokens == 11 and out.usage.completion_tokens == 7


def test_an_sql_error_goes_back_verbatim_with_a_hint_and_the_repair_is_kept(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    wrong = "SELECT PetType FROM Student"
    scripted_model.add(
        answer(wrong),
        Step(
            answer("SELECT DISTINCT PetType FROM Pets"),
            expect=lambda r: "no such column: PetType" in r.last_message()
            and "PetType is a column of Pets: join Pets" in r.last_message()
            and wrong in r.last_message(),
        ),
    )
    with client(scripted_model) as model:
        out = write_sql(model, context(pets, "Which pet types are there?"), sqlite_executor(PETS))
    scripted_model.assert_done()
    assert out.ok and out.sql == "SELECT DISTINCT PetType FROM Pets" and sorted(out.rows) == [("cat",), ("dog",)]
    assert [(a.kind, a.error) for a in out.attempts] == [("first", "no such column: PetType"), ("repair", None)]
    assert out.attempts[1].hints and out.model_calls == 2
    assert scripted_model.requests[1].body["temperature"] == 0.0


def test_a_repeated_failing_query_is_redrawn_at_a_higher_temperature(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    wrong = "SELECT nme FROM Student"
    scripted_model.add(answer(wrong), answer(wrong + ";"), answer("SELECT Fname FROM Student LIMIT 1"))
    with client(scripted_model) as model:
        out = write_sql(model, context(pets, "Name one student."), sqlite_executor(PETS), vote_when_doubtful=False)
    scripted_model.assert_done()
    temperatures = [r.body["temperature"] for r in scripted_model.requests]
    assert temperatures == [0.0, 0.0, 0.8]
    assert [a.kind for a in out.attempts] == ["first", "redraw"] and out.ok and out.rows == [("Linda",)]


def test_an_empty_result_with_a_literal_not_in_the_data_is_repaired(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    scripted_model.add(
        answer("SELECT count(*) FROM Pets WHERE PetType = 'Dogs' GROUP BY PetType"),
        Step(
            answer("SELECT count(*) FROM Pets WHERE PetType = 'dog' GROUP BY PetType"),
            expect=lambda r: "It returned no rows." in r.last_message()
            and "'Dogs' does not occur in Pets.PetType; it is stored as 'dog'" in r.last_message(),
        ),
    )
    with client(scripted_model) as model:
        out = write_sql(model, context(pets, "How many Dogs?"), sqlite_executor(PETS))
    scripted_model.assert_done()
    assert out.rows == [(2,)] and [a.kind for a in out.attempts] == ["first", "repair"]


def test_an_empty_result_whose_literals_all_occur_is_accepted(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT PetID FROM Pets WHERE PetType = 'cat' AND pet_age > 100"
    scripted_model.add(answer(sql))
    with client(scripted_model) as model:
        out = write_sql(model, context(pets, "Which cats are older than 100?"), sqlite_executor(PETS))
    scripted_model.assert_done()  # no repair, no vote: the empty answer may be right
    assert out.ok and out.sql == sql and out.rows == [] and out.row_count == 0 and out.model_calls == 1


def test_a_high_cardinality_literal_is_probed_in_the_warehouse(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    """LName has too many values to be indexed: the hint comes from asking the database (case-insensitive)."""
    seen: list[str] = []

    def execute(sql: str) -> ExecResult:
        seen.append(sql)
        return sqlite_executor(PETS)(sql)

    scripted_model.add(
        answer("SELECT Age FROM Student WHERE LName = 'SMITH'"),
        Step(answer("SELECT Age FROM Student WHERE LName = 'Smith'"), expect=last_user_contains("stored as 'Smith'")),
    )
    keys = [TableKey("pets_1", "main", "Student")]
    ctx = build_context("How old is SMITH?", "sqlite", pets.catalog, keys, pets.profiles, values=())
    with client(scripted_model) as model:
        out = write_sql(model, ctx, execute)
    scripted_model.assert_done()
    assert sorted(out.rows) == [(18,), (20,)]  # two students named Smith
    assert any("LOWER" in s.upper() and "%smith%" in s for s in seen)


def test_a_query_still_failing_after_the_repairs_is_settled_by_a_vote(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    scripted_model.add(
        answer("SELECT x FROM Pets"),
        answer("SELECT y FROM Pets"),
        answer("SELECT z FROM Pets"),
        answer("SELECT count(*) FROM Pets"),  # vote samples: two agree on 3, one says 2, one fails
        answer("SELECT count(*) FROM Pets WHERE PetType = 'dog'"),
        answer("SELECT count(PetID) FROM Pets"),
        answer("SELECT w FROM Pets"),
    )
    with client(scripted_model) as model:
        out = write_sql(model, context(pets, "How many pets?"), sqlite_executor(PETS), max_repairs=2, vote_when_doubtful=True, vote_samples=4)
    scripted_model.assert_done()
    assert out.voted and out.ok and out.rows == [(3,)] and out.sql == "SELECT count(*) FROM Pets"
    assert [a.kind for a in out.attempts] == ["first", "repair", "repair"] and len(out.candidates) == 4
    assert [r.body["temperature"] for r in scripted_model.requests[3:]] == [0.7] * 4
    assert len({r.body["seed"] for r in scripted_model.requests[3:]}) == 4  # different samples
    assert out.model_calls == 7


def test_without_voting_a_query_that_never_executes_is_an_error_not_an_exception(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    scripted_model.add(answer("DELETE FROM Pets"), answer("DROP TABLE Pets"))
    with client(scripted_model) as model:
        out = write_sql(model, context(pets, "Remove the pets"), sqlite_executor(PETS), max_repairs=1, vote_when_doubtful=False)
    scripted_model.assert_done()
    assert out.sql is None and not out.ok and out.error == out.attempts[-1].error  # the last refusal, verbatim
    assert out.attempts[-1].sql == "DROP TABLE Pets" and "only read-only queries may run" in out.error
    assert [a.kind for a in out.attempts] == ["first", "repair"] and "not allowed: DELETE" in (out.attempts[0].error or "")
    assert "DELETE" in scripted_model.requests[1].last_message()  # the refusal was shown to the model
    assert pets.catalog is not None and sqlite_executor(PETS)("SELECT count(*) FROM Pets").rows == [(3,)]


def test_replies_that_never_fit_the_schema_end_as_an_outcome_error(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    scripted_model.add(Reply(content="SELECT 1"), Reply(content="sure! SELECT 1"))  # the first answer and its re-ask
    with client(scripted_model) as model:
        out = write_sql(model, context(pets, "One?"), sqlite_executor(PETS), vote_when_doubtful=False)
    scripted_model.assert_done()
    assert out.sql is None and out.error == "the model wrote no query" and out.attempts == []


def test_model_failures_that_are_not_about_the_reply_propagate(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    scripted_model.add(Error(401, "bad key", code="invalid_api_key"))
    with client(scripted_model) as model, pytest.raises(ModelAuthError):
        write_sql(model, context(pets, "How many pets?"), sqlite_executor(PETS))


def test_bad_arguments_are_refused(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    with client(scripted_model) as model, pytest.raises(ValueError, match="must not be negative"):
        write_sql(model, context(pets, "x?"), sqlite_executor(PETS), max_repairs=-1)


def test_an_executor_failure_the_model_cannot_fix_ends_writing_at_once(scripted_model: ScriptedModel, pets) -> None:  # type: ignore[no-untyped-def]
    """A raised error (here: the warehouse unreachable) is not shown to the model as SQL to repair."""
    scripted_model.add(Step(answer("SELECT count(*) FROM Pets")))
    calls = []

    def unreachable(sql: str) -> ExecResult:
        calls.append(sql)
        raise ConnectionError("warehouse unreachable after 3 tries")

    with client(scripted_model) as model, pytest.raises(ConnectionError, match="unreachable"):
        write_sql(model, context(pets, "How many pets?"), unreachable, max_repairs=2)
    scripted_model.assert_done()  # one model call: no repair round was spent
    assert calls == ["SELECT count(*) FROM Pets"]

"""`bench/agent_eval.py` with a model: execution accuracy of the agent's SQL and of the single-prompt baseline, on
spider-dev SQLite files, driven here by the scripted model; and the read-only executor it measures through."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from bench import agent_eval
from bench.agent_eval_data import DEFAULT_DATASET, read_questions
from bench.agent_eval_sql import gold_orders, sqlite_executor, whole_schema_ddl
from tasks.analyst_agent.llm import ModelClient
from tests.tasks.analyst_agent.scripted_model import RecordedRequest, Reply, ScriptedModel

PETS = DEFAULT_DATASET / "sqlite" / "pets_1.sqlite"
BENCH_KEYS = {
    "ex",
    "baseline_ex",
    "recall_at_5",
    "model_calls_per_question",
    "s_per_question",
    "baseline_s_per_question",
    "overhead_ms_per_question",
}


def gold_answering_model(wrong_baseline: bool) -> ScriptedModel:
    """Answers each question with its gold SQL (the baseline, recognised by its CREATE TABLE schema, with a wrong
    query when asked to), so the expected EX of each side is known."""
    gold = {q.question: q.sql for q in read_questions(DEFAULT_DATASET / "questions.csv", ["pets_1"])}

    def respond(request: RecordedRequest) -> Reply:
        prompt = request.last_message()
        question = re.search(r"^Question: (.*)$", prompt, re.M)
        assert question is not None, prompt
        baseline = "CREATE TABLE" in prompt
        sql = "SELECT 'wrong'" if baseline and wrong_baseline else gold[question.group(1)]
        return Reply(content=json.dumps({"sql": sql}), prompt_tokens=300 if baseline else 100)

    return ScriptedModel(respond)


def test_model_mode_scores_the_agent_and_the_baseline_in_one_run(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    details = tmp_path / "details.jsonl"
    args = agent_eval.parse_args(
        ["--databases", "pets_1", "--limit", "5", "--seed", "3", "--no-embeddings", "--details", str(details), "--quiet"]
    )
    with gold_answering_model(wrong_baseline=True) as model, ModelClient(model.endpoint()) as client:
        result = agent_eval.main_with_model(args, model=client)
    out = capsys.readouterr().out
    assert BENCH_KEYS <= set(result)
    assert result["ex"] == 1.0 and result["baseline_ex"] == 0.0 and result["first_answer_ex"] == 1.0
    assert result["model_calls_per_question"] == 1.0 and result["questions"] == 5
    assert result["recall_at_5"] == 1.0  # pets_1 has three tables
    assert result["prompt_tokens_per_question"] == 100 and result["baseline_prompt_tokens_per_question"] == 300
    assert 0 < result["overhead_ms_per_question"] < 5000
    last = out.strip().splitlines()[-1]
    assert last.startswith("BENCH ") and json.loads(last.removeprefix("BENCH ")) == result
    assert "baseline: whole schema as CREATE TABLE" in out and "agent first answer" in out
    rows = [json.loads(line) for line in details.read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["baseline"] * 5 + ["agent"] * 5  # grouped: the baseline's prefix is reused
    assert all(r["correct"] for r in rows if r["kind"] == "agent")
    assert all(not r["correct"] for r in rows if r["kind"] == "baseline")
    # the same seeded sample as the search mode's
    picked = agent_eval.pick_questions(read_questions(DEFAULT_DATASET / "questions.csv", ["pets_1"]), 5, 3)
    assert [r["question"] for r in rows if r["kind"] == "agent"] == [q.question for q in picked]


def test_without_the_baseline_only_the_agent_runs_on_the_head_of_the_sample(capsys) -> None:  # type: ignore[no-untyped-def]
    args = agent_eval.parse_args(
        ["--databases", "pets_1", "--limit", "6", "--head", "2", "--no-embeddings", "--no-baseline", "--quiet"]
    )
    with gold_answering_model(wrong_baseline=False) as model, ModelClient(model.endpoint()) as client:
        result = agent_eval.main_with_model(args, model=client)
        assert all("CREATE TABLE" not in r.last_message() for r in model.requests) and len(model.requests) == 2
        picked = agent_eval.pick_questions(read_questions(DEFAULT_DATASET / "questions.csv", ["pets_1"]), 6, 0)[:2]
        assert [f"Question: {q.question}" in r.last_message() for q, r in zip(picked, model.requests)] == [True, True]
    assert result["ex"] == 1.0 and result["baseline_ex"] == 0.0
    assert "baseline:" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["--k", "0"], ["--examples", "-1"], ["--max-repairs", "-2"], ["--vote-samples", "-1"], ["--head", "0"]]
)
def test_bad_model_options_are_refused(argv: list[str], capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        agent_eval.parse_args(argv)
    assert "must be >= " in capsys.readouterr().err


# -- the executor the eval measures through -----------------------------------------------------------------------------
def test_the_executor_refuses_writes_and_several_statements_without_touching_the_file() -> None:
    execute = sqlite_executor(PETS)
    before = PETS.stat().st_mtime_ns
    for attack in (
        "DELETE FROM Pets",
        "SELECT 1; DROP TABLE Pets",
        "WITH x AS (DELETE FROM Pets RETURNING *) SELECT * FROM x",
        "ATTACH DATABASE '/tmp/evil.sqlite' AS evil",
        "PRAGMA writable_schema = 1",
    ):
        result = execute(attack)
        assert result.error and not result.rows, attack
    assert execute("SELECT count(*) FROM Pets").rows == [(3,)] and PETS.stat().st_mtime_ns == before


def test_the_executor_bounds_rows_and_time() -> None:
    execute = sqlite_executor(PETS, max_rows=10, timeout=0.5)
    many = execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) SELECT i FROM n")
    assert many.row_count == 10 and many.truncated and many.columns == ["i"]
    started = time.monotonic()
    forever = execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n")
    assert forever.error == "query timed out" and time.monotonic() - started < 10
    assert execute("SELECT nope FROM Pets").error == "no such column: nope"


def test_gold_order_and_the_baselines_schema() -> None:
    assert gold_orders("SELECT name FROM t ORDER BY name DESC")
    assert not gold_orders("SELECT name FROM t WHERE id IN (SELECT id FROM u ORDER BY x LIMIT 1)")
    assert gold_orders("SELECT a FROM t UNION SELECT a FROM u ORDER BY a")
    ddl = whole_schema_ddl(PETS)
    assert ddl.count("CREATE TABLE") == 3 and "PetType" in ddl


def test_a_run_split_over_databases_merges_into_one_report(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    common = ["--databases", "pets_1,battle_death", "--limit", "8", "--seed", "1", "--no-embeddings", "--quiet"]
    gold = {q.question: q.sql for q in read_questions(DEFAULT_DATASET / "questions.csv", ["pets_1", "battle_death"])}

    def respond(request: RecordedRequest) -> Reply:
        question = re.search(r"^Question: (.*)$", request.last_message(), re.M)
        assert question is not None
        sql = "SELECT 'wrong'" if "CREATE TABLE" in request.last_message() else gold[question.group(1)]
        return Reply(content=json.dumps({"sql": sql}))

    parts = []
    for db in ("pets_1", "battle_death"):
        path = tmp_path / f"{db}.jsonl"
        args = agent_eval.parse_args([*common, "--only-databases", db, "--details", str(path)])
        with ScriptedModel(respond) as model, ModelClient(model.endpoint()) as client:
            part = agent_eval.main_with_model(args, model=client)
        parts.append((part["questions"], path))
    assert sum(n for n, _ in parts) == 8 and all(n > 0 for n, _ in parts)
    capsys.readouterr()
    merged = agent_eval.main_with_model(agent_eval.parse_args([*common, "--report", *(str(p) for _, p in parts)]))
    out = capsys.readouterr().out
    assert merged["questions"] == 8 and merged["ex"] == 1.0 and merged["baseline_ex"] == 0.0
    assert merged["first_answer_ex"] == 1.0 and merged["recall_at_5"] == 1.0 and merged["model_calls_per_question"] == 1
    assert "merged from 2 file(s)" in out and json.loads(out.strip().splitlines()[-1].removeprefix("BENCH ")) == merged
    only = tmp_path / "only.jsonl"
    only.write_text(parts[0][1].read_text().splitlines()[-1] + "\n")  # one agent answer of the first part
    one = agent_eval.main_with_model(
        agent_eval.parse_args([*common, "--report", str(parts[0][1]), "--questions-from", str(only)])
    )
    assert one["questions"] == 1
    with pytest.raises(SystemExit, match="have no agent answer"):
        agent_eval.main_with_model(agent_eval.parse_args([*common, "--report", str(parts[0][1])]))

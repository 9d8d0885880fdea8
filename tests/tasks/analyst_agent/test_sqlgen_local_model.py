"""The SQL writer with the real offline model (Qwen2.5-Coder-1.5B behind llama-cpp-python) on three pets_1 questions:
what the eval measures, in small. CI installs the `local` extra; under CI=true a missing extra fails, locally it skips."""

from __future__ import annotations

import os

import pytest

from bench.agent_eval_data import DEFAULT_DATASET, load_dataset
from bench.agent_eval_sql import sqlite_executor
from tasks.analyst_agent.llm import ModelClient, resolve_endpoint
from tasks.analyst_agent.llm import local_server
from tasks.analyst_agent.search import CatalogIndex
from tasks.analyst_agent.sqlgen import build_context, same_result, write_sql

PETS = DEFAULT_DATASET / "sqlite" / "pets_1.sqlite"
QUESTIONS = [
    ("How many pets are owned by students that have an age greater than 20?", "SELECT count(*) FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid = T2.stuid WHERE T1.age > 20"),
    ("Find the number of dog pets that are raised by female students (with sex F).", "SELECT count(*) FROM student AS T1 JOIN has_pet AS T2 ON T1.stuid = T2.stuid JOIN pets AS T3 ON T2.petid = T3.petid WHERE T1.sex = 'F' AND T3.pettype = 'dog'"),
    ("What is the average age of all students?", "SELECT avg(age) FROM student"),
]  # fmt: skip


@pytest.mark.local_model
@pytest.mark.timeout(1500)
def test_the_offline_model_answers_pets_questions_through_the_agents_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    missing = local_server.missing_modules()
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the `local` extra is not installed ({', '.join(missing)}); CI installs it")
        pytest.skip("the `local` extra is not installed")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    dataset = load_dataset(DEFAULT_DATASET, None, databases=["pets_1"])
    index = CatalogIndex.build(dataset.catalog, dataset.profiles, dataset.values, embedder=None)
    execute = sqlite_executor(PETS)
    correct = 0
    try:
        with ModelClient(resolve_endpoint(), timeout=600) as model:
            for question, gold in QUESTIONS:
                hits = index.search(question, 5, embedder=None)
                ctx = build_context(question, "sqlite", dataset.catalog, [h.key for h in hits], dataset.profiles, dataset.values)
                out = write_sql(model, ctx, execute, vote_when_doubtful=False)
                assert out.sql is not None and out.model_calls >= 1 and out.usage.seconds_in_model > 0
                correct += same_result(execute(out.sql).rows, execute(gold).rows)
    finally:
        local_server.stop_shared_server()
    assert correct >= 2, f"{correct}/3 right"

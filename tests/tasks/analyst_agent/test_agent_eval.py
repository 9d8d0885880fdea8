"""The evaluation harness (`bench/agent_eval.py --search-only`) and its dataset loading, on spider-dev databases."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import agent_eval
from bench.agent_eval_data import (
    DEFAULT_DATASET,
    DEFAULT_POOL,
    DatasetError,
    ddl_database,
    gold_tables,
    load_dataset,
    normalized_type,
    sqlite_database,
)
from tasks.analyst_agent.search import TableKey, embeddings_available

REPO = Path(__file__).resolve().parents[3]
TWO = "pets_1,battle_death"


def bench_line(out: str) -> dict:
    last = out.strip().splitlines()[-1]
    assert last.startswith("BENCH ")
    return json.loads(last.removeprefix("BENCH "))


# -- the harness --------------------------------------------------------------------------------------------------------
def test_harness_on_two_databases_against_the_pooled_schemas(capsys) -> None:  # type: ignore[no-untyped-def]
    result = agent_eval.main(["--search-only", "--databases", TWO, "--no-embeddings"])
    out = capsys.readouterr().out
    assert out.startswith("catalog search: 58 questions, 157 databases, 779 tables pooled; no embeddings")
    assert bench_line(out) == result
    assert set(result) == {
        "recall_at_5",
        "pooled_recall_at_5",
        "pooled_recall_at_10",
        "pooled_all_at_5",
        "search_ms_p95",
        "index_build_s",
        "search_cpu_ms_p95",
        "index_build_cpu_s",
        "load_avg_1m",
    }
    assert result["recall_at_5"] == 1.0  # pets_1 and battle_death have three tables each
    assert 0.85 <= result["pooled_recall_at_5"] <= result["pooled_recall_at_10"] <= 1.0
    assert 0 < result["search_ms_p95"] < 1000 and 0 < result["index_build_s"] < 60
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("own-db ", "pooled "))}
    assert rows["pooled"][1:3] == ["779", "58"] and rows["own-db"][2] == "58"


def test_harness_with_embeddings_without_pool(capsys) -> None:  # type: ignore[no-untyped-def]
    if not embeddings_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the `embeddings` extra is not installed (CI installs it: .ci/install)")
        pytest.skip("the `embeddings` extra is not installed")
    result = agent_eval.main(["--search-only", "--databases", TWO, "--no-pool", "--limit", "20", "--seed", "3"])
    out = capsys.readouterr().out
    assert "20 questions" in out and "embeddings all-MiniLM-L6-v2-onnx-int8" in out
    assert result["recall_at_5"] == 1.0 and set(result) == {"recall_at_5", "load_avg_1m"}
    assert "6 tables (no pool)" in out
    assert not any(line.startswith("pooled") for line in out.splitlines())


def test_limit_and_seed_pick_the_same_questions_every_time() -> None:
    questions = load_dataset(DEFAULT_DATASET, None, databases=["pets_1"], with_profiles=False).questions
    first = agent_eval.pick_questions(questions, 5, seed=7)
    assert first == agent_eval.pick_questions(questions, 5, seed=7)
    assert first != agent_eval.pick_questions(questions, 5, seed=8)
    assert agent_eval.pick_questions(questions, 10_000, seed=7) == questions


def test_the_script_prints_a_table_and_ends_with_the_bench_line() -> None:
    result = subprocess.run(
        [sys.executable, "bench/agent_eval.py", "--search-only", "--databases", TWO, "--no-pool", "--no-embeddings"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "setting" in result.stdout and "own-db" in result.stdout
    assert bench_line(result.stdout)["recall_at_5"] == 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--databases", "pets_1,no_such_db"], "database\\(s\\) not in .*: no_such_db"),
        (["--dataset", "/nonexistent/folder"], "has no sqlite/ folder"),
        (["--databases", "pets_1", "--pool", "/nonexistent/pool"], "holds no <db>.schema.sql file"),
    ],
)
def test_bad_dataset_arguments_end_with_a_named_error(argv, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit, match=message):
        agent_eval.main(["--search-only", "--no-embeddings", *argv])


def test_limit_must_be_positive(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        agent_eval.main(["--search-only", "--limit", "0"])
    assert "--limit must be >= 1" in capsys.readouterr().err


# -- a dataset that is wrong in one way each ----------------------------------------------------------------------------
def make_dataset(tmp_path: Path, questions: str) -> Path:
    (tmp_path / "sqlite").mkdir()
    shutil.copy(DEFAULT_DATASET / "sqlite" / "pets_1.sqlite", tmp_path / "sqlite")
    (tmp_path / "questions.csv").write_text(questions)
    return tmp_path


def test_a_gold_table_missing_from_the_catalog_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = make_dataset(tmp_path, "database,question,sql\npets_1,How many owners?,SELECT COUNT(*) FROM owners\n")
    with pytest.raises(DatasetError, match=r"gold table\(s\) \['owners'\] .* not in database pets_1"):
        load_dataset(folder, None, with_profiles=False)


def test_questions_file_without_the_needed_columns_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = make_dataset(tmp_path, "db,question,query\npets_1,x,SELECT 1\n")
    with pytest.raises(DatasetError, match="missing column\\(s\\) database, sql"):
        load_dataset(folder, None, with_profiles=False)


def test_gold_sql_that_cannot_be_parsed_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    folder = make_dataset(tmp_path, "database,question,sql\npets_1,x,SELECT FROM WHERE (((\n")
    with pytest.raises(DatasetError, match="gold SQL sqlglot cannot read"):
        load_dataset(folder, None, with_profiles=False)


def test_a_pool_file_that_is_not_ddl_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.schema.sql"
    bad.write_text("CREATE TABLE (((( nonsense")
    with pytest.raises(DatasetError, match="broken.schema.sql"):
        ddl_database(bad)
    empty = tmp_path / "empty.schema.sql"
    empty.write_text("-- nothing here\n")
    with pytest.raises(DatasetError, match="no CREATE TABLE"):
        ddl_database(empty)


# -- loading ------------------------------------------------------------------------------------------------------------
def test_gold_tables_skip_cte_names_and_aliases() -> None:
    sql = (
        "WITH top_ships AS (SELECT `id` FROM `ship` AS `s` WHERE `s`.`tonnage` > 5) "
        "SELECT `t1`.`name` FROM `battle` AS `t1` JOIN top_ships ON `t1`.`id` = top_ships.`id` "
        "WHERE `t1`.`id` IN (SELECT `caused_by_ship_id` FROM `Death`)"
    )
    assert gold_tables(sql) == frozenset({"ship", "battle", "death"})


def test_ddl_catalog_keeps_keys_and_types() -> None:
    db = ddl_database(DEFAULT_POOL / "car_1.schema.sql")
    countries = db.schema("main").table("countries")
    assert [c.name for c in countries.columns] == ["CountryId", "CountryName", "Continent"]
    assert [c.normalized_type for c in countries.columns] == ["integer", "string", "integer"]
    assert countries.primary_key == ["CountryId"]
    assert [(f.columns, f.referred_table, f.referred_columns) for f in countries.foreign_keys] == [
        (["Continent"], "continents", ["ContId"])
    ]


def test_pool_holds_779_tables_and_the_dataset_databases_count_once() -> None:
    dataset = load_dataset(DEFAULT_DATASET, DEFAULT_POOL, databases=["pets_1"], with_profiles=False)
    assert dataset.catalog.table_count == 779
    assert [d.name for d in dataset.catalog.databases].count("pets_1") == 1
    assert len(dataset.catalog.databases) == 157


def test_sqlite_catalog_profiles_and_low_cardinality_values() -> None:
    path = DEFAULT_DATASET / "sqlite" / "pets_1.sqlite"
    db = sqlite_database(path)
    has_pet = db.schema("main").table("Has_Pet")
    assert {(tuple(f.columns), f.referred_table) for f in has_pet.foreign_keys} == {
        (("PetID",), "Pets"),
        (("StuID",), "Student"),
    }
    dataset = load_dataset(DEFAULT_DATASET, None, databases=["pets_1"])
    pets = next(p for p in dataset.profiles if p.table == "Pets")
    assert (pets.database, pets.schema_, pets.row_count) == ("pets_1", "main", 3)
    pet_type = next(v for v in dataset.values if v.column == "PetType")
    assert pet_type.table == TableKey("pets_1", "main", "Pets") and sorted(pet_type.values) == ["cat", "dog"]


@pytest.mark.parametrize(
    ("declared", "normalized"),
    [
        ("INTEGER", "integer"),
        ("varchar(20)", "string"),
        ("REAL", "float"),
        ("NUMERIC(10,2)", "decimal"),
        ("DATETIME", "timestamp"),
        ("date", "date"),
        ("BOOLEAN", "boolean"),
        ("BLOB", "binary"),
        ("", "other"),
        ("not a type ((", "other"),
    ],
)
def test_declared_types_are_normalized(declared: str, normalized: str) -> None:
    assert normalized_type(declared) == normalized

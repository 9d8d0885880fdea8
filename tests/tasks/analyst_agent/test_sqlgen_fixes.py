"""Mechanical fixes of failed queries (no model call): each fix on the failures the offline model really produced on
spider-dev (the model repeated them through every repair round), each executed on the real spider SQLite files; and the
cases where the schema leaves more than one reading, which must stay with the model."""

from __future__ import annotations

import json
import sqlite3

import pytest

from bench.agent_eval_data import DEFAULT_DATASET, load_dataset
from bench.agent_eval_sql import sqlite_executor
from tasks.analyst_agent.llm import ModelClient
from tasks.analyst_agent.llm.backoff import RetryPolicy
from tasks.analyst_agent.search import TableKey
from tasks.analyst_agent.sqlgen import build_context, write_sql
from tasks.analyst_agent.sqlgen.fixes import fix_for_error
from tests.tasks.analyst_agent.scripted_model import Reply, ScriptedModel

SQLITE = DEFAULT_DATASET / "sqlite"


def schema(db: str) -> dict[str, list[str]]:
    with sqlite3.connect(f"file:{SQLITE / (db + '.sqlite')}?mode=ro", uri=True) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: [r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')] for n in names}


def run(db: str, sql: str) -> tuple[str | None, list[tuple]]:
    result = sqlite_executor(SQLITE / (db + ".sqlite"))(sql)
    return result.error, sorted(result.rows)


def fixed_after(db: str, wrong: str, expected_error: str) -> str | None:
    """The fix of `wrong` after checking that the real database refuses it with `expected_error`."""
    error, _ = run(db, wrong)
    assert error == expected_error
    return fix_for_error(wrong, error, schema(db), "sqlite")


def test_a_column_read_through_the_wrong_alias_moves_to_the_one_table_of_the_query_that_has_it() -> None:
    db = "cre_Doc_Template_Mgt"
    wrong = (
        "SELECT T1.Template_ID, T2.Template_Type_Code FROM Templates AS T1 INNER JOIN Documents AS T2 "
        "ON T1.Template_ID = T2.Template_ID GROUP BY T1.Template_ID ORDER BY COUNT(*) DESC LIMIT 1"
    )
    fixed = fixed_after(db, wrong, "no such column: T2.Template_Type_Code")
    assert fixed is not None and "T1.Template_Type_Code" in fixed and "T2.Template_Type_Code" not in fixed
    assert "T2.Template_ID" in fixed  # the join, which was right, is untouched
    gold = (
        "SELECT t1.template_id, t2.Template_Type_Code FROM Documents AS t1 JOIN Templates AS t2 "
        "ON t1.template_id = t2.template_id GROUP BY t1.template_id ORDER BY count(*) DESC LIMIT 1"
    )
    assert run(db, fixed) == run(db, gold)


def test_an_invented_lookup_table_is_dropped_when_the_query_has_its_columns_already() -> None:
    db = "employee_hire_evaluation"
    wrong = (
        "SELECT T1.Manager_name, T2.District FROM shop AS T1 INNER JOIN district AS T2 ON T1.District = T2.District "
        "ORDER BY T1.Number_products DESC LIMIT 1"
    )
    fixed = fixed_after(db, wrong, "no such table: district")
    assert fixed is not None and "JOIN" not in fixed.upper() and "T1.District" in fixed
    assert run(db, fixed) == run(db, "SELECT manager_name, district FROM shop ORDER BY number_products DESC LIMIT 1")


def test_a_misspelt_table_with_one_close_spelling_is_respelt() -> None:
    db = "employee_hire_evaluation"
    wrong = "SELECT Name FROM shops WHERE shops.District = 'Finnair Stadium'"
    error, _ = run(db, wrong)
    fixed = fix_for_error(wrong, error, schema(db), "sqlite")
    assert fixed is not None and run(db, fixed) == run(db, "SELECT Name FROM shop WHERE District = 'Finnair Stadium'")
    assert run(db, fixed)[1]  # not a vacuous comparison of two empty results


def test_an_ambiguous_join_key_is_qualified_with_the_first_table_that_has_it() -> None:
    db = "pets_1"
    wrong = "SELECT StuID, Fname FROM Student JOIN Has_Pet ON Student.StuID = Has_Pet.StuID"
    fixed = fixed_after(db, wrong, "ambiguous column name: StuID")
    assert fixed is not None and "Student.StuID, Fname" in fixed
    assert run(db, fixed)[0] is None and len(run(db, fixed)[1]) == 3


@pytest.mark.parametrize(
    ("db", "sql", "why"),
    [
        # `Year` is in cars_data, which the query does not read: which join to add is the model's call
        ("car_1", "SELECT car_makers.FullName, model_list.Year FROM car_makers JOIN model_list "
         "ON car_makers.Id = model_list.Maker", "the column is in no table of the query"),
        # Age is in Student only... but the query reads Student twice: two aliases, two readings
        ("pets_1", "SELECT S2.Age FROM Student AS S1 JOIN Has_Pet AS H ON S1.StuID = H.StuID "
         "JOIN Student AS S2 ON S2.StuID = S1.StuID WHERE H.Age > 1", "two aliases of the owner"),
        # a column of an invented table that no other table of the query has
        ("employee_hire_evaluation", "SELECT T1.Name, T2.Population FROM shop AS T1 JOIN district AS T2 "
         "ON T1.District = T2.District", "the invented table's column exists nowhere"),
        # an ambiguous column that is not a join key: the two tables hold different values
        ("pets_1", "SELECT PetID FROM Has_Pet JOIN Pets ON Has_Pet.StuID = Pets.PetID", "not joined on equal"),
        ("pets_1", "SELEC nonsense FROM", "does not parse"),
    ],
)
def test_no_fix_when_the_schema_leaves_more_than_one_reading(db: str, sql: str, why: str) -> None:
    error, _ = run(db, sql)
    assert error is not None, why
    assert fix_for_error(sql, error, schema(db), "sqlite") is None, why


def test_the_writer_applies_the_fix_without_asking_the_model_again(scripted_model: ScriptedModel) -> None:
    """The offline model's real answer to this spider-dev question, which it repeated through every repair round:
    one model call now, then the fix, and the result is the gold query's."""
    db = "wta_1"
    data = load_dataset(DEFAULT_DATASET, None, databases=[db])
    wrong = (
        "SELECT T1.winner_name, T2.loser_name FROM matches AS T1 INNER JOIN players AS T2 "
        "ON T1.winner_id = T2.player_id ORDER BY T1.minutes DESC LIMIT 1"
    )
    scripted_model.add(Reply(content=json.dumps({"sql": wrong})))
    question = "What are the names of the winner and loser who played in the longest match?"
    keys = [TableKey(db, "main", t) for t in ("matches", "players")]
    ctx = build_context(question, "sqlite", data.catalog, keys, data.profiles, data.values)
    with ModelClient(scripted_model.endpoint(), retry=RetryPolicy(max_attempts=1)) as model:
        out = write_sql(model, ctx, sqlite_executor(SQLITE / f"{db}.sqlite"))
    scripted_model.assert_done()
    assert [a.kind for a in out.attempts] == ["first", "fix"] and out.model_calls == 1
    assert out.attempts[0].error == "no such column: T2.loser_name" and out.attempts[1].error is None
    assert out.ok and "T1.loser_name" in out.sql
    assert sorted(out.rows) == run(db, "SELECT winner_name, loser_name FROM matches ORDER BY minutes DESC LIMIT 1")[1]


@pytest.mark.parametrize(
    ("dialect", "error"),
    [
        ("duckdb", 'Binder Error: Table "T2" does not have a column named "loser_name"'),  # DuckDB names them apart
        ("postgres", "column t2.loser_name does not exist"),  # PostgreSQL folds the names it reports
        ("mysql", "(1054, \"Unknown column 'T2.loser_name' in 'SELECT'\")"),  # MariaDB
    ],
)
def test_the_wrong_alias_fix_reads_each_engines_wording(dialect: str, error: str) -> None:
    """The errors as DuckDB (the demo warehouse), PostgreSQL and MariaDB word them (recorded from the real servers)."""
    sql = "SELECT T1.winner_name, T2.loser_name FROM matches AS T1 JOIN players AS T2 ON T1.winner_id = T2.player_id"
    fixed = fix_for_error(sql, error, schema("wta_1"), dialect)
    assert fixed is not None and "T1.loser_name" in fixed and "T2.loser_name" not in fixed

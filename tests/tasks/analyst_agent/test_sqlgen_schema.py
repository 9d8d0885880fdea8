"""The pruned schema the model reads (`render_schema`, `build_context`, `link_values`), the repair hints, the result
comparison voting and the eval share, and the few-shot example selection."""

from __future__ import annotations

import pytest

from bench.agent_eval_data import DEFAULT_DATASET, load_dataset
from connectors.catalog import Catalog, Column, Database, ForeignKey, Schema, Table
from tasks.analyst_agent.search import ColumnValues, TableKey
from tasks.analyst_agent.sqlgen import (
    Example,
    ExampleIndex,
    SqlContext,
    SqlGenError,
    build_context,
    link_values,
    question_skeleton,
    render_schema,
    result_key,
    same_result,
)
from tasks.analyst_agent.sqlgen.hints import empty_result_hints, error_hints
from tasks.analyst_agent.sqlgen.schema_text import table_names


@pytest.fixture(scope="module")
def pets():  # type: ignore[no-untyped-def]
    return load_dataset(DEFAULT_DATASET, None, databases=["pets_1"])


def key(table: str, schema: str = "main", db: str = "pets_1") -> TableKey:
    return TableKey(db, schema, table)


# -- the schema text ----------------------------------------------------------------------------------------------------
def test_compact_schema_has_types_keys_samples_and_the_foreign_keys_among_the_chosen_tables(pets) -> None:  # type: ignore[no-untyped-def]
    text = render_schema(pets.catalog, [key("Pets"), key("Has_Pet")], pets.profiles, pets.values)
    lines = text.splitlines()
    assert lines[0].startswith("Pets(PetID int PK, PetType text e.g. ")
    assert "'dog'" in lines[0] and "'cat'" in lines[0] and "pet_age int" in lines[0]
    assert lines[1] == "Has_Pet(StuID int, PetID int)"
    assert lines[2] == "Foreign keys: Has_Pet.PetID = Pets.PetID"  # Has_Pet.StuID -> Student: not chosen, not shown
    assert "CREATE" not in text
    no_samples = render_schema(pets.catalog, [key("Pets")], pets.profiles, pets.values, samples=0)
    assert "e.g." not in no_samples


def test_names_are_qualified_only_where_the_engine_needs_it() -> None:
    assert table_names([key("a"), key("b")]) == {key("a"): "a", key("b"): "b"}
    assert table_names([key("orders", "sales", "wh")]) == {key("orders", "sales", "wh"): "sales.orders"}
    two = table_names([key("a", "public", "x"), key("b", "public", "y")])
    assert two == {key("a", "public", "x"): "x.public.a", key("b", "public", "y"): "y.public.b"}


def test_sample_values_are_quoted_escaped_and_cut() -> None:
    catalog = Catalog(
        source_type="duckdb",
        databases=[
            Database(
                name="wh",
                schemas=[
                    Schema(
                        name="main",
                        tables=[
                            Table(
                                name="people",
                                columns=[
                                    Column(ordinal=1, name="id", data_type="INTEGER", normalized_type="integer"),
                                    Column(ordinal=2, name="name", data_type="VARCHAR", normalized_type="string"),
                                ],
                                primary_key=["id"],
                            )
                        ],
                    )
                ],
            )
        ],
    )
    people = TableKey("wh", "main", "people")
    values = [ColumnValues(table=people, column="name", values=["O'Brien", "x" * 200])]
    text = render_schema(catalog, [people], (), values)
    assert "'O''Brien'" in text and "x" * 29 + "…'" in text and "x" * 31 not in text


def test_build_context_orders_tables_as_the_catalog_does_and_refuses_bad_input(pets) -> None:  # type: ignore[no-untyped-def]
    ctx = build_context("How many dogs?", "sqlite", pets.catalog, [key("Student"), key("Pets")], pets.profiles, pets.values)
    assert [line.split("(")[0] for line in ctx.schema_text.splitlines()[:2]] == ["Pets", "Student"]  # catalog order
    assert set(ctx.tables) == {"Student", "Pets"} and "PetType" in ctx.tables["Pets"]
    assert ctx.value_hints == ("'dog' is a value of Pets.PetType",)
    assert ("Pets", "PetType") in ctx.values
    with pytest.raises(SqlGenError, match="non-empty"):
        build_context("  ", "sqlite", pets.catalog, [key("Pets")])
    with pytest.raises(SqlGenError, match="pets_1.main.Nope"):
        build_context("x?", "sqlite", pets.catalog, [key("Nope")])
    with pytest.raises(SqlGenError, match="no tables"):
        build_context("x?", "sqlite", pets.catalog, [])
    unlinked = build_context("How many dogs?", "sqlite", pets.catalog, [key("Pets")], pets.profiles, pets.values, link=False)
    assert unlinked.value_hints == ()


def test_values_link_only_for_the_chosen_tables(pets) -> None:  # type: ignore[no-untyped-def]
    assert link_values("How many cats?", [key("Student")], pets.values) == []
    assert link_values("How many cats?", [key("Pets")], pets.values) == ["'cat' is a value of Pets.PetType"]


# -- hints ----------------------------------------------------------------------------------------------------------------
TABLES = {"singer": ["Singer_ID", "Name", "Country"], "concert": ["concert_ID", "Stadium_ID", "Year"]}


@pytest.mark.parametrize(
    "error",
    [
        "no such column: T2.Country",  # SQLite
        'Binder Error: Referenced column "Country" not found in FROM clause!',  # DuckDB
        'column "country" does not exist',  # PostgreSQL
        "(1054, \"Unknown column 't2.Country' in 'field list'\")",  # MariaDB
    ],
)
def test_a_missing_column_is_located_in_every_engines_wording(error: str) -> None:
    assert error_hints(error, TABLES) == [
        "Country is a column of singer: join singer (see the foreign keys) and take Country from it"
    ]


def test_with_the_failed_query_a_hint_resolves_aliases() -> None:
    sql = "SELECT T2.Country FROM singer AS T1 JOIN concert AS T2 ON T1.Singer_ID = T2.concert_ID"
    assert error_hints("no such column: T2.Country", TABLES, sql, "sqlite") == [
        "T2 stands for concert, which has no column Country; Country is a column of singer, which the query reads as "
        "T1: write T1.Country"
    ]
    assert error_hints("no such column: Country", TABLES, "SELECT Country FROM concert", "sqlite") == [
        "Country is a column of singer: join singer (see the foreign keys) and take Country from it"
    ]
    assert error_hints("no such column: concert.Country", TABLES, "SELECT concert.Country FROM concert JOIN singer", "sqlite") == [
        "concert has no column Country; Country is a column of singer, which the query reads as singer: write singer.Country"
    ]
    assert error_hints("no such column: T9.Country", TABLES, "not sql (((", "sqlite") == [
        "Country is a column of singer: join singer (see the foreign keys) and take Country from it"
    ]


def test_unknown_names_get_the_nearest_real_ones() -> None:
    assert error_hints("no such column: Yeer", TABLES) == ["there is no column Yeer; similar columns: concert.Year"]
    assert error_hints("no such table: singers", TABLES) == [
        "there is no table singers; the tables are: singer, concert (did you mean singer?)"
    ]
    assert error_hints("ambiguous column name: Name", TABLES) == ["column Name is in singer: qualify it with its table"]
    assert error_hints('near "SELEC": syntax error', TABLES) == []


def test_empty_result_hints_name_the_stored_spelling_and_stay_quiet_when_literals_occur() -> None:
    ctx = SqlContext(
        question="q",
        dialect="sqlite",
        schema_text="",
        tables=TABLES,
        values={("singer", "Country"): ["France", "United States"]},
    )
    assert empty_result_hints("SELECT Name FROM singer WHERE Country = 'france'", ctx) == [
        "'france' does not occur in singer.Country; it is stored as 'France'"
    ]
    assert empty_result_hints("SELECT Name FROM singer WHERE country IN ('USA', 'France')", ctx) == [
        "'USA' does not occur in singer.Country"
    ]
    assert empty_result_hints("SELECT Name FROM singer WHERE Country LIKE '%States%'", ctx) == []
    assert empty_result_hints("SELECT Name FROM singer WHERE Country = 'France' AND Year > 3", ctx) == []
    assert empty_result_hints("this is not ((( sql", ctx) == []


# -- comparing results --------------------------------------------------------------------------------------------------
def test_results_compare_as_multisets_with_rounding_and_any_column_order() -> None:
    gold = [("a", 1), ("b", 2.0), ("b", 2)]
    assert same_result([(2, "b"), (1.0, "a"), (2.00001, "b")], gold)  # permuted columns, rows, rounding
    assert not same_result([(2, "b"), (1, "a")], gold)  # a duplicate row missing
    assert not same_result([("a", 1, 0), ("b", 2, 0), ("b", 2, 0)], gold)  # an extra column
    assert not same_result([("a", 1), ("b", 2), ("b", 3)], gold)
    assert same_result([], []) and not same_result([(1,)], [])
    assert same_result([("a", 1), ("b", 2)], [("a", 1), ("b", 2)], ordered=True)
    assert not same_result([("b", 2), ("a", 1)], [("a", 1), ("b", 2)], ordered=True)
    assert same_result([(1, 1), (2, 2)], [(1, 1), (2, 2)])  # identical columns: any mapping works
    assert not same_result([("1",)], [(1,)])  # text is not a number


def test_result_keys_group_equal_answers_for_voting() -> None:
    assert result_key([(1, "a"), (2, "b")]) == result_key([("b", 2.0), ("a", 1)])
    assert result_key([(1,), (1,)]) != result_key([(1,)])
    assert result_key([(1,)]) != result_key([(2,)])


# -- few-shot examples ----------------------------------------------------------------------------------------------------
def test_skeletons_mask_schema_words_numbers_and_literals() -> None:
    names = ["singer", "Country", "concert"]
    assert question_skeleton("How many singers are from 'France' since 2014?", names) == "how many _ are from _ since _"


def test_similar_examples_come_from_other_sources_by_skeleton() -> None:
    pairs = [
        Example("How many singers are there?", "SELECT count(*) FROM singer", "concert_singer"),
        Example("How many ships are there?", "SELECT count(*) FROM ship", "battle_death"),
        Example("List the names of ships ordered by tonnage.", "SELECT name FROM ship ORDER BY tonnage", "battle_death"),
        Example("How many dogs are there?", "SELECT count(*) FROM pets", "pets_1"),
    ]
    skeletons = [
        question_skeleton(p.question, ["singer", "ship", "tonnage", "name", "pets", "dog"]) for p in pairs
    ]
    index = ExampleIndex.build(pairs, skeletons)
    query = question_skeleton("How many pets are there?", ["pets"])
    found = index.similar(query, 2, exclude_source="pets_1")
    assert [e.source for e in found] == ["concert_singer", "battle_death"] and found[1].sql.startswith("SELECT count")
    assert index.similar(query, 0) == [] and ExampleIndex.build([]).similar(query, 3) == []
    with pytest.raises(ValueError, match="one skeleton per example"):
        ExampleIndex.build(pairs, skeletons[:1])

"""Databricks SQL generation, checked by parsing with sqlglot's Databricks dialect (no warehouse runs here):
the information_schema queries, the catalog filter push-down, the LIMIT pushdown on every spider-dev gold query
transpiled to Databricks, the timeout statement, DESCRIBE parsing edge cases and type normalization."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from connectors.databricks.catalog import UNITY_QUERIES, literal_catalogs, quote_identifier, render
from connectors.databricks.statements import push_row_limit, statement_timeout_seconds, statement_timeout_sql
from connectors.databricks.types import normalize_type
from connectors.catalog import CatalogFilters
from connectors.sql_guard import check_read_only

SPIDER_QUESTIONS = Path(__file__).resolve().parents[2] / "data" / "spider-dev" / "questions.csv"


@pytest.mark.parametrize("name", sorted(UNITY_QUERIES))
@pytest.mark.parametrize("catalogs", [None, ["main", "it's"]])
def test_unity_query_is_one_read_only_select_over_information_schema(name: str, catalogs: list[str] | None) -> None:
    sql = render(UNITY_QUERIES[name], catalogs)
    tree = sqlglot.parse_one(sql, read="databricks")
    assert isinstance(tree, exp.Select)
    assert {(t.catalog, t.db) for t in tree.find_all(exp.Table)} == {("system", "information_schema")}
    assert check_read_only(sql, "databricks") == sql.rstrip()
    in_lists = list(tree.find_all(exp.In))
    if catalogs:
        assert len(in_lists) == 1 and [e.name for e in in_lists[0].expressions] == catalogs
    else:
        assert in_lists == []


def test_only_plain_catalog_names_are_pushed_down() -> None:
    assert literal_catalogs(CatalogFilters(include_databases=["main", "dev"])) == ["main", "dev"]
    assert literal_catalogs(CatalogFilters(include_databases=["ma*"])) is None
    assert literal_catalogs(CatalogFilters()) is None


def test_identifiers_are_quoted_for_show_and_describe() -> None:
    assert quote_identifier("legacy") == "`legacy`"
    assert quote_identifier("odd`name") == "`odd``name`"


def test_every_spider_gold_query_gets_a_limit_and_keeps_its_text() -> None:
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    with SPIDER_QUESTIONS.open(newline="") as f:
        gold = [row["sql"] for row in csv.DictReader(f)]
    pushed = 0
    for q in gold:
        sql = check_read_only(sqlglot.transpile(q, read="mysql", write="databricks")[0], "databricks")
        out = push_row_limit(sql, 50)
        tree = sqlglot.parse_one(out, read="databricks")
        limit = tree.args.get("limit")
        assert limit is not None, out
        if out != sql:
            pushed += 1
            assert out == f"{sql}\nLIMIT 51" and limit.expression.name == "51"
    assert pushed > 0.8 * len(gold)


def test_show_describe_and_parenthesised_queries_get_no_limit() -> None:
    for sql in ("SHOW TABLES IN main.default", "DESCRIBE TABLE EXTENDED main.default.events", "(SELECT 1)"):
        assert push_row_limit(sql, 10) == sql
    assert push_row_limit("SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY 1", 10).endswith("ORDER BY 1\nLIMIT 11")


def test_statement_timeout_is_whole_seconds_within_the_warehouse_range() -> None:
    assert statement_timeout_seconds(0.2) == 1
    assert statement_timeout_seconds(59.1) == 60
    assert statement_timeout_seconds(10**9) == 172_800
    assert statement_timeout_sql(60) == "SET STATEMENT_TIMEOUT = 60"
    assert isinstance(sqlglot.parse_one(statement_timeout_sql(60), read="databricks"), exp.Set)


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        ("bigint", "integer"), ("INT", "integer"), ("tinyint", "integer"), ("decimal(10,2)", "decimal"),
        ("double", "float"), ("boolean", "boolean"), ("string", "string"), ("varchar(20)", "string"),
        ("binary", "binary"), ("date", "date"), ("timestamp", "timestamp_tz"), ("timestamp_ntz", "timestamp"),
        ("interval day to second", "interval"), ("array<string>", "array"), ("struct<a:int,b:string>", "struct"),
        ("map<string,int>", "struct"), ("variant", "json"), ("geography(4326)", "geography"), ("void", "other"),
    ],
)
def test_types_normalize(data_type: str, expected: str) -> None:
    assert normalize_type(data_type) == expected

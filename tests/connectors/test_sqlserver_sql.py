"""SQL Server SQL generation, checked by parsing with sqlglot's T-SQL dialect (no server runs here).

- the row-limit pushdown puts `TOP (n)` / `OFFSET ... FETCH` exactly where T-SQL allows it and leaves the rest of the
  user's text byte for byte, on hand-picked shapes and on every spider-dev gold query transpiled to T-SQL;
- the catalog queries are single read-only SELECTs over `sys.*` views that the guard itself accepts;
- type spelling and normalization.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from connectors.sql_guard import check_read_only
from connectors.sqlserver.catalog import CATALOG_QUERIES
from connectors.sqlserver.statements import push_row_limit
from connectors.sqlserver.types import format_type, normalize_type, result_type_name

SPIDER_QUESTIONS = Path(__file__).resolve().parents[2] / "data" / "spider-dev" / "questions.csv"


def _limit_of(sql: str) -> tuple[str, int] | None:
    tree = sqlglot.parse_one(sql, read="tsql")
    node = tree.args.get("limit")
    if node is None:
        return None
    value = node.args.get("count") if isinstance(node, exp.Fetch) else node.expression
    return type(node).__name__, int(value.name)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT a FROM t", "SELECT TOP (11) a FROM t"),
        ("select distinct a from t order by a", "select distinct TOP (11) a from t order by a"),
        ("SELECT ALL a FROM t", "SELECT ALL TOP (11) a FROM t"),
        ("WITH x AS (SELECT TOP 3 a FROM t) SELECT * FROM x", "WITH x AS (SELECT TOP 3 a FROM t) SELECT TOP (11) * FROM x"),
        ("/* why */ SELECT (SELECT MAX(b) FROM u) AS m FROM t", "/* why */ SELECT TOP (11) (SELECT MAX(b) FROM u) AS m FROM t"),
        ("SELECT a FROM t ORDER BY a OFFSET 5 ROWS", "SELECT a FROM t ORDER BY a OFFSET 5 ROWS\nFETCH NEXT 11 ROWS ONLY"),
        (
            "SELECT a FROM t UNION SELECT b FROM u ORDER BY 1",
            "SELECT a FROM t UNION SELECT b FROM u ORDER BY 1\nOFFSET 0 ROWS FETCH NEXT 11 ROWS ONLY",
        ),
    ],
)
def test_row_limit_lands_where_tsql_allows_it(sql: str, expected: str) -> None:
    out = push_row_limit(sql, 10)
    assert out == expected
    assert _limit_of(out)[1] == 11  # type: ignore[index]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT TOP 5 a FROM t",
        "SELECT TOP (5) PERCENT a FROM t",
        "SELECT a FROM t ORDER BY a OFFSET 0 ROWS FETCH NEXT 3 ROWS ONLY",
        "SELECT a FROM t UNION SELECT b FROM u",  # no ORDER BY: the cursor fetch limit applies
        "(SELECT a FROM t)",
        "SELECT a FROM t FOR JSON AUTO",
        "SELECT a FROM t UNION ALL SELECT b FROM u ORDER BY 1 OFFSET 2 ROWS FETCH NEXT 2 ROWS ONLY",
    ],
)
def test_statements_with_their_own_limit_or_no_safe_spot_are_left_alone(sql: str) -> None:
    assert push_row_limit(sql, 10) == sql


def test_every_spider_gold_query_gets_a_top_and_keeps_its_text() -> None:
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    with SPIDER_QUESTIONS.open(newline="") as f:
        gold = [row["sql"] for row in csv.DictReader(f)]
    pushed = unchanged = 0
    for q in gold:
        sql = check_read_only(sqlglot.transpile(q, read="mysql", write="tsql")[0], "tsql")
        out = push_row_limit(sql, 50)
        tree = sqlglot.parse_one(out, read="tsql")  # still valid T-SQL
        if out == sql:
            unchanged += 1
            assert tree.args.get("limit") is not None or isinstance(tree, exp.SetOperation)
            continue
        pushed += 1
        assert out.replace(" TOP (51)", "", 1).replace("\nOFFSET 0 ROWS FETCH NEXT 51 ROWS ONLY", "") == sql
        assert _limit_of(out) in (("Limit", 51), ("Fetch", 51))
    assert pushed > 0.7 * len(gold) and pushed + unchanged == len(gold)


@pytest.mark.parametrize("name", sorted(CATALOG_QUERIES))
def test_catalog_query_is_one_read_only_select_over_sys_views(name: str) -> None:
    sql = CATALOG_QUERIES[name]
    tree = sqlglot.parse_one(sql, read="tsql")
    assert isinstance(tree, exp.Select)
    tables = {(t.db, t.name) for t in tree.find_all(exp.Table)}
    assert tables and all(db == "sys" for db, _ in tables), tables
    assert check_read_only(sql, "tsql") == sql.rstrip()


def test_catalog_queries_read_the_views_the_issue_names() -> None:
    read = set()
    for sql in CATALOG_QUERIES.values():
        read |= {t.name for t in sqlglot.parse_one(sql, read="tsql").find_all(exp.Table)}
    assert {
        "tables", "views", "schemas", "columns", "types", "indexes", "index_columns", "key_constraints",
        "foreign_keys", "foreign_key_columns", "partitions", "allocation_units", "extended_properties", "sql_modules",
    } <= read


@pytest.mark.parametrize(
    ("name", "max_length", "precision", "scale", "expected"),
    [
        ("nvarchar", 100, 0, 0, "nvarchar(50)"),
        ("nvarchar", -1, 0, 0, "nvarchar(max)"),
        ("varchar", 20, 0, 0, "varchar(20)"),
        ("varbinary", -1, 0, 0, "varbinary(max)"),
        ("decimal", 9, 10, 2, "decimal(10,2)"),
        ("datetime2", 8, 27, 7, "datetime2"),
        ("datetime2", 7, 23, 3, "datetime2(3)"),
        ("int", 4, 10, 0, "int"),
    ],
)
def test_types_are_spelled_as_sql_server_does(name: str, max_length: int, precision: int, scale: int, expected: str) -> None:
    assert format_type(name, max_length, precision, scale) == expected


def test_types_normalize_including_alias_types() -> None:
    assert normalize_type("bigint") == "integer"
    assert normalize_type("bit") == "boolean"
    assert normalize_type("money") == "decimal"
    assert normalize_type("nvarchar(50)") == "string"
    assert normalize_type("datetimeoffset") == "timestamp_tz"
    assert normalize_type("uniqueidentifier") == "uuid"
    assert normalize_type("rowversion") == "binary"
    assert normalize_type("Phone", "varchar") == "string"  # CREATE TYPE Phone FROM varchar(20)
    assert normalize_type("hierarchyid") == "other"
    assert result_type_name(int) == "int" and result_type_name(str) == "nvarchar"

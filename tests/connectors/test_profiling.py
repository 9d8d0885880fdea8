"""The shared profiler without a server: the SQL it writes for every dialect, its sampling choices, and the semantic
hints. (Its execution on a real server is covered by test_postgres_profile.py; this file needs no service.)"""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from connectors.catalog import Column, TableRef
from connectors.profiling import (
    SAMPLING_POLICIES,
    SamplingPolicy,
    choose_sample_method,
    profile_table,
    sample_query,
    semantic_hint,
    stats_query,
    top_values_query,
)
from connectors.results import QueryResult, ResultColumn

COLUMNS = [
    Column(ordinal=1, name="id", data_type="integer", normalized_type="integer"),
    Column(ordinal=2, name="Email Address", data_type="text", normalized_type="string"),
    Column(ordinal=3, name="payload", data_type="jsonb", normalized_type="json"),
    Column(ordinal=4, name="photo", data_type="bytea", normalized_type="binary"),
    Column(ordinal=5, name="created_at", data_type="timestamp", normalized_type="timestamp"),
]
TABLE = TableRef(name="Orders", schema="Sales", database="Shop")


@pytest.mark.parametrize("dialect", sorted(SAMPLING_POLICIES))
@pytest.mark.parametrize("method", ["full", "tablesample", "random_filter", "limit"])
def test_generated_sql_parses_in_its_dialect(dialect: str, method: str) -> None:
    policy = SAMPLING_POLICIES[dialect]
    sample = sample_query(TABLE, COLUMNS, method=method, row_estimate=10_000_000, sample_size=1000, policy=policy)
    stats_sql = stats_query(COLUMNS, sample, policy).sql(dialect=dialect)
    top = top_values_query(COLUMNS, sample, 5, policy)
    assert top is not None
    top_sql = top.sql(dialect=dialect)
    if dialect == "redshift":
        assert "VARCHAR(MAX)" not in top_sql.upper()
    for sql in (stats_sql, top_sql):
        parsed = sqlglot.parse_one(sql, read=dialect)  # raises on SQL the dialect cannot read back
        assert isinstance(parsed, exp.Query)
        assert parsed.find(exp.Table).name in ("Orders", "sample_rows")
    # quoted identifiers survive: mixed case and spaces
    assert "Email Address" in stats_sql
    if method in ("tablesample",) and policy.tablesample:
        assert "TABLESAMPLE" in stats_sql.upper()
    if method == "random_filter":
        assert ("RAND()" in stats_sql.upper()) or ("RANDOM()" in stats_sql.upper())


def test_stats_only_ask_what_each_type_supports() -> None:
    policy = SAMPLING_POLICIES["postgres"]
    sample = sample_query(TABLE, COLUMNS, method="full", row_estimate=10, sample_size=1000, policy=policy)
    sql = stats_query(COLUMNS, sample, policy).sql("postgres")
    assert "c1_len" in sql and "c0_len" not in sql  # text length only for strings
    assert "c2_min" not in sql and "c2_nd" not in sql  # json: no ordering, no equality in PostgreSQL
    assert "c3_min" not in sql and "c4_min" in sql
    top = top_values_query(COLUMNS, sample, 3)
    assert top is not None and "CAST(c3" not in top.sql("postgres") and "CAST(c2" in top.sql("postgres")  # no top values for binary


def test_postgres_sampling_is_seeded_and_scaled() -> None:
    policy = SAMPLING_POLICIES["postgres"]
    medium = sample_query(TABLE, COLUMNS[:1], method="tablesample", row_estimate=1_000_000, sample_size=10_000, policy=policy)
    assert medium.sql("postgres").endswith('TABLESAMPLE BERNOULLI (1.0) REPEATABLE (42) LIMIT 20000')
    huge = sample_query(TABLE, COLUMNS[:1], method="tablesample", row_estimate=100_000_000, sample_size=10_000, policy=policy)
    assert "TABLESAMPLE SYSTEM (0.01) REPEATABLE (42)" in huge.sql("postgres")


@pytest.mark.parametrize(
    ("kind", "estimate", "policy", "expected"),
    [
        ("table", 500, SamplingPolicy(), "full"),
        ("table", 10_000, SamplingPolicy(), "full"),
        ("table", 10_001, SamplingPolicy(), "tablesample"),
        ("table", 10_001, SamplingPolicy(tablesample=False), "random_filter"),
        ("table", None, SamplingPolicy(), "limit"),
        ("view", 50_000, SamplingPolicy(), "limit"),
        ("materialized_view", 50_000, SamplingPolicy(), "tablesample"),
    ],
)
def test_sample_method_choice(kind: Any, estimate: int | None, policy: SamplingPolicy, expected: str) -> None:
    assert choose_sample_method(kind, estimate, 10_000, policy) == expected


@pytest.mark.parametrize(
    ("name", "type_", "non_null", "distinct", "values", "pk", "expected"),
    [
        ("id", "integer", 100, 100, [1, 2, 3], True, "identifier"),
        ("customer_id", "integer", 100, 40, [7, 9], False, "identifier"),
        ("StuID", "integer", 100, 100, [1001, 1002], False, "identifier"),
        ("external_ref", "uuid", 10, 10, [], False, "identifier"),
        ("contact", "string", 100, 98, ["a@example.com", "b.c@shop.co.uk", "x@y.org"], False, "email"),
        ("homepage", "string", 100, 90, ["https://a.io/x", "http://b.com", "www.c.org"], False, "url"),
        ("blob", "string", 100, 90, ['{"a": 1}', "[1, 2]", '{"b": null}'], False, "json"),
        ("attrs", "json", 100, None, [], False, "json"),
        ("when_text", "string", 100, 90, ["1975-05-20 22:51:19", "2012-04-05", "2001-01-01T10:00"], False, "datetime"),
        ("born", "date", 100, 90, [], False, "datetime"),
        ("status", "string", 1000, 4, ["new", "paid", "shipped", "lost"], False, "enum"),
        ("Cylinders", "integer", 400, 5, [4, 8, 6], False, "enum"),
        ("price", "decimal", 100, 80, [1.5], False, "numeric"),
        ("weight", "integer", 400, 356, [1985], False, "numeric"),
        ("notes", "string", 100, 95, ["hello there", "general remarks"], False, "text"),
        ("active", "boolean", 100, 2, [True, False], False, "boolean"),
        ("shape", "geography", 100, None, [], False, "other"),
    ],
)
def test_semantic_hints(name: str, type_: Any, non_null: int, distinct: int | None, values: list[Any], pk: bool, expected: str) -> None:
    assert semantic_hint(name, type_, non_null=non_null, distinct=distinct, values=values, primary_key=pk) == expected


def test_two_statements_whatever_the_column_count() -> None:
    """The profiler's round trips: one statistics statement and one top-values statement for all columns."""
    sent: list[tuple[str, int]] = []
    many = [Column(ordinal=i, name=f"col{i}", data_type="integer", normalized_type="integer") for i in range(1, 41)]

    def fake_query(sql: str, max_rows: int, timeout: float) -> QueryResult:
        sent.append((sql, max_rows))
        if len(sent) == 1:
            names = ["n"] + [f"c{i}_{s}" for i in range(40) for s in ("nn", "nd", "min", "max")]
            values = [10] + [v for _ in range(40) for v in (10, 3, 1, 3)]
            return QueryResult(columns=[ResultColumn(name=n, type="int8") for n in names], rows=[values], row_count=1, truncated=False, elapsed_ms=1)
        rows = [[i, str(v), 4 - v] for i in range(40) for v in (1, 2, 3)]
        return QueryResult(columns=[ResultColumn(name=n, type="text") for n in ("i", "v", "n")], rows=rows, row_count=len(rows), truncated=False, elapsed_ms=1)

    profile = profile_table(fake_query, "postgres", TABLE, many, row_estimate=10)
    assert len(sent) == 2
    assert sent[1][1] == 5 * 40  # top values: max_rows covers top_k for every column
    assert profile.sample_method == "full" and profile.row_count == 10 and profile.sampled_rows == 10
    col = profile.columns[7]
    assert (col.null_fraction, col.distinct_count, col.min, col.max) == (0.0, 3, 1, 3)
    assert [(v.value, v.count) for v in col.top_values] == [(1, 3), (2, 2), (3, 1)]  # ints again, not text
    assert col.semantic_hint == "enum"


def test_sample_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sample_size"):
        profile_table(lambda *a: None, "postgres", TABLE, COLUMNS, sample_size=0)  # type: ignore[arg-type,return-value]

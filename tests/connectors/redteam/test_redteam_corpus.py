"""The red-team corpus through the guard: every attack refused, every analyst query accepted.

The corpus (`corpus.py`) is data; `test_redteam_live.py` runs the PostgreSQL, MariaDB and DuckDB attacks against canary
databases. Here no server is involved: the guard decides on the text alone.
"""

from __future__ import annotations

import collections
import logging

import pytest

from connectors import QueryError, ReadOnlyViolation
from connectors.sql_guard import SUPPORTED_DIALECTS, check_read_only
from tests.connectors.redteam.corpus import CLASSES, CORPUS, HARMLESS_KEYWORD_ALIASES, Attack


@pytest.fixture(autouse=True)
def _quiet_sqlglot() -> None:
    logging.getLogger("sqlglot").setLevel(logging.ERROR)


def refusal(attack: Attack, timeout: float = 10) -> Exception | None:
    """The guard's refusal of an attack, or None when it let the statement through."""
    try:
        check_read_only(attack.sql, attack.dialect, timeout=timeout)
    except (ReadOnlyViolation, QueryError) as exc:
        return exc
    return None


@pytest.mark.parametrize("attack", CORPUS, ids=[f"{a.dialect}:{a.klass}:{a.sql[:60]}" for a in CORPUS])
def test_every_attack_is_refused_before_it_reaches_a_server(attack: Attack) -> None:
    error = refusal(attack)
    assert error is not None, f"the guard let through {attack.sql!r} ({attack.intent})"
    if isinstance(error, ReadOnlyViolation):
        assert error.message.startswith("read-only violation: ") and error.construct
    else:  # a statement the guard cannot read is refused too, as unparseable, never run
        assert error.code == "unparseable_sql"


def test_corpus_has_250_attacks_over_every_dialect_and_class() -> None:
    assert len(CORPUS) >= 250
    assert {a.dialect for a in CORPUS} == set(SUPPORTED_DIALECTS)
    assert {a.klass for a in CORPUS} == set(CLASSES)
    assert all(a.expected == "refused" for a in CORPUS)
    per_dialect = collections.Counter(a.dialect for a in CORPUS)
    assert min(per_dialect.values()) >= 10, per_dialect
    assert len({(a.dialect, a.sql) for a in CORPUS}) == len(CORPUS), "duplicate attacks"


def test_most_refusals_name_a_write_or_side_effect_rather_than_a_parse_failure() -> None:
    errors = [refusal(a) for a in CORPUS]
    violations = sum(isinstance(e, ReadOnlyViolation) for e in errors)
    assert violations >= 0.97 * len(CORPUS)


@pytest.mark.parametrize(("dialect", "sql"), HARMLESS_KEYWORD_ALIASES)
def test_keyword_alias_is_one_statement_where_statements_need_a_separator(dialect: str, sql: str) -> None:
    assert check_read_only(sql, dialect, timeout=10) == sql


ANALYST_QUERIES: dict[str, list[str]] = {
"postgres": ["SELECT date_trunc('month', now()), to_char(now(), 'YYYY'), extract(year from now()), coalesce(null, 1), length('x'), lower('A'), upper('a'), substr('abc', 1, 2), round(1.23, 1), abs(-1)",
  "SELECT count(*) FILTER (WHERE id > 1), percentile_cont(0.5) WITHIN GROUP (ORDER BY id), string_agg(v, ','), array_agg(id), json_agg(v) FROM canary",
  "SELECT id, row_number() OVER (PARTITION BY v ORDER BY id), lag(id) OVER (ORDER BY id), sum(id) OVER () FROM canary",
  "SELECT * FROM generate_series(1, 10) g, unnest(ARRAY[1,2]) u",
  "SELECT jsonb_build_object('a', 1) ->> 'a', '{\"a\":1}'::jsonb -> 'a', regexp_replace('a', 'a', 'b'), split_part('a,b', ',', 1), concat_ws(',', 'a')",
  "SELECT pg_catalog.lower('A'), format_type(23, NULL), current_setting('search_path'), version(), pg_size_pretty(pg_total_relation_size('canary'))",
  "SELECT ARRAY(SELECT id FROM canary)", "SELECT U&\"\\006cower\"('A')", "SELECT \"lower\"('A')", "SELECT greatest(1,2), least(1,2), nullif(1,1), now() - interval '1 day', age(now()), make_date(2020,1,1), date_part('year', now())",
  "SELECT CASE WHEN id > 1 THEN 'a' ELSE 'b' END, CAST(id AS text), id::text, EXISTS (SELECT 1) FROM canary",
  "SELECT md5('x'), gen_random_uuid(), random(), trunc(1.5), mod(5, 2), power(2, 3), sqrt(4), ln(1), exp(1), floor(1.5), ceil(1.5), width_bucket(5, 0, 10, 5)",
  "SELECT to_date('2020-01-01', 'YYYY-MM-DD'), to_timestamp(0), to_number('1', '9'), left('abc', 1), right('abc', 1), position('b' in 'abc'), trim(' a '), replace('a','a','b'), reverse('ab'), initcap('ab'), lpad('a', 3), btrim(' a ')",
  "SELECT avg(id), min(id), max(id), stddev(id), variance(id), bool_and(true), every(true), mode() WITHIN GROUP (ORDER BY id) FROM canary",
  ],
"mysql": ["SELECT DATE_FORMAT(NOW(), '%Y'), YEAR(NOW()), MONTH(CURDATE()), DATEDIFF(NOW(), NOW()), IFNULL(NULL, 1), IF(1, 2, 3), CONCAT('a', 'b'), GROUP_CONCAT(v), COUNT(DISTINCT id) FROM canary",
  "SELECT JSON_EXTRACT('{\"a\":1}', '$.a'), SUBSTRING_INDEX('a.b', '.', 1), LEFT('ab', 1), ROUND(1.5), TRUNCATE(1.5, 0), CAST(1 AS CHAR), CONVERT('1', SIGNED), STR_TO_DATE('2020-01-01', '%Y-%m-%d'), LAST_INSERT_ID(), DATABASE(), VERSION(), @@version, @v",
  "SELECT id, ROW_NUMBER() OVER (ORDER BY id), RANK() OVER w FROM canary WINDOW w AS (ORDER BY id)", "SELECT SLEEP(0.5)", "SHOW TABLES", "SHOW FULL COLUMNS FROM canary", "DESCRIBE canary", "EXPLAIN SELECT * FROM canary",
  "SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM canary", "SELECT UNIX_TIMESTAMP(), FROM_UNIXTIME(0), TIMESTAMPDIFF(DAY, NOW(), NOW()), DATE_ADD(NOW(), INTERVAL 1 DAY), LOWER('A'), UPPER('a'), LENGTH('a'), CHAR_LENGTH('a'), REPLACE('a','a','b'), LPAD('a', 2, '0'), MD5('a'), UUID(), RAND()"],
"duckdb": ["SELECT strftime(now(), '%Y'), date_trunc('month', now()), list_value(1, 2), range(3), regexp_matches('a', 'a'), epoch(now()), count(*) FROM canary",
  "FROM canary SELECT id, v", "SELECT * FROM duckdb_tables()", "SELECT * FROM generate_series(1, 3)", "SELECT [x * 2 FOR x IN [1, 2]]", "SELECT struct_pack(a := 1), {'a': 1}, map([1], [2])", "DESCRIBE canary", "SHOW TABLES", "SELECT approx_count_distinct(id), median(id), quantile_cont(id, 0.5), string_agg(v, ',') FROM canary",
  "SELECT * FROM canary USING SAMPLE 10%", "SELECT arg_max(id, v), list(id), first(id), mode(id) FROM canary", "PIVOT canary ON v USING count(*)"],
"tsql": ["SELECT TOP 10 GETDATE(), ISNULL(NULL, 1), DATEADD(day, 1, GETDATE()), LEN('a'), CHARINDEX('a', 'ab'), FORMAT(GETDATE(), 'yyyy'), NEWID(), OBJECT_ID('t'), CONVERT(VARCHAR(10), 1), IIF(1=1, 1, 0) FROM canary WITH (NOLOCK)",
  "SELECT id, ROW_NUMBER() OVER (ORDER BY id) FROM canary ORDER BY id OFFSET 0 ROWS FETCH NEXT 10 ROWS ONLY", "SELECT [delete], [commit] FROM [canary]", "SELECT 1 AS [delete]", "SELECT 1 AS \"commit\"", "SELECT COUNT_BIG(*), STRING_AGG(v, ',') FROM canary", "SELECT * FROM canary FOR JSON AUTO", "SELECT YEAR(GETDATE()), DATEDIFF(day, GETDATE(), GETDATE()), DATENAME(month, GETDATE()), EOMONTH(GETDATE())"],
"snowflake": ["SELECT DATEADD(day, 1, CURRENT_DATE()), IFF(1 = 1, 1, 0), TO_VARCHAR(1), LISTAGG(v, ','), ARRAY_AGG(id), OBJECT_CONSTRUCT('a', 1), PARSE_JSON('{}'), SPLIT_PART('a,b', ',', 1), ZEROIFNULL(NULL), NVL(NULL, 1) FROM canary",
  "SELECT * FROM TABLE(FLATTEN(INPUT => PARSE_JSON('[1,2]')))", "SELECT SEQ4(), UUID_STRING(), RANDOM() FROM TABLE(GENERATOR(ROWCOUNT => 10))", "SELECT SYSTEM$TYPEOF(1)", "SELECT SYSTEM$WAIT(1)", "SELECT \"LOWER\"('A')", "SELECT v:a::string FROM canary", "SELECT CURRENT_WAREHOUSE(), CURRENT_ROLE(), LAST_QUERY_ID()"],
"bigquery": ["SELECT DATE_TRUNC(CURRENT_DATE(), MONTH), FORMAT_DATE('%Y', CURRENT_DATE()), SAFE_CAST('1' AS INT64), ARRAY_LENGTH([1]), SAFE.SUBSTR('abc', 1), NET.HOST('http://a.b'), COUNTIF(true), APPROX_COUNT_DISTINCT(1), STRING_AGG('a')",
  "SELECT * FROM UNNEST([1, 2]) AS x", "SELECT HLL_COUNT.MERGE(s) FROM (SELECT HLL_COUNT.INIT(1) s)", "SELECT REGEXP_CONTAINS('a', r'a'), JSON_VALUE('{}', '$.a'), GENERATE_UUID(), TIMESTAMP_TRUNC(CURRENT_TIMESTAMP(), DAY), PARSE_DATE('%Y', '2020')"],
"databricks": ["SELECT date_format(now(), 'y'), collect_list(id), explode(array(1, 2)), uuid(), current_user(), date_add(now(), 1), nvl(null, 1), size(array(1)), get_json_object('{}', '$.a'), regexp_extract('a', 'a', 0) FROM canary GROUP BY 3",
  "SELECT * FROM range(10)", "SELECT * FROM canary VERSION AS OF 3", "DESCRIBE HISTORY canary", "SELECT percentile_approx(id, 0.5), approx_count_distinct(id), count_if(id > 1), any_value(v) FROM canary"],
"redshift": ["SELECT listagg(v, ',') WITHIN GROUP (ORDER BY v), getdate(), convert_timezone('UTC', getdate()), nvl(1, 2), median(id), dateadd(day, 1, getdate()), datediff(day, getdate(), getdate()) FROM canary", "SELECT * FROM canary WHERE random() < 0.1"],
}


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [(d, q) for d, qs in ANALYST_QUERIES.items() for q in qs],
    ids=[f"{d}:{q[:50]}" for d, qs in ANALYST_QUERIES.items() for q in qs],
)
def test_analyst_queries_with_many_builtins_are_accepted(dialect: str, sql: str) -> None:
    assert check_read_only(sql, dialect, timeout=60) == sql

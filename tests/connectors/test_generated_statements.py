"""The profiler's own statements skip the SQL guard on PostgreSQL, and nothing else does.

`connectors.profiling.GeneratedQuery` is a sqlglot SELECT tree the profiler built from catalog identifiers it quoted
itself; `PostgresConnector.run_generated` runs one without the guard's parse. What is proved, against the real
PostgreSQL: `query()` (the path every outside statement takes) still passes the guard, even with the profiler's own
SQL as text; `run_generated` refuses a string, a tree wrapped by anyone but the profiler, and a statement that is not a
SELECT; a profile never calls the guard, quotes a hostile table name so it stays a name, and pushes its row limit.
"""

from __future__ import annotations

from typing import Any, Iterator

from psycopg import sql as pgsql
import pytest
import sqlglot

from connectors import ReadOnlyViolation, TableRef
from connectors.catalog import Column
from connectors.postgres import PostgresConnector
from connectors.profiling import GeneratedQuery, generated, sample_query, stats_query, top_values_query, SAMPLING_POLICIES
from tests.connectors.postgres_fixtures import admin_connection, pg_connector, pg_credentials  # noqa: F401 (fixtures)

pytestmark = pytest.mark.postgres

SCHEMA = "tgs_generated"
#: a table name that would end the statement and drop another table if it were pasted into SQL unquoted
HOSTILE = 'x"; DROP TABLE tgs_generated.keep; --'


@pytest.fixture(scope="module")
def tables(postgres_url: str) -> Iterator[str]:
    admin = admin_connection(postgres_url)
    try:
        admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        admin.execute(f"CREATE SCHEMA {SCHEMA}")
        admin.execute(f"CREATE TABLE {SCHEMA}.keep (id int)")
        quoted = pgsql.Identifier(SCHEMA, HOSTILE).as_string(admin)
        admin.execute(f"CREATE TABLE {quoted} AS SELECT g AS id, 'v' || (g % 3) AS label FROM generate_series(1, 30) g")
        admin.execute(f"ANALYZE {quoted}")
        yield SCHEMA
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        admin.close()


def _statement() -> Any:
    columns = [Column(ordinal=1, name="id", data_type="integer", normalized_type="integer")]
    policy = SAMPLING_POLICIES["postgres"]
    sample = sample_query(TableRef(name=HOSTILE, schema=SCHEMA), columns, method="full", row_estimate=30, sample_size=100, policy=policy)
    return stats_query(columns, sample, policy)


def test_query_keeps_the_guard_even_for_the_profilers_own_sql(pg_connector: PostgresConnector, tables: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReadOnlyViolation):
        pg_connector.query(f"DELETE FROM {SCHEMA}.keep")
    calls: list[str] = []
    real_guard = pg_connector.guard

    def counting_guard(sql: str, timeout: float | None = None) -> str:
        calls.append(sql)
        return real_guard(sql, timeout)

    monkeypatch.setattr(pg_connector, "guard", counting_guard)
    text = _statement().sql(dialect="postgres")
    assert pg_connector.query(text).rows[0][0] == 30
    assert calls == [text]  # a string is outside SQL, whoever wrote it: checked


def test_the_internal_path_takes_nothing_but_a_profiler_built_select(pg_connector: PostgresConnector, tables: str) -> None:
    with pytest.raises(TypeError):
        pg_connector.run_generated(f"DELETE FROM {SCHEMA}.keep", 10, 5.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        GeneratedQuery(_statement(), object())  # only connectors.profiling mints one
    with pytest.raises(TypeError):
        generated(sqlglot.parse_one(f"DELETE FROM {SCHEMA}.keep", read="postgres"))  # type: ignore[arg-type]

    class Lookalike(GeneratedQuery):
        pass

    forged = object.__new__(Lookalike)
    object.__setattr__(forged, "tree", sqlglot.parse_one("SELECT 1", read="postgres"))
    object.__setattr__(forged, "_mint", None)
    with pytest.raises(TypeError):
        pg_connector.run_generated(forged, 10, 5.0)
    assert pg_connector.run_generated(generated(_statement()), 1, 5.0).rows[0][0] == 30


def test_a_profile_never_calls_the_guard_and_keeps_a_hostile_name_a_name(
    pg_connector: PostgresConnector, tables: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_guard(sql: str, timeout: float | None = None) -> str:
        raise AssertionError(f"the guard was asked about {sql[:80]}")

    monkeypatch.setattr(pg_connector, "guard", no_guard)
    profile = pg_connector.profile(TableRef(name=HOSTILE, schema=SCHEMA))
    assert profile.table == HOSTILE and profile.sampled_rows == 30
    label = {c.name: c for c in profile.columns}["label"]
    assert label.distinct_count == 3 and [v.count for v in label.top_values] == [10, 10, 10]
    admin = admin_connection(postgres_url)
    try:  # the name's `DROP TABLE` stayed inside the quoted identifier
        assert admin.execute(f"SELECT to_regclass('{SCHEMA}.keep') IS NOT NULL").fetchone() == (True,)
    finally:
        admin.close()


def test_the_row_limit_is_pushed_onto_a_generated_statement(pg_connector: PostgresConnector, tables: str) -> None:
    columns = [Column(ordinal=1, name="id", data_type="integer", normalized_type="integer")]
    policy = SAMPLING_POLICIES["postgres"]
    sample = sample_query(TableRef(name=HOSTILE, schema=SCHEMA), columns, method="full", row_estimate=30, sample_size=100, policy=policy)
    statement = top_values_query(columns, sample, 30, policy)
    assert statement is not None
    result = pg_connector.run_generated(generated(statement), 7, 5.0)
    assert result.row_count == 7 and result.truncated  # 30 distinct ids, 7 asked for: cut, and said so

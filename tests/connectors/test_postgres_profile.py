"""PostgreSQL `profile()` on spider-dev tables, checked against the same data in the SQLite files (the oracle), and
TABLESAMPLE on a table larger than the sample."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterator

import pytest

from connectors import NotFoundError, QueryError, TableRef
from connectors.postgres import PostgresConnector
from tests.connectors.postgres_fixtures import (  # noqa: F401  (fixtures)
    admin_connection,
    pg_connector,
    pg_credentials,
    spider_pg,
)
from tests.connectors.spider_loader import SPIDER_DEV_DIR

pytestmark = pytest.mark.postgres


def _sqlite(db: str, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{SPIDER_DEV_DIR / 'sqlite' / f'{db}.sqlite'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_small_table_is_profiled_whole_and_matches_the_source(pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    profile = pg_connector.profile("cpg_car_1.cars_data", sample_size=10_000)
    (rows,) = _sqlite("car_1", "SELECT count(*) FROM cars_data")[0]
    assert profile.sample_method == "full" and profile.row_count == rows and profile.sampled_rows == rows
    assert (profile.schema_, profile.table) == ("cpg_car_1", "cars_data")
    cols = {c.name: c for c in profile.columns}
    assert list(cols) == ["Id", "MPG", "Cylinders", "Edispl", "Horsepower", "Weight", "Accelerate", "Year"]

    distinct, low, high = _sqlite("car_1", "SELECT count(DISTINCT Cylinders), min(Cylinders), max(Cylinders) FROM cars_data")[0]
    cyl = cols["Cylinders"]
    assert (cyl.distinct_count, cyl.min, cyl.max, cyl.null_fraction) == (distinct, low, high, 0.0)
    top = _sqlite("car_1", "SELECT Cylinders, count(*) c FROM cars_data GROUP BY 1 ORDER BY c DESC, 1 LIMIT 5")
    assert [(v.value, v.count) for v in cyl.top_values] == [(v, c) for v, c in top]
    assert cyl.semantic_hint == "enum"
    assert cols["Id"].semantic_hint == "identifier"
    assert cols["Weight"].semantic_hint == "numeric"

    (avg_len,) = _sqlite("car_1", "SELECT avg(length(Horsepower)) FROM cars_data")[0]
    assert cols["Horsepower"].avg_length == pytest.approx(avg_len, abs=1e-3)
    assert cols["Horsepower"].normalized_type == "string" and cols["Horsepower"].min is not None


def test_nulls_and_dates(pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    profile = pg_connector.profile(TableRef(name="players", schema="cpg_wta_1"), sample_size=50_000)
    assert profile.sample_method == "full"
    birth = {c.name: c for c in profile.columns}["birth_date"]
    # the loader turned SQLite's 'NULL' strings and unparsable dates into NULLs
    (total, nulls) = _sqlite(
        "wta_1", "SELECT count(*), sum(typeof(birth_date) <> 'integer') FROM players"
    )[0]
    assert birth.null_fraction == pytest.approx(nulls / total, abs=1e-6)
    assert birth.semantic_hint == "datetime" and birth.normalized_type == "date"
    assert str(birth.min) == "1918-10-14" and str(birth.max) == "2003-06-20"


def test_big_table_is_sampled_with_tablesample(pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    profile = pg_connector.profile("cpg_wta_1.players", sample_size=2_000)
    assert profile.sample_method == "tablesample"
    assert profile.row_count is not None and profile.row_count > 20_000  # the catalog estimate
    assert 1_000 <= profile.sampled_rows <= 4_000  # BERNOULLI at ~10%: about 2,000 rows
    again = pg_connector.profile("cpg_wta_1.players", sample_size=2_000)
    assert again.sampled_rows == profile.sampled_rows  # REPEATABLE seed: the same sample twice
    hand = {c.name: c for c in profile.columns}["hand"]
    ((most_common,),) = _sqlite("wta_1", "SELECT hand FROM players GROUP BY hand ORDER BY count(*) DESC LIMIT 1")
    assert hand.semantic_hint == "enum" and hand.top_values[0].value == most_common


@pytest.fixture
def view_and_mixed(postgres_url: str) -> Iterator[str]:
    admin = admin_connection(postgres_url)
    admin.execute("DROP SCHEMA IF EXISTS cpg_profile CASCADE")
    admin.execute("CREATE SCHEMA cpg_profile")
    admin.execute(
        """CREATE TABLE cpg_profile."Mixed Case" (
               id int PRIMARY KEY, email text, site text, doc jsonb, flag boolean, raw bytea)"""
    )
    admin.execute(
        """INSERT INTO cpg_profile."Mixed Case"
           SELECT g, 'user' || g || '@example.com', 'https://example.com/' || g, jsonb_build_object('g', g),
                  g % 2 = 0, '\\x00'::bytea
             FROM generate_series(1, 300) g"""
    )
    admin.execute('CREATE VIEW cpg_profile.even AS SELECT * FROM cpg_profile."Mixed Case" WHERE flag')
    try:
        yield "cpg_profile"
    finally:
        admin.execute("DROP SCHEMA IF EXISTS cpg_profile CASCADE")
        admin.close()


def test_semantic_hints_on_real_values(pg_connector: PostgresConnector, view_and_mixed: str) -> None:
    profile = pg_connector.profile('cpg_profile."Mixed Case"')
    hints = {c.name: c.semantic_hint for c in profile.columns}
    assert hints == {"id": "identifier", "email": "email", "site": "url", "doc": "json", "flag": "boolean", "raw": "other"}
    flag = {c.name: c for c in profile.columns}["flag"]
    assert sorted((v.value, v.count) for v in flag.top_values) == [(False, 150), (True, 150)]


def test_views_are_profiled_with_a_limit(pg_connector: PostgresConnector, view_and_mixed: str) -> None:
    profile = pg_connector.profile("cpg_profile.even", sample_size=100)
    assert profile.sample_method == "limit" and profile.sampled_rows == 100


def test_unknown_table_is_not_found(pg_connector: PostgresConnector) -> None:
    with pytest.raises(NotFoundError):
        pg_connector.profile("cpg_nowhere.nothing")


def test_table_name_must_parse(pg_connector: PostgresConnector) -> None:
    with pytest.raises(QueryError):
        pg_connector.profile("a.b.c.d")
    with pytest.raises(NotFoundError, match="other_db"):
        pg_connector.profile(TableRef(name="players", schema="cpg_wta_1", database="other_db"))


def test_empty_table_profile(pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    """wta_1.rankings is empty in spider-dev: one statement, no top values, fractions unknown rather than 0/0."""
    profile = pg_connector.profile("cpg_wta_1.rankings")
    assert (profile.sample_method, profile.row_count, profile.sampled_rows) == ("full", 0, 0)
    assert all(c.null_fraction is None and c.top_values == [] for c in profile.columns)

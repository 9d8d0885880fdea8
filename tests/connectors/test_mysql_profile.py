"""MySQLConnector.profile() on spider tables in MariaDB, checked against the server's own aggregates."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest

from connectors import NotFoundError, QueryError, TableRef, connect
from tests.connectors.mysql_support import mysql_admin, mysql_tester, spider_mysql  # noqa: F401 - fixtures

pytestmark = pytest.mark.mysql


def _rows(admin: pymysql.Connection, sql: str) -> list[tuple[Any, ...]]:
    with admin.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def test_small_table_is_profiled_whole_and_matches_the_server(mysql_tester, mysql_admin, spider_mysql):
    with connect(mysql_tester) as conn:  # default database cmy_car_1
        profile = conn.profile("cars_data")
    total, distinct_cyl, min_w, max_w = _rows(
        mysql_admin, "SELECT COUNT(*), COUNT(DISTINCT Cylinders), MIN(Weight), MAX(Weight) FROM cmy_car_1.cars_data"
    )[0]
    assert profile.sample_method == "full" and profile.sampled_rows == total
    assert profile.schema_ == "cmy_car_1" and profile.table == "cars_data"
    columns = {c.name: c for c in profile.columns}
    assert list(columns) == ["Id", "MPG", "Cylinders", "Edispl", "Horsepower", "Weight", "Accelerate", "Year"]
    assert columns["Cylinders"].distinct_count == distinct_cyl
    assert (columns["Weight"].min, columns["Weight"].max) == (min_w, max_w)
    assert columns["Id"].distinct_count == total and columns["Id"].null_fraction == 0.0
    top = _rows(mysql_admin, "SELECT Cylinders, COUNT(*) c FROM cmy_car_1.cars_data GROUP BY Cylinders ORDER BY c DESC LIMIT 1")[0]
    assert (columns["Cylinders"].top_values[0].value, columns["Cylinders"].top_values[0].count) == top
    assert columns["MPG"].normalized_type == "string" and columns["MPG"].avg_length is not None
    assert columns["Id"].semantic_hint == "identifier"


def test_large_table_is_sampled_with_a_random_filter(mysql_tester, spider_mysql):
    with connect(mysql_tester) as conn:
        profile = conn.profile(TableRef(schema="cmy_wta_1", name="players"), sample_size=1000)
    assert profile.sample_method == "random_filter"
    assert 300 < profile.sampled_rows <= 2000  # ~1000 expected; capped at twice the target
    hand = next(c for c in profile.columns if c.name == "hand")
    assert hand.distinct_count is not None and hand.distinct_count <= 5
    assert hand.top_values and hand.top_values[0].count > 0


def test_table_names_accept_database_dot_table_and_database_refs(mysql_tester, spider_mysql):
    with connect(mysql_tester) as conn:
        dotted = conn.profile("`cmy_pets_1`.`Pets`")
        by_database = conn.profile(TableRef(database="cmy_pets_1", name="Pets"))
    assert dotted.schema_ == by_database.schema_ == "cmy_pets_1"
    assert dotted.sampled_rows == by_database.sampled_rows > 0


def test_missing_table_is_not_found_and_bad_names_are_rejected(mysql_tester, spider_mysql):
    with connect(mysql_tester) as conn:
        with pytest.raises(NotFoundError):
            conn.profile("no_such_table")
        with pytest.raises(NotFoundError):
            conn.profile("cmy_no_such_db.cars_data")
        with pytest.raises(QueryError) as info:
            conn.profile("a.b.c.d")
        assert info.value.code == "invalid_argument"

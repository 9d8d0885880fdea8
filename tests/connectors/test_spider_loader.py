"""The spider-dev loader: every table, key and row of the SQLite files and MySQL DDL arrives in PostgreSQL.

(The loader is generic over a SQLAlchemy URL; the MySQL tests use it for MariaDB with their own prefix.)
"""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from tests.connectors.postgres_fixtures import SPIDER_PREFIX, spider_pg  # noqa: F401  (fixture)
from tests.connectors.spider_loader import SPIDER_DATABASES, SPIDER_DEV_DIR, parse_spider_ddl, schema_name

pytestmark = pytest.mark.postgres


def test_ddl_parses_into_tables_and_keys() -> None:
    tables = {t.name: t for t in parse_spider_ddl("flight_2")}
    assert list(tables) == ["airlines", "airports", "flights"]
    assert tables["flights"].primary_key == ["Airline", "FlightNo"]
    assert [(fk.columns, fk.referred_table, fk.referred_columns) for fk in tables["flights"].foreign_keys] == [
        (["DestAirport"], "airports", ["AirportCode"]),
        (["SourceAirport"], "airports", ["AirportCode"]),
    ]
    car = {t.name: t for t in parse_spider_ddl("car_1")}
    assert car["model_list"].unique == [["Model"]]


@pytest.mark.parametrize("database", SPIDER_DATABASES)
def test_every_row_is_loaded(database: str, spider_pg: list[str], postgres_url: str) -> None:
    schema = schema_name(SPIDER_PREFIX, database)
    source = sqlite3.connect(f"file:{SPIDER_DEV_DIR / 'sqlite' / f'{database}.sqlite'}?mode=ro", uri=True)
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            for table in parse_spider_ddl(database):
                (expected,) = source.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()
                loaded = conn.execute(sa.text(f'SELECT count(*) FROM "{schema}"."{table.name}"')).scalar_one()
                assert loaded == expected, f"{schema}.{table.name}"
    finally:
        source.close()
        engine.dispose()

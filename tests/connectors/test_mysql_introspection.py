"""MySQL/MariaDB introspection against the real MariaDB: spider-dev compared with SQLAlchemy's Inspector as the oracle,
MariaDB column details (quoted defaults, JSON as longtext + CHECK, generated columns, booleans), views, comments,
filters, and round trips that do not grow with the number of tables."""

from __future__ import annotations

from typing import Any, Iterator

import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql as mysql_types

from connectors import CatalogFilters, connect
from connectors.catalog import Catalog, NormalizedType
from tests.connectors.mysql_support import (  # noqa: F401 - fixtures
    PREFIX,
    mysql_admin,
    mysql_root_credentials,
    mysql_tester,
    spider_mysql,
)
from tests.connectors.spider_loader import SPIDER_DATABASES, schema_name

pytestmark = pytest.mark.mysql

SPIDER_SCHEMAS = [schema_name(PREFIX, db) for db in SPIDER_DATABASES]


def sqlalchemy_normalized(type_: sa.types.TypeEngine[Any]) -> NormalizedType:
    """The oracle side of 'types agree after normalization': SQLAlchemy's reflected MySQL type -> our vocabulary."""
    if isinstance(type_, mysql_types.TINYINT) and type_.display_width == 1:
        return "boolean"  # how MySQL spells BOOLEAN; SQLAlchemy reflects it as TINYINT(1)
    if isinstance(type_, mysql_types.BIT):
        return "boolean" if (type_.length or 1) == 1 else "binary"
    if isinstance(type_, sa.Boolean):
        return "boolean"
    if isinstance(type_, sa.Integer):
        return "integer"
    if isinstance(type_, sa.Float):  # before Numeric: Float subclasses Numeric
        return "float"
    if isinstance(type_, sa.Numeric):
        return "decimal"
    if isinstance(type_, mysql_types.TIMESTAMP):
        return "timestamp_tz"
    if isinstance(type_, sa.DateTime):
        return "timestamp"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, sa.Time):
        return "time"
    if isinstance(type_, sa.JSON):
        return "json"
    if isinstance(type_, sa.String):
        return "string"
    if isinstance(type_, sa.LargeBinary):
        return "binary"
    return "other"


@pytest.fixture(scope="module")
def spider_catalog(spider_mysql: list[str], mysql_tester: dict[str, Any]):
    with connect(mysql_tester) as conn:
        return conn.introspect(CatalogFilters(include_schemas=SPIDER_SCHEMAS))


@pytest.fixture(scope="module")
def inspector(mysql_url: str) -> Iterator[sa.Inspector]:
    engine = sa.create_engine(mysql_url)
    try:
        yield sa.inspect(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("schema", SPIDER_SCHEMAS)
def test_spider_schema_matches_sqlalchemy_inspector(schema: str, spider_catalog, inspector, mysql_tester) -> None:
    ours = spider_catalog.database(mysql_tester["host"]).schema(schema)
    oracle_tables = sorted(inspector.get_table_names(schema=schema))
    assert oracle_tables, schema
    assert sorted(t.name for t in ours.tables if t.kind == "table") == oracle_tables
    assert sorted(t.name for t in ours.tables if t.kind == "view") == sorted(inspector.get_view_names(schema=schema))
    for table_name in oracle_tables:
        table = ours.table(table_name)
        oracle_columns = inspector.get_columns(table_name, schema=schema)
        assert [c.name for c in table.columns] == [c["name"] for c in oracle_columns], table_name
        assert [c.ordinal for c in table.columns] == list(range(1, len(oracle_columns) + 1))
        for column, oracle in zip(table.columns, oracle_columns):
            where = f"{schema}.{table_name}.{column.name}"
            assert column.nullable == oracle["nullable"], where
            assert column.normalized_type == sqlalchemy_normalized(oracle["type"]), where
            length = getattr(oracle["type"], "length", None)
            if length:
                assert f"({length})" in column.data_type, where
        assert table.primary_key == inspector.get_pk_constraint(table_name, schema=schema)["constrained_columns"]
        oracle_fks = {
            (tuple(fk["constrained_columns"]), fk["referred_schema"] or schema, fk["referred_table"], tuple(fk["referred_columns"]))
            for fk in inspector.get_foreign_keys(table_name, schema=schema)
        }
        our_fks = {
            (tuple(fk.columns), fk.referred_schema, fk.referred_table, tuple(fk.referred_columns))
            for fk in table.foreign_keys
        }
        assert our_fks == oracle_fks, table_name


def test_spider_catalog_passes_strict_validation(spider_catalog) -> None:
    assert spider_catalog.table_count > 0
    assert Catalog.model_validate(spider_catalog.model_dump(), strict=True) == spider_catalog


def test_spider_catalog_is_complete_and_keys_are_real(spider_catalog, mysql_tester, mysql_admin) -> None:
    # 10 databases, 36 tables in spider-dev's DDL; a few well-known keys checked by hand
    database = spider_catalog.database(mysql_tester["host"])
    assert len(spider_catalog.databases) == 1
    assert [s.name for s in database.schemas] == sorted(SPIDER_SCHEMAS)
    assert spider_catalog.table_count == 36
    assert spider_catalog.source_type == "mysql" and "MariaDB" in spider_catalog.server_version
    flights = database.schema("cmy_flight_2").table("flights")
    assert flights.primary_key == ["Airline", "FlightNo"]
    assert {(tuple(fk.columns), fk.referred_table) for fk in flights.foreign_keys} == {
        (("SourceAirport",), "airports"),
        (("DestAirport",), "airports"),
    }
    assert all(fk.referred_database == mysql_tester["host"] for fk in flights.foreign_keys)
    has_pet = database.schema("cmy_pets_1").table("Has_Pet")  # original case kept
    assert {fk.referred_table for fk in has_pet.foreign_keys} == {"Student", "Pets"}
    players = database.schema("cmy_wta_1").table("players")
    with mysql_admin.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM cmy_wta_1.players")
        exact = cur.fetchone()[0]
    assert players.row_count is not None and 0.5 * exact <= players.row_count <= 1.5 * exact  # InnoDB estimate
    assert players.size_bytes is not None and players.size_bytes > 0
    # schemata, tables, columns, keys: no views, no longtext columns -> no VIEWS / CHECK_CONSTRAINTS queries
    assert spider_catalog.round_trips == 4


def test_round_trips_do_not_grow_with_the_number_of_tables(spider_mysql, mysql_tester) -> None:
    with connect(mysql_tester) as conn:
        one = conn.introspect(CatalogFilters(include_schemas=["cmy_battle_death"]))
        ten = conn.introspect(CatalogFilters(include_schemas=SPIDER_SCHEMAS))
    assert one.table_count == 3 and ten.table_count == 36
    assert one.round_trips == ten.round_trips


def test_without_filters_every_visible_database_is_a_schema_and_system_schemas_are_excluded(mysql_root_credentials, spider_mysql):
    with connect(mysql_root_credentials) as conn:
        catalog = conn.introspect()
    names = {s.name for s in catalog.databases[0].schemas}
    assert set(SPIDER_SCHEMAS) <= names
    assert not names & {"mysql", "information_schema", "performance_schema", "sys"}


def test_the_tester_sees_only_databases_it_was_granted(mysql_tester, spider_mysql):
    with connect(mysql_tester) as conn:
        catalog = conn.introspect()
    names = {s.name for s in catalog.databases[0].schemas}
    assert set(SPIDER_SCHEMAS) <= names
    assert "test" not in names  # exists (root's default database) but was not granted
    assert all(name.startswith(PREFIX) for name in names)


def test_filters_are_globs_on_schemas_tables_and_the_host_database(spider_mysql, mysql_tester) -> None:
    with connect(mysql_tester) as conn:
        c_star = conn.introspect(CatalogFilters(include_schemas=["CMY_C*"], exclude_schemas=["*course*"]))
        assert [s.name for s in c_star.databases[0].schemas] == ["cmy_car_1", "cmy_concert_singer", "cmy_cre_doc_template_mgt"]
        tables = conn.introspect(
            CatalogFilters(include_schemas=["cmy_car_1"], include_tables=["car_*", "model?list"], exclude_tables=["car_makers"])
        )
        assert [t.name for _, _, t in tables.iter_tables()] == ["car_names", "model_list"]
        assert all(t.columns for _, _, t in tables.iter_tables())
        other_host = conn.introspect(CatalogFilters(include_databases=["some-other-host"]))
        assert other_host.databases == [] and other_host.round_trips == 0
        same_host = conn.introspect(CatalogFilters(include_databases=[mysql_tester["host"]], include_schemas=["cmy_pets_1"]))
        assert same_host.table_count == 3
        nothing = conn.introspect(CatalogFilters(include_schemas=["cmy_no_such_*"]))
        assert nothing.table_count == 0 and nothing.round_trips == 1


def test_progress_reports_each_stage(spider_mysql, mysql_tester) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    with connect(mysql_tester) as conn:
        catalog = conn.introspect(CatalogFilters(include_schemas=["cmy_car_1"]), progress=lambda s, f: events.append((s, f)))
    assert [stage for stage, _ in events] == ["relations", "columns", "keys", "done"]
    assert events[0][1] == {"schemas": 1, "tables": 6}
    assert events[-1][1] == {"tables": 6, "round_trips": catalog.round_trips}


@pytest.fixture(scope="module")
def details_schema(mysql_admin: pymysql.Connection) -> Iterator[str]:
    """Column and table details where MariaDB differs from MySQL."""
    statements = [
        "DROP DATABASE IF EXISTS cmy_details",
        "CREATE DATABASE cmy_details",
        """CREATE TABLE cmy_details.orders (
            id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT COMMENT 'surrogate key',
            status VARCHAR(16) NOT NULL DEFAULT 'new',
            quoted VARCHAR(16) DEFAULT 'it''s',
            note TEXT NULL,
            amount DECIMAL(12,2) NOT NULL DEFAULT 0.00,
            paid BOOLEAN NOT NULL DEFAULT FALSE,
            flags BIT(1) NULL,
            kind ENUM('a','b') NULL,
            payload JSON NULL,
            created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            happened DATETIME(3) NULL,
            ratio DOUBLE NULL,
            day DATE NULL,
            blob_col VARBINARY(8) NULL,
            uid UUID NULL,
            doubled DECIMAL(13,2) AS (amount * 2) VIRTUAL,
            tricky VARCHAR(8) NULL DEFAULT 'a"b' COMMENT 'line1
line2 "q" \\\\ é',
            PRIMARY KEY (id)
        ) COMMENT = 'customer orders'""",
        "CREATE TABLE cmy_details.lines (order_id BIGINT UNSIGNED NOT NULL, line INT NOT NULL, "
        "PRIMARY KEY (order_id, line), CONSTRAINT lines_order FOREIGN KEY (order_id) REFERENCES cmy_details.orders (id))",
        "CREATE VIEW cmy_details.open_orders AS SELECT id, status FROM cmy_details.orders WHERE status = 'new'",
        "CREATE SEQUENCE cmy_details.ticket_seq",
        "INSERT INTO cmy_details.orders (status, amount, payload) VALUES ('new', 1.50, '{\"a\": 1}'), ('done', 2, NULL)",
    ]
    with mysql_admin.cursor() as cur:
        for sql in statements:
            cur.execute(sql)
    yield "cmy_details"
    with mysql_admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS cmy_details")


def test_mariadb_column_details(details_schema, mysql_tester) -> None:
    with connect(mysql_tester) as conn:
        catalog = conn.introspect(CatalogFilters(include_schemas=[details_schema]))
    # columns are built without validation (connectors.trusted_models): strict validation proves every value has
    # exactly its field's type, here where defaults, comments and types vary the most
    assert Catalog.model_validate(catalog.model_dump(), strict=True) == catalog
    schema = catalog.databases[0].schema(details_schema)
    assert [t.name for t in schema.tables] == ["lines", "open_orders", "orders"]  # the sequence is not a table
    orders = schema.table("orders")
    assert orders.kind == "table" and orders.comment == "customer orders" and orders.primary_key == ["id"]
    col = {c.name: c for c in orders.columns}
    expected_types = {
        "id": "integer", "status": "string", "quoted": "string", "note": "string", "amount": "decimal",
        "paid": "boolean", "flags": "boolean", "kind": "string", "payload": "json", "created_at": "timestamp_tz",
        "happened": "timestamp", "ratio": "float", "day": "date", "blob_col": "binary", "uid": "uuid",
        "doubled": "decimal", "tricky": "string",
    }
    assert {n: c.normalized_type for n, c in col.items()} == expected_types
    assert col["id"].data_type == "bigint(20) unsigned" and col["id"].comment == "surrogate key"
    assert col["payload"].data_type == "longtext"  # MariaDB's JSON alias; json_valid CHECK makes it json
    assert not col["id"].nullable and col["note"].nullable
    assert col["status"].default == "'new'"
    assert col["quoted"].default == "'it''s'"
    assert col["note"].default is None  # MariaDB says 'NULL' for "nullable, no default"
    assert col["id"].default is None
    assert col["amount"].default == "0.00"
    assert col["created_at"].default == "current_timestamp()"
    assert col["doubled"].default is None  # generated, not defaulted
    assert col["tricky"].default == "'a\"b'"
    assert col["tricky"].comment == 'line1\nline2 "q" \\ é'  # survives the server's JSON encoding
    assert orders.row_count is not None and orders.size_bytes and orders.size_bytes > 0
    lines = schema.table("lines")
    assert lines.primary_key == ["order_id", "line"]
    assert [(fk.name, fk.columns, fk.referred_schema, fk.referred_table, fk.referred_columns) for fk in lines.foreign_keys] == [
        ("lines_order", ["order_id"], details_schema, "orders", ["id"])
    ]
    view = schema.table("open_orders")
    assert view.kind == "view" and view.comment is None and view.row_count is None and view.size_bytes is None
    assert "from `cmy_details`.`orders`" in view.view_definition.lower()
    assert [c.name for c in view.columns] == ["id", "status"]
    # schemata, tables, columns, json checks, keys, views
    assert catalog.round_trips == 6

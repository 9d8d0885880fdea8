"""PostgreSQL introspection against the real server: spider-dev compared with SQLAlchemy's Inspector as the oracle,
every relation kind, comments and defaults, filters, round trips that do not grow with the table count."""

from __future__ import annotations

from typing import Any, Iterator

import psycopg
import pytest
import sqlalchemy as sa

from connectors import CatalogFilters, connect
from connectors.catalog import Catalog, NormalizedType
from connectors.credentials import PostgresCredentials
from connectors.postgres import PostgresConnector
from tests.connectors.postgres_fixtures import (  # noqa: F401  (fixtures)
    SPIDER_SCHEMAS,
    admin_connection,
    pg_admin,
    pg_connector,
    pg_credentials,
    spider_pg,
    unique_app_name,
)

pytestmark = pytest.mark.postgres


def sqlalchemy_normalized(type_: sa.types.TypeEngine[Any]) -> NormalizedType:
    """The oracle side of 'types agree after normalization': SQLAlchemy's reflected type class -> our vocabulary."""
    if isinstance(type_, sa.Boolean):
        return "boolean"
    if isinstance(type_, sa.Integer):
        return "integer"
    if isinstance(type_, sa.Float):  # before Numeric: Float subclasses Numeric
        return "float"
    if isinstance(type_, sa.Numeric):
        return "decimal"
    if isinstance(type_, sa.DateTime):
        return "timestamp_tz" if type_.timezone else "timestamp"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, sa.Time):
        return "time"
    if isinstance(type_, (sa.JSON,)):
        return "json"
    if isinstance(type_, sa.Uuid):
        return "uuid"
    if isinstance(type_, sa.String):
        return "string"
    if isinstance(type_, sa.ARRAY):
        return "array"
    if isinstance(type_, sa.Interval):
        return "interval"
    if isinstance(type_, sa.LargeBinary):
        return "binary"
    return "other"


@pytest.fixture(scope="module")
def spider_catalog(spider_pg: list[str], pg_credentials: PostgresCredentials):
    with connect(pg_credentials) as conn:
        return conn.introspect(CatalogFilters(include_schemas=["cpg_*"], exclude_schemas=["cpg_kinds*", "cpg_bench*"]))


@pytest.mark.parametrize("schema", SPIDER_SCHEMAS)
def test_spider_schema_matches_sqlalchemy_inspector(schema: str, spider_catalog, postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        inspector = sa.inspect(engine)
        ours = spider_catalog.database("test").schema(schema)
        oracle_tables = sorted(inspector.get_table_names(schema=schema))
        assert sorted(t.name for t in ours.tables if t.kind == "table") == oracle_tables
        assert sorted(t.name for t in ours.tables if t.kind == "view") == sorted(inspector.get_view_names(schema=schema))
        for table_name in oracle_tables:
            table = ours.table(table_name)
            oracle_columns = inspector.get_columns(table_name, schema=schema)
            assert [c.name for c in table.columns] == [c["name"] for c in oracle_columns], table_name
            for column, oracle in zip(table.columns, oracle_columns):
                where = f"{schema}.{table_name}.{column.name}"
                assert column.nullable == oracle["nullable"], where
                assert column.normalized_type == sqlalchemy_normalized(oracle["type"]), where
                length = getattr(oracle["type"], "length", None)
                if length:
                    assert f"({length})" in column.data_type, where
            assert table.primary_key == inspector.get_pk_constraint(table_name, schema=schema)["constrained_columns"]
            oracle_fks = {
                (tuple(fk["constrained_columns"]), fk["referred_schema"], fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(table_name, schema=schema)
            }
            our_fks = {
                (tuple(fk.columns), fk.referred_schema, fk.referred_table, tuple(fk.referred_columns))
                for fk in table.foreign_keys
            }
            assert our_fks == oracle_fks, table_name
    finally:
        engine.dispose()


def test_spider_catalog_is_complete_and_keys_are_real(spider_catalog) -> None:
    # 10 schemas, 36 tables in spider-dev's DDL; a handful of well-known keys checked by hand.
    assert sorted(s.name for s in spider_catalog.database("test").schemas) == sorted(SPIDER_SCHEMAS)
    assert spider_catalog.table_count == 36
    flights = spider_catalog.database("test").schema("cpg_flight_2").table("flights")
    assert flights.primary_key == ["Airline", "FlightNo"]
    assert {(tuple(fk.columns), fk.referred_table) for fk in flights.foreign_keys} == {
        (("SourceAirport",), "airports"),
        (("DestAirport",), "airports"),
    }
    players = spider_catalog.database("test").schema("cpg_wta_1").table("players")
    assert players.row_count is not None and players.row_count > 20_000  # ANALYZEd by the loader
    assert players.size_bytes is not None and players.size_bytes > 0
    assert spider_catalog.round_trips == 2  # relations, then one stream of columns, keys and statistics


@pytest.fixture(scope="module")
def kinds_schema(postgres_url: str) -> Iterator[str]:
    """A schema with every relation kind and the column details introspection must carry."""
    admin = admin_connection(postgres_url)
    statements = [
        "DROP SCHEMA IF EXISTS cpg_kinds CASCADE",
        "DROP SCHEMA IF EXISTS cpg_kinds_ref CASCADE",
        "CREATE SCHEMA cpg_kinds",
        "CREATE SCHEMA cpg_kinds_ref",
        "CREATE EXTENSION IF NOT EXISTS file_fdw",
        "DROP SERVER IF EXISTS cpg_files CASCADE",
        "CREATE SERVER cpg_files FOREIGN DATA WRAPPER file_fdw",
        "CREATE TYPE cpg_kinds.mood AS ENUM ('sad', 'ok', 'happy')",
        "CREATE DOMAIN cpg_kinds.positive_int AS integer CHECK (VALUE > 0)",
        """CREATE TABLE cpg_kinds.customer (
               id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
               email varchar(200) NOT NULL,
               status text DEFAULT 'new',
               created_at timestamptz NOT NULL DEFAULT now(),
               balance numeric(12, 2),
               score double precision,
               tags text[],
               attrs jsonb,
               external_id uuid,
               mood cpg_kinds.mood,
               visits cpg_kinds.positive_int,
               photo bytea,
               active boolean,
               born date,
               wakes time,
               span interval,
               seen timestamp(3)
           )""",
        "COMMENT ON TABLE cpg_kinds.customer IS 'people who buy things'",
        "COMMENT ON COLUMN cpg_kinds.customer.email IS 'login and contact address'",
        "CREATE TABLE cpg_kinds.orders (order_id int, line int, customer_id bigint REFERENCES cpg_kinds.customer(id),"
        " PRIMARY KEY (order_id, line))",
        "CREATE TABLE cpg_kinds_ref.order_note (id int PRIMARY KEY, order_id int, line int,"
        " FOREIGN KEY (line, order_id) REFERENCES cpg_kinds.orders(line, order_id))",
        # a dropped column leaves a gap in attribute numbers: keys must still resolve to the right names
        "CREATE TABLE cpg_kinds.gappy (junk int, id int PRIMARY KEY, parent int REFERENCES cpg_kinds.gappy(id))",
        "ALTER TABLE cpg_kinds.gappy DROP COLUMN junk",
        "CREATE TABLE cpg_kinds.events (id int, happened_on date NOT NULL) PARTITION BY RANGE (happened_on)",
        "CREATE TABLE cpg_kinds.events_2024 PARTITION OF cpg_kinds.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
        "CREATE TABLE cpg_kinds.events_2025 PARTITION OF cpg_kinds.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
        "INSERT INTO cpg_kinds.events SELECT g, date '2024-01-01' + (g % 700) FROM generate_series(1, 5000) g",
        "ANALYZE cpg_kinds.events",
        "CREATE VIEW cpg_kinds.active_customer AS SELECT id, email FROM cpg_kinds.customer WHERE active",
        "COMMENT ON VIEW cpg_kinds.active_customer IS 'customers with active = true'",
        "CREATE MATERIALIZED VIEW cpg_kinds.customer_count AS SELECT count(*) AS n FROM cpg_kinds.customer",
        "CREATE FOREIGN TABLE cpg_kinds.passwd_file (line text) SERVER cpg_files OPTIONS (filename '/etc/hostname')",
    ]
    try:
        for sql in statements:
            admin.execute(sql)
        yield "cpg_kinds"
    finally:
        admin.execute("DROP SCHEMA IF EXISTS cpg_kinds CASCADE")
        admin.execute("DROP SCHEMA IF EXISTS cpg_kinds_ref CASCADE")
        admin.execute("DROP SERVER IF EXISTS cpg_files CASCADE")
        admin.close()


@pytest.fixture(scope="module")
def kinds_catalog(kinds_schema: str, pg_credentials: PostgresCredentials):
    with connect(pg_credentials) as conn:
        return conn.introspect(CatalogFilters(include_schemas=["cpg_kinds", "cpg_kinds_ref"]))


def test_every_relation_kind_is_reported(kinds_catalog) -> None:
    schema = kinds_catalog.database("test").schema("cpg_kinds")
    kinds = {t.name: t.kind for t in schema.tables}
    assert kinds == {
        "customer": "table",
        "orders": "table",
        "gappy": "table",
        "events": "table",  # partitioned: reported once, partitions folded in
        "active_customer": "view",
        "customer_count": "materialized_view",
        "passwd_file": "external",
    }


@pytest.mark.parametrize("which", ["spider_catalog", "kinds_catalog"])
def test_catalog_built_from_typed_rows_passes_strict_validation(which: str, request: pytest.FixtureRequest) -> None:
    """Columns, keys and tables are built without validation (connectors.trusted_models) because psycopg already
    typed every value; strict validation of the dumped catalog proves each value has exactly its field's type."""
    catalog: Catalog = request.getfixturevalue(which)
    assert catalog.table_count > 0
    assert Catalog.model_validate(catalog.model_dump(), strict=True) == catalog


def test_without_chunked_streaming_the_columns_are_read_whole_to_the_same_catalog(
    kinds_catalog, pg_credentials: PostgresCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a libpq older than 17 psycopg cannot stream in chunks; the column statement is then read whole."""
    import connectors.postgres.connection as pg_connection

    monkeypatch.setattr(pg_connection, "chunked_streaming_available", lambda: False)
    streamed: list[str] = []
    real_stream = psycopg.Cursor.stream
    monkeypatch.setattr(psycopg.Cursor, "stream", lambda self, q, *a, **k: streamed.append(q) or real_stream(self, q, *a, **k))
    with connect(pg_credentials) as conn:
        whole = conn.introspect(CatalogFilters(include_schemas=["cpg_kinds", "cpg_kinds_ref"]))
    assert streamed == []
    assert whole.databases == kinds_catalog.databases and whole.round_trips == kinds_catalog.round_trips


def test_partitions_are_folded_into_their_parent(kinds_catalog) -> None:
    events = kinds_catalog.database("test").schema("cpg_kinds").table("events")
    assert events.row_count == 5000
    assert events.size_bytes is not None and events.size_bytes > 0


def test_columns_carry_types_defaults_comments(kinds_catalog) -> None:
    customer = kinds_catalog.database("test").schema("cpg_kinds").table("customer")
    assert customer.comment == "people who buy things"
    assert customer.primary_key == ["id"]
    cols = {c.name: c for c in customer.columns}
    assert [c.ordinal for c in customer.columns] == list(range(1, len(customer.columns) + 1))
    assert cols["email"].data_type == "character varying(200)"
    assert cols["email"].nullable is False
    assert cols["email"].comment == "login and contact address"
    assert cols["status"].default == "'new'::text"
    assert cols["created_at"].default == "now()"
    expected: dict[str, NormalizedType] = {
        "id": "integer",
        "email": "string",
        "status": "string",
        "created_at": "timestamp_tz",
        "balance": "decimal",
        "score": "float",
        "tags": "array",
        "attrs": "json",
        "external_id": "uuid",
        "mood": "string",  # enum
        "visits": "integer",  # domain over integer
        "photo": "binary",
        "active": "boolean",
        "born": "date",
        "wakes": "time",
        "span": "interval",
        "seen": "timestamp",
    }
    assert {name: c.normalized_type for name, c in cols.items()} == expected
    assert cols["seen"].data_type == "timestamp(3) without time zone"


def test_keys_resolve_across_dropped_columns(kinds_catalog) -> None:
    gappy = kinds_catalog.database("test").schema("cpg_kinds").table("gappy")
    assert [(c.ordinal, c.name) for c in gappy.columns] == [(2, "id"), (3, "parent")]
    assert gappy.primary_key == ["id"]
    assert [(fk.columns, fk.referred_table, fk.referred_columns) for fk in gappy.foreign_keys] == [(["parent"], "gappy", ["id"])]


def test_views_have_definitions_and_comments(kinds_catalog) -> None:
    schema = kinds_catalog.database("test").schema("cpg_kinds")
    view = schema.table("active_customer")
    assert view.comment == "customers with active = true"
    assert view.view_definition is not None and "WHERE customer.active" in view.view_definition
    assert [c.name for c in view.columns] == ["id", "email"]
    assert view.row_count is None and view.size_bytes is None
    assert "count(*)" in (schema.table("customer_count").view_definition or "")
    assert schema.table("customer").view_definition is None


def test_foreign_keys_composite_and_cross_schema(kinds_catalog) -> None:
    note = kinds_catalog.database("test").schema("cpg_kinds_ref").table("order_note")
    (fk,) = note.foreign_keys
    # key order follows the constraint, not the referenced table's column order
    assert fk.columns == ["line", "order_id"]
    assert fk.referred_schema == "cpg_kinds" and fk.referred_table == "orders"
    assert fk.referred_columns == ["line", "order_id"]
    orders = kinds_catalog.database("test").schema("cpg_kinds").table("orders")
    assert orders.primary_key == ["order_id", "line"]
    assert [(f.columns, f.referred_table) for f in orders.foreign_keys] == [(["customer_id"], "customer")]


def test_system_schemas_are_never_listed(pg_connector: PostgresConnector, kinds_schema: str) -> None:
    catalog = pg_connector.introspect()
    names = {s.name for s in catalog.database("test").schemas}
    assert "cpg_kinds" in names
    assert not names & {"pg_catalog", "information_schema", "pg_toast"}
    assert not any(n.startswith("pg_temp_") or n.startswith("pg_toast_temp_") for n in names)


def test_temp_tables_are_not_listed(pg_credentials: PostgresCredentials, postgres_url: str) -> None:
    admin = admin_connection(postgres_url)
    try:
        admin.execute("CREATE TEMP TABLE cpg_temp_probe (a int)")
        with connect(pg_credentials) as conn:
            catalog = conn.introspect(CatalogFilters(include_tables=["cpg_temp_probe"]))
        assert catalog.table_count == 0
    finally:
        admin.close()


def test_filters_select_schemas_and_tables_by_glob(pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    catalog = pg_connector.introspect(
        CatalogFilters(include_schemas=["cpg_pets_1", "cpg_car_*"], exclude_tables=["car_*"])
    )
    found = {(s.name, t.name) for _, s, t in catalog.iter_tables()}
    assert found == {
        ("cpg_pets_1", "Student"), ("cpg_pets_1", "Pets"), ("cpg_pets_1", "Has_Pet"),
        ("cpg_car_1", "continents"), ("cpg_car_1", "countries"), ("cpg_car_1", "model_list"),
        ("cpg_car_1", "cars_data"),  # 'cars_data' does not match 'car_*'
    }
    # case-insensitive globs
    upper = pg_connector.introspect(CatalogFilters(include_schemas=["CPG_PETS_1"], include_tables=["student"]))
    assert [t.name for _, _, t in upper.iter_tables()] == ["Student"]


def test_database_filter_excluding_the_connected_database_yields_nothing(pg_connector: PostgresConnector) -> None:
    catalog = pg_connector.introspect(CatalogFilters(exclude_databases=["test"]))
    assert catalog.databases == [] and catalog.round_trips == 0


def test_round_trips_do_not_grow_with_the_table_count(pg_connector: PostgresConnector, spider_pg: list[str], kinds_schema: str) -> None:
    one = pg_connector.introspect(CatalogFilters(include_schemas=["cpg_pets_1"]))
    many = pg_connector.introspect(CatalogFilters(include_schemas=["cpg_*"]))
    assert many.table_count > 5 * one.table_count
    assert one.round_trips == many.round_trips == 2  # relations, then everything else in one statement
    nothing = pg_connector.introspect(CatalogFilters(include_schemas=["cpg_no_such_schema"]))
    assert nothing.round_trips == 1 and nothing.table_count == 0


def test_round_trips_counted_on_the_wire(pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    """The reported count is checked against what psycopg actually executed or streamed (the column statement is
    read in chunks: still one statement)."""
    executed: list[str] = []
    real_execute, real_stream = psycopg.Cursor.execute, psycopg.Cursor.stream

    def counting_execute(self, query, params=None, **kw):  # type: ignore[no-untyped-def]
        executed.append(str(query))
        return real_execute(self, query, params, **kw)

    def counting_stream(self, query, params=None, **kw):  # type: ignore[no-untyped-def]
        executed.append(str(query))
        return real_stream(self, query, params, **kw)

    pg_connector.test_connection()  # open first: session setup is not introspection
    psycopg.Cursor.execute = counting_execute  # type: ignore[method-assign]
    psycopg.Cursor.stream = counting_stream  # type: ignore[method-assign]
    try:
        catalog = pg_connector.introspect(CatalogFilters(include_schemas=["cpg_*"]))
    finally:
        psycopg.Cursor.execute, psycopg.Cursor.stream = real_execute, real_stream  # type: ignore[method-assign]
    assert len(executed) == catalog.round_trips == 2
    assert sum("pg_attribute" in sql and "format_type" in sql for sql in executed) == 1  # columns: one statement


def test_jit_is_off_for_the_details_statement_and_only_inside_the_introspection(
    pg_connector: PostgresConnector, kinds_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The details statement's estimated cost grows with the catalog; past jit_above_cost PostgreSQL would compile it
    (0.4 s). The relations statement turns JIT off for the introspection's transaction only."""
    conn = pg_connector._connection()
    seen: list[str] = []
    make_reader = pg_connector._catalog_reader

    def reader_noting_jit(c: psycopg.Connection[Any]):  # type: ignore[no-untyped-def]
        reader = make_reader(c)
        stream = reader.stream or reader.run

        def noting(sql: str, params: dict[str, Any]):  # type: ignore[no-untyped-def]
            seen.append(c.execute("SELECT current_setting('jit')").fetchone()[0])  # type: ignore[index]
            return stream(sql, params)

        reader.stream = noting
        return reader

    monkeypatch.setattr(pg_connector, "_catalog_reader", reader_noting_jit)
    session_jit = conn.execute("SELECT current_setting('jit')").fetchone()[0]  # type: ignore[index]
    conn.rollback()
    assert session_jit == "on"  # the server default, so the test can tell the two apart
    pg_connector.introspect(CatalogFilters(include_schemas=["cpg_kinds"]))
    assert seen == ["off"]
    assert conn.execute("SELECT current_setting('jit')").fetchone()[0] == session_jit  # type: ignore[index]
    conn.rollback()


def test_progress_callback_reports_each_stage(pg_connector: PostgresConnector, kinds_schema: str) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    pg_connector.introspect(CatalogFilters(include_schemas=["cpg_kinds"]), progress=lambda s, f: events.append((s, f)))
    assert [stage for stage, _ in events] == ["relations", "columns", "keys", "views", "done"]
    assert events[0][1]["tables"] == 7
    assert events[-1][1]["round_trips"] == 2


def test_empty_schema_is_listed(pg_connector: PostgresConnector, postgres_url: str) -> None:
    admin = admin_connection(postgres_url)
    try:
        admin.execute("DROP SCHEMA IF EXISTS cpg_empty CASCADE")
        admin.execute("CREATE SCHEMA cpg_empty")
        catalog = pg_connector.introspect(CatalogFilters(include_schemas=["cpg_empty"]))
        assert [(s.name, s.tables) for s in catalog.database("test").schemas] == [("cpg_empty", [])]
    finally:
        admin.execute("DROP SCHEMA IF EXISTS cpg_empty CASCADE")
        admin.close()

"""Redshift connector, tested against PostgreSQL with stand-in SVV views (see `redshift_standin.py`).

No Redshift runs here and `redshift-connector` cannot talk to PostgreSQL; the connector uses psycopg for the wire, so
its query, timeout, cancel and error paths are the PostgreSQL ones, exercised here through the Redshift class. The
catalog SQL is Redshift's (SVV_ALL_TABLES, SVV_ALL_COLUMNS, SVV_TABLE_INFO, SVV_MV_INFO, pg_constraint) and runs
against stand-in views that have Redshift's documented columns, filled from PostgreSQL's catalog; the result is
compared with the PostgreSQL connector's own introspection of the same spider-dev schemas.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import psycopg
import pytest
import sqlglot

from connectors import CatalogFilters, QueryCanceledError, QueryTimeoutError, ReadOnlyViolation, connect, parse_credentials
from connectors.credentials import PostgresCredentials, RedshiftCredentials
from connectors.redshift import RedshiftConnector
from connectors.redshift.catalog import (
    COLUMNS_SQL,
    KEYS_SQL,
    MATERIALIZED_VIEWS_SQL,
    TABLE_INFO_SQL,
    TABLES_SQL,
    VIEWS_SQL,
    parse_constraint_definition,
)
from connectors.redshift.types import display_type, normalize_type
from tests.connectors.postgres_fixtures import (  # noqa: F401  (fixtures)
    SLOW_PG_QUERY,
    SPIDER_SCHEMAS,
    admin_connection,
    pg_credentials,
    spider_pg,
    unique_app_name,
    wait_for_backends,
)
from tests.connectors.redshift_standin import STANDIN_SCHEMA, create_standin_views

pytestmark = pytest.mark.postgres


class StandInRedshiftConnector(RedshiftConnector):
    """The Redshift connector with the stand-in SVV views first on its search_path (on Redshift they are in pg_catalog)."""

    def _on_connect(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"SET search_path = {STANDIN_SCHEMA}, public")


def redshift_credentials(pg: PostgresCredentials, **overrides: Any) -> RedshiftCredentials:
    data = {
        "type": "redshift", "host": pg.host, "port": pg.port, "database": pg.database, "username": pg.username,
        "ssl_mode": "disable", "connect_timeout": 3,
    }
    data.update(overrides)
    return parse_credentials(data)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def standin(postgres_url: str) -> Iterator[str]:
    admin = admin_connection(postgres_url)
    statements = [
        "DROP SCHEMA IF EXISTS cpg_rs_kinds CASCADE",
        "CREATE SCHEMA cpg_rs_kinds",
        "CREATE EXTENSION IF NOT EXISTS file_fdw",
        "DROP SERVER IF EXISTS cpg_rs_spectrum CASCADE",
        "CREATE SERVER cpg_rs_spectrum FOREIGN DATA WRAPPER file_fdw",
        "CREATE TABLE cpg_rs_kinds.sales (sale_id int PRIMARY KEY, amount numeric(10,2) NOT NULL, note varchar(300),"
        " sold_at timestamp)",
        "COMMENT ON TABLE cpg_rs_kinds.sales IS 'one row per sale'",
        "COMMENT ON COLUMN cpg_rs_kinds.sales.amount IS 'in cents'",
        "INSERT INTO cpg_rs_kinds.sales SELECT g, g * 1.5, 'n' || g, now() FROM generate_series(1, 1000) g",
        "CREATE TABLE cpg_rs_kinds.empty_one (id int)",
        "ANALYZE cpg_rs_kinds.sales",
        "CREATE VIEW cpg_rs_kinds.late_binding AS SELECT sale_id, amount FROM cpg_rs_kinds.sales",
        "CREATE MATERIALIZED VIEW cpg_rs_kinds.daily AS SELECT sold_at::date AS day, sum(amount) AS total"
        " FROM cpg_rs_kinds.sales GROUP BY 1",
        "ANALYZE cpg_rs_kinds.daily",
        "CREATE FOREIGN TABLE cpg_rs_kinds.spectrum_events (line text) SERVER cpg_rs_spectrum"
        " OPTIONS (filename '/etc/hostname')",
    ]
    try:
        create_standin_views(admin)
        for sql in statements:
            admin.execute(sql)
        yield STANDIN_SCHEMA
    finally:
        admin.execute("DROP SCHEMA IF EXISTS cpg_rs_kinds CASCADE")
        admin.execute("DROP SERVER IF EXISTS cpg_rs_spectrum CASCADE")
        admin.execute(f"DROP SCHEMA IF EXISTS {STANDIN_SCHEMA} CASCADE")
        admin.close()


@pytest.fixture
def redshift(standin: str, pg_credentials: PostgresCredentials) -> Iterator[RedshiftConnector]:
    connector = StandInRedshiftConnector(redshift_credentials(pg_credentials), application_name=unique_app_name("rs"))
    try:
        yield connector
    finally:
        connector.close()


def test_registry_builds_the_redshift_connector(pg_credentials: PostgresCredentials) -> None:
    with connect(redshift_credentials(pg_credentials)) as conn:
        assert isinstance(conn, RedshiftConnector) and conn.dialect == "redshift"
        assert conn.test_connection().ok  # psycopg on the wire, no PostgreSQL-only startup options


def test_catalog_sql_is_valid_redshift() -> None:
    for sql in (TABLES_SQL, COLUMNS_SQL, KEYS_SQL, VIEWS_SQL, MATERIALIZED_VIEWS_SQL, TABLE_INFO_SQL):
        sqlglot.parse_one(sql, read="redshift")


def test_spider_catalog_matches_the_postgres_connector(redshift: RedshiftConnector, spider_pg: list[str], pg_credentials: PostgresCredentials) -> None:
    filters = CatalogFilters(include_schemas=SPIDER_SCHEMAS)
    ours = redshift.introspect(filters)
    with connect(pg_credentials) as pg:
        oracle = pg.introspect(filters)
    assert ours.source_type == "redshift" and ours.table_count == oracle.table_count == 36
    for (_, schema, table), (_, o_schema, o_table) in zip(ours.iter_tables(), oracle.iter_tables()):
        where = f"{schema.name}.{table.name}"
        assert (schema.name, table.name, table.kind) == (o_schema.name, o_table.name, o_table.kind), where
        assert [(c.name, c.nullable, c.normalized_type, c.data_type) for c in table.columns] == [
            (c.name, c.nullable, c.normalized_type, c.data_type) for c in o_table.columns
        ], where
        assert table.primary_key == o_table.primary_key, where
        assert sorted((fk.columns, fk.referred_schema, fk.referred_table, fk.referred_columns) for fk in table.foreign_keys) == sorted(
            (fk.columns, fk.referred_schema, fk.referred_table, fk.referred_columns) for fk in o_table.foreign_keys
        ), where
    assert ours.round_trips == 6


def test_kinds_comments_and_table_info(redshift: RedshiftConnector, postgres_url: str) -> None:
    # the stand-in SVV_TABLE_INFO is superuser-only (as on Redshift); the test user is one
    schema = redshift.introspect(CatalogFilters(include_schemas=["cpg_rs_kinds"])).database("test").schema("cpg_rs_kinds")
    kinds = {t.name: t.kind for t in schema.tables}
    assert kinds == {
        "sales": "table", "empty_one": "table", "late_binding": "view", "daily": "materialized_view",
        "spectrum_events": "external",
    }
    sales = schema.table("sales")
    assert sales.comment == "one row per sale" and sales.column("amount").comment == "in cents"
    assert sales.row_count == 1000 and sales.size_bytes == 1024 * 1024  # 1 MB blocks
    assert schema.table("empty_one").row_count == 0  # SVV_TABLE_INFO leaves empty tables out
    assert [c.data_type for c in sales.columns] == ["integer", "numeric(10,2)", "character varying(300)", "timestamp without time zone"]
    assert sales.primary_key == ["sale_id"]
    view = schema.table("late_binding")
    assert [c.name for c in view.columns] == ["sale_id", "amount"]  # columns from SVV_ALL_COLUMNS, not pg_attribute
    assert "cpg_rs_kinds.sales" in (view.view_definition or "") or "FROM sales" in (view.view_definition or "")
    assert view.row_count is None
    assert schema.table("spectrum_events").columns[0].name == "line"


@pytest.fixture
def reader_role(postgres_url: str, standin: str) -> Iterator[str]:
    admin = admin_connection(postgres_url)
    admin.execute("DROP ROLE IF EXISTS cpg_rs_reader")
    admin.execute("CREATE ROLE cpg_rs_reader LOGIN")
    # can read the data (SVV_ALL_COLUMNS, like information_schema, shows only accessible tables) but not SVV_TABLE_INFO
    admin.execute("GRANT USAGE ON SCHEMA cpg_rs_kinds TO cpg_rs_reader")
    admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA cpg_rs_kinds TO cpg_rs_reader")
    try:
        yield "cpg_rs_reader"
    finally:
        admin.execute("DROP OWNED BY cpg_rs_reader")
        admin.execute("DROP ROLE IF EXISTS cpg_rs_reader")
        admin.close()


def test_svv_table_info_refused_leaves_counts_unknown(reader_role: str, pg_credentials: PostgresCredentials, caplog: pytest.LogCaptureFixture) -> None:
    creds = redshift_credentials(pg_credentials, username=reader_role)
    with StandInRedshiftConnector(creds, application_name=unique_app_name("rs_reader")) as conn:
        stages: list[tuple[str, dict[str, Any]]] = []
        catalog = conn.introspect(CatalogFilters(include_schemas=["cpg_rs_kinds"]), progress=lambda s, f: stages.append((s, f)))
        sales = catalog.database("test").schema("cpg_rs_kinds").table("sales")
        assert sales.row_count is None and sales.size_bytes is None
        assert [c.name for c in sales.columns] == ["sale_id", "amount", "note", "sold_at"]
        assert "svv_table_info unreadable" in stages[-1][1]["warnings"][0]
        assert any(r.getMessage() == "catalog incomplete" for r in caplog.records)
        assert conn.query("SELECT 1 AS still_usable").rows == [[1]]


def test_redshift_queries_are_guarded_limited_and_read_only(redshift: RedshiftConnector, standin: str) -> None:
    result = redshift.query("SELECT sale_id FROM cpg_rs_kinds.sales ORDER BY sale_id", max_rows=5)
    assert result.rows == [[1], [2], [3], [4], [5]] and result.truncated
    assert redshift.query("SHOW transaction_read_only").rows == [["on"]]  # BEGIN READ ONLY, no session default
    with pytest.raises(ReadOnlyViolation):
        redshift.query("DELETE FROM cpg_rs_kinds.sales")
    with pytest.raises(ReadOnlyViolation):
        redshift.query("UNLOAD ('select 1') TO 's3://bucket/x' IAM_ROLE 'arn:aws:iam::1:role/r'")


def test_redshift_timeout_and_cancel(redshift: RedshiftConnector, postgres_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        redshift.query(SLOW_PG_QUERY, timeout=1)
    assert time.monotonic() - started < 3
    threading.Timer(0.4, redshift.cancel).start()
    with pytest.raises(QueryCanceledError):
        redshift.query("SELECT pg_sleep(30)")
    with admin_connection(postgres_url) as admin:
        assert wait_for_backends(admin, redshift.application_name, 0, active_only=True) == 0


def test_profile_uses_a_random_filter(redshift: RedshiftConnector, standin: str) -> None:
    profile = redshift.profile("cpg_rs_kinds.sales", sample_size=100)
    assert profile.sample_method == "random_filter"
    assert 30 <= profile.sampled_rows <= 200  # RANDOM() < 0.1 over 1000 rows, capped at 200
    amount = {c.name: c for c in profile.columns}["amount"]
    assert amount.semantic_hint == "numeric" and amount.null_fraction == 0.0


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ("PRIMARY KEY (sale_id)", (["sale_id"], [])),
        ('PRIMARY KEY ("Airline", "FlightNo")', (["Airline", "FlightNo"], [])),
        ("FOREIGN KEY (eventid) REFERENCES event(eventid)", (["eventid"], ["eventid"])),
        ('FOREIGN KEY ("Model") REFERENCES cpg_car_1.model_list("Model") NOT VALID', (["Model"], ["Model"])),
        ('FOREIGN KEY (a, "b, c") REFERENCES "my schema"."T"(x, "y""z")', (["a", "b, c"], ["x", 'y"z'])),
    ],
)
def test_constraint_definitions_parse(definition: str, expected: tuple[list[str], list[str]]) -> None:
    assert parse_constraint_definition(definition) == expected


def test_unknown_constraint_text_is_an_error() -> None:
    with pytest.raises(ValueError, match="unrecognized"):
        parse_constraint_definition("CHECK (a > 0)")


@pytest.mark.parametrize(
    ("data_type", "length", "precision", "scale", "shown", "normalized"),
    [
        ("character varying", 256, None, None, "character varying(256)", "string"),
        ("numeric", None, 18, 4, "numeric(18,4)", "decimal"),
        ("super", None, None, None, "super", "json"),
        ("varbyte", None, None, None, "varbyte", "binary"),
        ("geometry", None, None, None, "geometry", "geography"),
        ("timestamp with time zone", None, None, None, "timestamp with time zone", "timestamp_tz"),
        ("string", None, None, None, "string", "string"),
        ("array<int>", None, None, None, "array<int>", "array"),
        ("struct<a:int,b:string>", None, None, None, "struct<a:int,b:string>", "struct"),
        ("double", None, None, None, "double", "float"),
        ("hllsketch", None, None, None, "hllsketch", "other"),
    ],
)
def test_redshift_types(data_type: str, length: int | None, precision: int | None, scale: int | None, shown: str, normalized: str) -> None:
    assert display_type(data_type, length, precision, scale) == shown
    assert normalize_type(shown) == normalized

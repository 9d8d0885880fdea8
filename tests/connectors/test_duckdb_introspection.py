"""DuckDB introspection: spider-dev against its DDL (the oracle the file was built from), every detail DuckDB's
catalog functions give (views and their text, comments, defaults, types, empty schemas, sizes), filters, progress,
round trips that do not grow with the number of tables, the `files` views; and profiles through the shared
profiler."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest

from connectors import Catalog, CatalogFilters, NotFoundError, QueryError, connect
from connectors.duckdb import DuckDBConnector
from connectors.duckdb import catalog as duckdb_catalog
from tests.connectors.duckdb_support import (  # noqa: F401 - fixtures
    PREFIX,
    credentials,
    spider_duckdb,
)

_EXPECTED_NORMALIZED = {"INT": "integer", "FLOAT": "float", "VARCHAR": "string", "CHAR": "string", "TEXT": "string", "DATE": "date", "DATETIME": "timestamp"}


@pytest.fixture(scope="module")
def spider_catalog(spider_duckdb) -> Catalog:  # type: ignore[no-untyped-def]
    path, _ = spider_duckdb
    with connect(credentials(path)) as conn:
        return conn.introspect()


def test_spider_schemas_match_their_ddl(spider_duckdb, spider_catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    path, loaded = spider_duckdb
    assert [d.name for d in spider_catalog.databases] == ["spider"]  # the file's stem
    database = spider_catalog.database("spider")
    assert [s.name for s in database.schemas] == sorted([*loaded, "main"])  # main is empty, and listed
    assert database.schema("main").tables == []
    compared = 0
    for schema_name, specs in loaded.items():
        schema = database.schema(schema_name)
        assert sorted(t.name for t in schema.tables) == sorted(s.name for s in specs)
        for spec in specs:
            table = schema.table(spec.name)
            where = f"{schema_name}.{spec.name}"
            assert table.kind == "table" and table.view_definition is None, where
            assert [c.name for c in table.columns] == [name for name, _, _ in spec.columns], where
            assert [c.ordinal for c in table.columns] == list(range(1, len(spec.columns) + 1)), where
            for column, (name, kind, not_null) in zip(table.columns, spec.columns):
                assert column.nullable is not (not_null or name in spec.primary_key), (where, name)
                assert column.normalized_type == _EXPECTED_NORMALIZED[kind.this.value], (where, name)
                compared += 1
            assert table.primary_key == spec.primary_key, where
            assert {(tuple(fk.columns), fk.referred_table, tuple(fk.referred_columns)) for fk in table.foreign_keys} == {
                (tuple(fk.columns), fk.referred_table, tuple(fk.referred_columns)) for fk in spec.foreign_keys
            }, where
            assert all(fk.referred_schema == schema_name and fk.referred_database == "spider" for fk in table.foreign_keys)
            assert all(fk.name for fk in table.foreign_keys)
    assert compared == sum(len(spec.columns) for specs in loaded.values() for spec in specs) == 188
    assert spider_catalog.table_count == 36


def test_row_counts_are_exact_and_sizes_follow_the_rows(spider_duckdb, spider_catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    path, _ = spider_duckdb
    raw = duckdb.connect(str(path), read_only=True)
    try:
        for _, schema, table in spider_catalog.iter_tables():
            (count,) = raw.execute(f'SELECT count(*) FROM "{schema.name}"."{table.name}"').fetchone()  # type: ignore[misc]
            assert table.row_count == count, table.name
            assert table.size_bytes is not None and (table.size_bytes > 0) is (count > 0), (table.name, table.size_bytes)
    finally:
        raw.close()
    players = spider_catalog.database("spider").schema(f"{PREFIX}wta_1").table("players")
    pets = spider_catalog.database("spider").schema(f"{PREFIX}pets_1").table("Pets")
    assert players.size_bytes > 10 * pets.size_bytes  # type: ignore[operator]


def test_catalog_passes_strict_validation(spider_catalog: Catalog) -> None:
    assert Catalog.model_validate(spider_catalog.model_dump(), strict=True) == spider_catalog
    assert spider_catalog.source_type == "duckdb" and spider_catalog.server_version == duckdb.__version__


def test_round_trips_do_not_grow_with_the_number_of_tables(spider_duckdb) -> None:  # type: ignore[no-untyped-def]
    path, _ = spider_duckdb
    with connect(credentials(path)) as conn:
        one = conn.introspect(CatalogFilters(include_schemas=[f"{PREFIX}battle_death"]))
        ten = conn.introspect(CatalogFilters(include_schemas=[f"{PREFIX}*"]))
        nothing = conn.introspect(CatalogFilters(include_schemas=["no_such_*"]))
    assert (one.table_count, ten.table_count, nothing.table_count) == (3, 36, 0)
    assert one.round_trips == ten.round_trips == 4  # relations, columns, keys, sizes
    assert nothing.round_trips == 1


def test_sizes_are_skipped_above_the_limit(spider_duckdb, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    path, _ = spider_duckdb
    monkeypatch.setattr(duckdb_catalog, "SIZED_TABLES_MAX", 35)
    with connect(credentials(path)) as conn:
        catalog = conn.introspect()
    assert catalog.round_trips == 3
    assert {t.size_bytes for _, _, t in catalog.iter_tables()} == {None}
    assert all(t.row_count is not None for _, _, t in catalog.iter_tables())


def test_filters_are_globs_on_databases_schemas_and_tables(spider_duckdb) -> None:  # type: ignore[no-untyped-def]
    path, _ = spider_duckdb
    with connect(credentials(path)) as conn:
        c_star = conn.introspect(CatalogFilters(include_schemas=["CDK_C*"], exclude_schemas=["*course*"]))
        assert [s.name for s in c_star.database("spider").schemas] == [f"{PREFIX}car_1", f"{PREFIX}concert_singer", f"{PREFIX}cre_doc_template_mgt"]
        tables = conn.introspect(
            CatalogFilters(include_schemas=[f"{PREFIX}car_1"], include_tables=["car_*", "model?list"], exclude_tables=["car_makers"])
        )
        assert [t.name for _, _, t in tables.iter_tables()] == ["car_names", "model_list"]
        assert all(t.columns for _, _, t in tables.iter_tables())
        other = conn.introspect(CatalogFilters(include_databases=["elsewhere"]))
        assert other.databases == [] and other.round_trips == 0


def test_progress_reports_each_stage(spider_duckdb) -> None:  # type: ignore[no-untyped-def]
    path, _ = spider_duckdb
    events: list[tuple[str, dict[str, Any]]] = []
    with connect(credentials(path)) as conn:
        catalog = conn.introspect(CatalogFilters(include_schemas=[f"{PREFIX}car_1"]), progress=lambda s, f: events.append((s, f)))
    assert [stage for stage, _ in events] == ["relations", "columns", "keys", "done"]
    assert events[0][1] == {"schemas": 1, "tables": 6}
    assert events[-1][1] == {"tables": 6, "round_trips": catalog.round_trips}


@pytest.fixture(scope="module")
def details_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Everything DuckDB's catalog can say about a table, in one small file."""
    path = tmp_path_factory.mktemp("details") / "details.duckdb"
    conn = duckdb.connect(str(path))
    for statement in [
        "CREATE SCHEMA sales",
        "CREATE SCHEMA empty_schema",
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')",
        "CREATE SEQUENCE order_ids",
        """CREATE TABLE sales.customers (
               id INTEGER PRIMARY KEY,
               email VARCHAR NOT NULL UNIQUE,
               feeling mood,
               tags VARCHAR[],
               address STRUCT(city VARCHAR, zip VARCHAR),
               created_at TIMESTAMP WITH TIME ZONE DEFAULT current_timestamp)""",
        """CREATE TABLE sales.orders (
               order_id BIGINT DEFAULT nextval('order_ids'),
               line INTEGER,
               customer_id INTEGER NOT NULL REFERENCES sales.customers (id),
               amount DECIMAL(12, 2) NOT NULL DEFAULT 0,
               status VARCHAR DEFAULT 'new',
               note VARCHAR,
               PRIMARY KEY (order_id, line))""",
        "COMMENT ON TABLE sales.customers IS 'people who bought something'",
        "COMMENT ON COLUMN sales.customers.email IS 'login, unique'",
        "CREATE VIEW sales.big_orders AS SELECT order_id, amount FROM sales.orders WHERE amount > 100",
        "COMMENT ON VIEW sales.big_orders IS 'orders above 100'",
        "INSERT INTO sales.customers (id, email, feeling) SELECT range, 'c' || range || '@example.com', 'ok' FROM range(1000)",
        "INSERT INTO sales.orders (line, customer_id, amount, status) SELECT range % 3, range % 1000, range % 500, CASE WHEN range % 7 = 0 THEN NULL ELSE 'paid' END FROM range(20000)",
    ]:
        conn.execute(statement)
    conn.execute("CHECKPOINT")
    conn.close()
    return path


@pytest.fixture(scope="module")
def details(details_path: Path) -> Iterator[DuckDBConnector]:
    with connect(credentials(details_path)) as conn:
        assert isinstance(conn, DuckDBConnector)
        yield conn


def test_details_columns_keys_comments_and_views(details: DuckDBConnector) -> None:
    database = details.introspect().database("details")
    assert [s.name for s in database.schemas] == ["empty_schema", "main", "sales"]
    assert database.schema("empty_schema").tables == []
    sales = database.schema("sales")
    customers = sales.table("customers")
    assert customers.comment == "people who bought something" and customers.primary_key == ["id"]
    assert customers.row_count == 1000
    assert [(c.name, c.data_type, c.normalized_type, c.nullable) for c in customers.columns] == [
        ("id", "INTEGER", "integer", False),
        ("email", "VARCHAR", "string", False),
        ("feeling", "ENUM('sad', 'ok', 'happy')", "string", True),
        ("tags", "VARCHAR[]", "array", True),
        ("address", "STRUCT(city VARCHAR, zip VARCHAR)", "struct", True),
        ("created_at", "TIMESTAMP WITH TIME ZONE", "timestamp_tz", True),
    ]
    assert customers.column("email").comment == "login, unique"
    assert customers.column("created_at").default is not None and "current_timestamp" in customers.column("created_at").default.lower()
    orders = sales.table("orders")
    assert orders.primary_key == ["order_id", "line"]
    assert orders.column("amount").data_type == "DECIMAL(12,2)" and orders.column("amount").normalized_type == "decimal"
    assert orders.column("status").default == "'new'"
    assert "nextval" in (orders.column("order_id").default or "")
    assert [(fk.columns, fk.referred_schema, fk.referred_table, fk.referred_columns) for fk in orders.foreign_keys] == [
        (["customer_id"], "sales", "customers", ["id"])
    ]
    assert orders.size_bytes > customers.size_bytes > 0  # type: ignore[operator]
    view = sales.table("big_orders")
    assert view.kind == "view" and view.comment == "orders above 100" and view.row_count is None and view.size_bytes is None
    assert view.view_definition is not None and view.view_definition.startswith("SELECT") and "amount > 100" in view.view_definition
    assert [(c.name, c.normalized_type) for c in view.columns] == [("order_id", "integer"), ("amount", "decimal")]


def test_file_views_are_external_tables_of_temp(details_path: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("id,kind,at\n1,click,2024-01-01 10:00:00\n2,view,2024-01-02 11:00:00\n")
    with connect(credentials(details_path, files={"events": str(events)})) as conn:
        catalog = conn.introspect()
        assert [d.name for d in catalog.databases] == ["details", "temp"]
        table = catalog.database("temp").schema("main").table("events")
        assert table.kind == "external" and table.row_count is None
        assert [(c.name, c.normalized_type) for c in table.columns] == [("id", "integer"), ("kind", "string"), ("at", "timestamp")]
        assert table.view_definition == f"SELECT * FROM read_csv('{events}')"
        only_files = conn.introspect(CatalogFilters(include_databases=["temp"]))
        assert only_files.table_count == 1


# -- profiles -----------------------------------------------------------------------------------------------------
def test_profile_of_a_small_table_reads_it_whole(spider_duckdb) -> None:  # type: ignore[no-untyped-def]
    path, _ = spider_duckdb
    with connect(credentials(path)) as conn:
        profile = conn.profile(f"{PREFIX}pets_1.Student")
        age = next(c for c in profile.columns if c.name == "Age")
        truth = conn.query(f'SELECT count(DISTINCT "Age"), min("Age"), max("Age") FROM {PREFIX}pets_1."Student"').rows[0]
    assert (profile.database, profile.schema_, profile.table) == ("spider", f"{PREFIX}pets_1", "Student")
    assert profile.sample_method == "full" and profile.row_count == profile.sampled_rows == 34
    assert [age.distinct_count, age.min, age.max] == truth
    assert next(c for c in profile.columns if c.name == "StuID").semantic_hint == "identifier"


def test_profile_of_a_large_table_samples_it(details: DuckDBConnector) -> None:
    profile = details.profile("sales.orders", sample_size=2000)
    assert profile.sample_method == "tablesample" and profile.row_count == 20000
    assert 1000 < profile.sampled_rows < 4000
    status = next(c for c in profile.columns if c.name == "status")
    assert status.top_values[0].value == "paid" and 0.05 < (status.null_fraction or 0) < 0.25
    assert status.semantic_hint == "enum"


def test_profile_of_a_view_and_a_file_view(details_path: Path, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("id,email\n1,a@example.com\n2,b@example.com\n")
    with connect(credentials(details_path, files={"people": str(people)})) as conn:
        view = conn.profile("big_orders")
        assert view.sample_method == "limit" and view.schema_ == "sales"
        file_view = conn.profile("people")
        assert (file_view.database, file_view.schema_, file_view.sample_method) == ("temp", "main", "limit")
        assert next(c for c in file_view.columns if c.name == "email").semantic_hint == "email"


def test_profile_names_resolve_like_duckdb_and_errors_are_typed(details_path: Path, tmp_path: Path) -> None:
    twice = tmp_path / "twice.duckdb"
    conn = duckdb.connect(str(twice))
    conn.execute("CREATE SCHEMA s1")
    conn.execute("CREATE SCHEMA s2")
    conn.execute("CREATE TABLE main.t AS SELECT 1 AS a")
    conn.execute("CREATE TABLE s1.t AS SELECT 2 AS a")
    conn.execute("CREATE TABLE s1.u AS SELECT 3 AS a")
    conn.execute("CREATE TABLE s2.u AS SELECT 4 AS a")
    conn.close()
    with connect(credentials(twice)) as source:
        assert source.profile("t").schema_ == "main"  # DuckDB's default schema wins, as `public` on PostgreSQL
        assert source.profile("s1.t").schema_ == "s1"
        assert source.profile("twice.s2.u").schema_ == "s2"
        with pytest.raises(QueryError) as ambiguous:
            source.profile("u")
        assert ambiguous.value.code == "ambiguous_table" and "s1.u" in ambiguous.value.message
        with pytest.raises(NotFoundError):
            source.profile("nope")
        with pytest.raises(NotFoundError):
            source.profile("elsewhere.main.t")
        with pytest.raises(QueryError) as bad:
            source.profile("a.b.c.d")
        assert bad.value.code == "invalid_argument"

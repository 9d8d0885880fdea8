"""Snowflake catalog SQL and the parsing of SHOW KEYS results, without a live Snowflake.

fakesnow lacks INFORMATION_SCHEMA.TABLE_CONSTRAINTS and `SHOW PRIMARY/IMPORTED KEYS IN DATABASE` (and its SHOW
IMPORTED KEYS invents a key), so the key statements are tested here at the SQL level (parsed with sqlglot's snowflake
dialect) and their results as *recorded rows*: the columns Snowflake documents for SHOW PRIMARY KEYS
(created_on, database_name, schema_name, table_name, column_name, key_sequence, constraint_name, rely, comment) and
SHOW IMPORTED KEYS (pk_/fk_ database, schema, table and column names, key_sequence, update/delete rules, fk_name,
pk_name, ...). The reader is driven end to end on those rows.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot
from sqlglot import exp

pytest.importorskip("snowflake.connector")

from connectors import CatalogFilters, ConnectorError  # noqa: E402
from connectors.snowflake.catalog import (  # noqa: E402
    SnowflakeCatalogReader,
    catalog_statements,
    parse_imported_keys,
    parse_primary_keys,
    quote_identifier,
)
from connectors.snowflake.statements import with_row_limit  # noqa: E402
from connectors.snowflake.types import display_type, normalize_type  # noqa: E402


def test_catalog_statements_parse_as_snowflake_and_read_the_database_information_schema() -> None:
    statements = catalog_statements('Sales "EU"')
    for name in ("tables", "columns", "views"):
        tree = sqlglot.parse_one(statements[name], read="snowflake")
        assert isinstance(tree, exp.Select), name
        table = tree.find(exp.Table)
        assert table is not None
        assert (table.catalog, table.db, table.name.upper()) == ('Sales "EU"', "INFORMATION_SCHEMA", name.upper())
        assert "INFORMATION_SCHEMA" in tree.args["where"].sql("snowflake")  # its own schema is left out
    for name, kind in (("primary_keys", "PRIMARY KEYS"), ("imported_keys", "IMPORTED KEYS")):
        tree = sqlglot.parse_one(statements[name], read="snowflake")
        assert isinstance(tree, exp.Show) and tree.name == kind
        assert tree.args["scope_kind"] == "DATABASE"
        assert tree.args["scope"].sql("snowflake") == '"Sales ""EU"""'


def test_identifiers_are_quoted_exactly() -> None:
    assert quote_identifier("DB1") == '"DB1"'
    assert quote_identifier('my"db') == '"my""db"'


def test_columns_statement_selects_what_the_catalog_needs() -> None:
    tree = sqlglot.parse_one(catalog_statements("DB")["columns"], read="snowflake")
    selected = {e.alias_or_name.lower() for e in tree.expressions}
    assert {"table_schema", "table_name", "column_name", "ordinal_position", "data_type", "is_nullable",
            "column_default", "numeric_scale", "comment"} <= selected
    tables = sqlglot.parse_one(catalog_statements("DB")["tables"], read="snowflake")
    assert {"row_count", "bytes", "comment", "table_type"} <= {e.alias_or_name.lower() for e in tables.expressions}


PRIMARY_KEY_ROWS = [
    {"created_on": "2024-05-01", "database_name": "SALES", "schema_name": "CORE", "table_name": "ORDER_LINES",
     "column_name": "LINE_NO", "key_sequence": 2, "constraint_name": "PK_LINES", "rely": "false", "comment": None},
    {"created_on": "2024-05-01", "database_name": "SALES", "schema_name": "CORE", "table_name": "ORDER_LINES",
     "column_name": "ORDER_ID", "key_sequence": 1, "constraint_name": "PK_LINES", "rely": "false", "comment": None},
    {"created_on": "2024-05-01", "database_name": "SALES", "schema_name": "CORE", "table_name": "ORDERS",
     "column_name": "ID", "key_sequence": 1, "constraint_name": "PK_ORDERS", "rely": "false", "comment": None},
]


def _fk_row(fk_col: str, pk_col: str, seq: int, name: str, fk_table: str = "SHIPMENTS", pk_table: str = "ORDER_LINES",
            pk_schema: str = "CORE") -> dict[str, Any]:
    return {"created_on": "2024-05-01", "pk_database_name": "SALES", "pk_schema_name": pk_schema,
            "pk_table_name": pk_table, "pk_column_name": pk_col, "fk_database_name": "SALES", "fk_schema_name": "CORE",
            "fk_table_name": fk_table, "fk_column_name": fk_col, "key_sequence": seq, "update_rule": "NO ACTION",
            "delete_rule": "NO ACTION", "fk_name": name, "pk_name": "PK_LINES", "deferrability": "NOT DEFERRABLE",
            "rely": "false", "comment": None}


IMPORTED_KEY_ROWS = [
    _fk_row("LINE", "LINE_NO", 2, "FK_SHIP_LINE"),
    _fk_row("ORDER_REF", "ORDER_ID", 1, "FK_SHIP_LINE"),
    _fk_row("ORDER_ID", "ID", 1, "FK_LINES_ORDER", fk_table="ORDER_LINES", pk_table="ORDERS"),
    _fk_row("REGION", "CODE", 1, "FK_SHIP_REGION", pk_schema="REF", pk_table="REGIONS"),
]


def test_primary_keys_are_ordered_by_key_sequence() -> None:
    keys = parse_primary_keys(PRIMARY_KEY_ROWS)
    assert keys[("CORE", "ORDER_LINES")] == ["ORDER_ID", "LINE_NO"]
    assert keys[("CORE", "ORDERS")] == ["ID"]


def test_imported_keys_group_columns_per_constraint_in_sequence() -> None:
    keys = parse_imported_keys(IMPORTED_KEY_ROWS)
    shipments = {fk.name: fk for fk in keys[("CORE", "SHIPMENTS")]}
    composite = shipments["FK_SHIP_LINE"]
    assert composite.columns == ["ORDER_REF", "LINE"] and composite.referred_columns == ["ORDER_ID", "LINE_NO"]
    assert (composite.referred_database, composite.referred_schema, composite.referred_table) == ("SALES", "CORE", "ORDER_LINES")
    assert shipments["FK_SHIP_REGION"].referred_schema == "REF"
    assert [fk.referred_table for fk in keys[("CORE", "ORDER_LINES")]] == ["ORDERS"]


class RecordedSnowflake:
    """Answers the reader's statements with recorded rows, and counts them."""

    def __init__(self, *, keys_fail: bool = False) -> None:
        self.sent: list[str] = []
        self.keys_fail = keys_fail

    def __call__(self, sql: str) -> list[dict[str, Any]]:
        self.sent.append(sql)
        if sql == "SHOW DATABASES":
            return [{"name": "SALES"}, {"name": "SNOWFLAKE"}, {"name": "SCRATCH"}]
        if sql.startswith("SHOW PRIMARY KEYS") or sql.startswith("SHOW IMPORTED KEYS"):
            if self.keys_fail:
                raise ConnectorError("SHOW PRIMARY KEYS with DATABASE not implemented", code="query_error")
            return PRIMARY_KEY_ROWS if "PRIMARY" in sql else IMPORTED_KEY_ROWS
        if "INFORMATION_SCHEMA.TABLES" in sql:
            return [
                {"table_schema": "CORE", "table_name": "ORDERS", "table_type": "BASE TABLE", "row_count": 10, "bytes": 2048, "comment": "one row per order"},
                {"table_schema": "CORE", "table_name": "ORDER_LINES", "table_type": "BASE TABLE", "row_count": 30, "bytes": 4096, "comment": None},
                {"table_schema": "CORE", "table_name": "SHIPMENTS", "table_type": "BASE TABLE", "row_count": 5, "bytes": 1024, "comment": None},
                {"table_schema": "CORE", "table_name": "BIG_ORDERS", "table_type": "VIEW", "row_count": None, "bytes": None, "comment": None},
                {"table_schema": "CORE", "table_name": "DAILY", "table_type": "MATERIALIZED VIEW", "row_count": 3, "bytes": 10, "comment": None},
                {"table_schema": "LAKE", "table_name": "EVENTS", "table_type": "EXTERNAL TABLE", "row_count": None, "bytes": None, "comment": None},
            ]
        if "INFORMATION_SCHEMA.VIEWS" in sql:
            return [{"table_schema": "CORE", "table_name": "BIG_ORDERS", "view_definition": "create view BIG_ORDERS as select * from ORDERS where id > 5;"}]
        if "INFORMATION_SCHEMA.COLUMNS" in sql:
            return [
                {"table_schema": "CORE", "table_name": "ORDERS", "column_name": "ID", "ordinal_position": 1, "data_type": "NUMBER", "is_nullable": "NO", "column_default": None, "character_maximum_length": None, "numeric_precision": 38, "numeric_scale": 0, "comment": "order id"},
                {"table_schema": "CORE", "table_name": "ORDERS", "column_name": "AMOUNT", "ordinal_position": 2, "data_type": "NUMBER", "is_nullable": "YES", "column_default": "0", "character_maximum_length": None, "numeric_precision": 12, "numeric_scale": 2, "comment": None},
                {"table_schema": "CORE", "table_name": "ORDERS", "column_name": "NOTE", "ordinal_position": 3, "data_type": "TEXT", "is_nullable": "YES", "column_default": None, "character_maximum_length": 200, "numeric_precision": None, "numeric_scale": None, "comment": None},
                {"table_schema": "CORE", "table_name": "ORDERS", "column_name": "PAYLOAD", "ordinal_position": 4, "data_type": "VARIANT", "is_nullable": "YES", "column_default": None, "character_maximum_length": None, "numeric_precision": None, "numeric_scale": None, "comment": None},
                {"table_schema": "CORE", "table_name": "BIG_ORDERS", "column_name": "ID", "ordinal_position": 1, "data_type": "NUMBER", "is_nullable": "YES", "column_default": None, "character_maximum_length": None, "numeric_precision": 38, "numeric_scale": 0, "comment": None},
                {"table_schema": "CORE", "table_name": "GONE", "column_name": "X", "ordinal_position": 1, "data_type": "TEXT", "is_nullable": "YES", "column_default": None, "character_maximum_length": 1, "numeric_precision": None, "numeric_scale": None, "comment": None},
            ]
        raise AssertionError(f"unexpected statement {sql}")


def test_reader_builds_the_catalog_from_recorded_rows_with_keys_kinds_and_stats() -> None:
    run = RecordedSnowflake()
    catalog = SnowflakeCatalogReader(run, default_database=None).read()
    assert [d.name for d in catalog.databases] == ["SALES", "SCRATCH"]  # SNOWFLAKE (system) left out
    core = catalog.database("SALES").schema("CORE")
    orders = core.table("ORDERS")
    assert (orders.kind, orders.row_count, orders.size_bytes, orders.comment) == ("table", 10, 2048, "one row per order")
    assert [(c.name, c.data_type, c.normalized_type, c.nullable) for c in orders.columns] == [
        ("ID", "NUMBER(38,0)", "integer", False),
        ("AMOUNT", "NUMBER(12,2)", "decimal", True),
        ("NOTE", "VARCHAR(200)", "string", True),
        ("PAYLOAD", "VARIANT", "json", True),
    ]
    assert orders.column("ID").comment == "order id" and orders.column("AMOUNT").default == "0"
    assert orders.primary_key == ["ID"]
    assert core.table("ORDER_LINES").primary_key == ["ORDER_ID", "LINE_NO"]
    assert {fk.name for fk in core.table("SHIPMENTS").foreign_keys} == {"FK_SHIP_LINE", "FK_SHIP_REGION"}
    view = core.table("BIG_ORDERS")
    assert view.kind == "view" and view.row_count is None and "where id > 5" in (view.view_definition or "")
    assert core.table("DAILY").kind == "materialized_view"
    assert catalog.database("SALES").schema("LAKE").table("EVENTS").kind == "external"
    # one SHOW DATABASES + five statements per database, however many tables there are
    assert catalog.round_trips == 1 + 5 * 2 == len(run.sent)


def test_reader_uses_the_credentials_database_and_applies_filters() -> None:
    run = RecordedSnowflake()
    filters = CatalogFilters(include_schemas=["core"], exclude_tables=["ship*"])
    catalog = SnowflakeCatalogReader(run, default_database="SALES").read(filters)
    assert "SHOW DATABASES" not in run.sent
    names = [t.name for _, _, t in catalog.iter_tables()]
    assert names == ["BIG_ORDERS", "DAILY", "ORDERS", "ORDER_LINES"]


def test_failing_show_keys_leave_keys_empty_instead_of_failing_the_catalog() -> None:
    catalog = SnowflakeCatalogReader(RecordedSnowflake(keys_fail=True), default_database="SALES").read()
    orders = catalog.database("SALES").schema("CORE").table("ORDERS")
    assert orders.primary_key == [] and orders.foreign_keys == [] and len(orders.columns) == 4


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM t", "SELECT * FROM t\nLIMIT 11"),
        ("SELECT * FROM t;", "SELECT * FROM t\nLIMIT 11"),
        ("select a from t union all select a from u", "select a from t union all select a from u\nLIMIT 11"),
        ("SELECT * FROM t LIMIT 3", "SELECT * FROM t LIMIT 3"),
        ("SELECT TOP 3 * FROM t", "SELECT TOP 3 * FROM t"),
        ("SELECT * FROM t FETCH FIRST 3 ROWS ONLY", "SELECT * FROM t FETCH FIRST 3 ROWS ONLY"),
        ("SHOW TABLES", "SHOW TABLES"),
    ],
)
def test_row_limit_is_appended_only_when_the_query_has_none(sql: str, expected: str) -> None:
    assert with_row_limit(sql, 10) == expected
    if "LIMIT 11" in expected:
        assert sqlglot.parse_one(expected, read="snowflake").args["limit"].expression.name == "11"


@pytest.mark.parametrize(
    ("data_type", "scale", "normalized"),
    [("NUMBER", 0, "integer"), ("NUMBER", 2, "decimal"), ("FIXED", 0, "integer"), ("FLOAT", None, "float"),
     ("TEXT", None, "string"), ("BOOLEAN", None, "boolean"), ("DATE", None, "date"), ("TIME", None, "time"),
     ("TIMESTAMP_NTZ", None, "timestamp"), ("TIMESTAMP_LTZ", None, "timestamp_tz"), ("TIMESTAMP_TZ", None, "timestamp_tz"),
     ("VARIANT", None, "json"), ("OBJECT", None, "struct"), ("ARRAY", None, "array"), ("GEOGRAPHY", None, "geography"),
     ("BINARY", None, "binary"), ("VECTOR(FLOAT, 3)", None, "array"), ("SOMETHING_NEW", None, "other")],
)
def test_snowflake_types_normalize(data_type: str, scale: int | None, normalized: str) -> None:
    assert normalize_type(data_type, scale) == normalized


def test_display_types_read_like_ddl() -> None:
    assert display_type("TEXT", char_length=16777216) == "VARCHAR(16777216)"
    assert display_type("NUMBER", precision=10, scale=2) == "NUMBER(10,2)"
    assert display_type("TIMESTAMP_NTZ", datetime_precision=9) == "TIMESTAMP_NTZ(9)"
    assert display_type("variant") == "VARIANT"

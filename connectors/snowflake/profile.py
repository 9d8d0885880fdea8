"""Snowflake `profile()`: find the table in the catalog, then hand it to the shared profiler.

Naming: `"db.schema.table"`, `"schema.table"` or `"table"` (or a TableRef); missing parts default to the credentials'
database and schema. Snowflake folds unquoted identifiers to upper case, so a case-insensitive catalog match is
accepted when no exact one exists. The catalog's ROW_COUNT decides between the whole table and TABLESAMPLE; the
profiler's statements go through `query()` (guard, row limit, timeout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.catalog import Table, TableProfile, TableRef
from connectors.profiling import find_database_table, parse_table_ref, profile_catalog_table
from connectors.results import QueryResult, ResultColumn

if TYPE_CHECKING:
    from connectors.snowflake.connection import SnowflakeConnector


def find_table(connector: "SnowflakeConnector", ref: TableRef) -> tuple[str, str, Table]:
    """(database, schema, table) from the catalog; exact-case matches win over case-insensitive ones."""
    database = ref.database or connector.credentials.database
    schema = ref.schema_ or connector.credentials.schema_
    return find_database_table(connector, ref.name, schema, database, qualify_hint="database and schema")


def _lower_case_columns(result: QueryResult) -> QueryResult:
    # Snowflake folds the profiler's unquoted aliases (n, c0_nn, ...) to upper case; the profiler reads them lower case
    columns = [ResultColumn(name=c.name.lower(), type=c.type) for c in result.columns]
    return result.model_copy(update={"columns": columns})


def profile_snowflake_table(connector: "SnowflakeConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    database, schema, meta = find_table(connector, parse_table_ref(table, "snowflake"))
    return profile_catalog_table(
        connector,
        TableRef(name=meta.name, schema=schema, database=database),
        meta,
        sample_size,
        query=lambda sql, max_rows, timeout: _lower_case_columns(connector.query(sql, max_rows=max_rows, timeout=timeout)),
    )


__all__ = ["find_table", "profile_snowflake_table"]

"""PostgreSQL `profile()`: find the table in the catalog, then hand it to the shared profiler.

The catalog lookup (three bulk queries narrowed to one table) supplies the columns, their normalized types, the
primary key and the planner's row estimate, which decides between profiling the whole table and TABLESAMPLE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.catalog import Table, TableProfile, TableRef
from connectors.profiling import check_connection_database, find_schema_table, parse_table_ref, profile_catalog_table

if TYPE_CHECKING:
    from connectors.postgres.connection import PostgresConnector

#: the schema a bare table name resolves to when several schemas hold a table of that name
DEFAULT_SCHEMA = "public"


def find_table(connector: "PostgresConnector", ref: TableRef) -> tuple[str, Table]:
    """(schema, table) from the catalog; exact-case matches win over case-insensitive ones, then `public`."""
    check_connection_database(ref, connector.credentials.database)
    return find_schema_table(connector, ref.name, ref.schema_, preferred_schema=DEFAULT_SCHEMA)


def profile_postgres_table(connector: "PostgresConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    ref = parse_table_ref(table, connector.dialect)
    schema, meta = find_table(connector, ref)
    return profile_postgres_entry(connector, TableRef(name=meta.name, schema=schema), meta, sample_size)


def profile_postgres_entry(connector: "PostgresConnector", ref: TableRef, meta: Table, sample_size: int) -> TableProfile:
    """Profile a table the catalog described (`meta`), named `schema.table` in this connection's database. The
    statements are the profiler's own trees, run on the connector's internal path (see GeneratedQuery)."""
    check_connection_database(ref, connector.credentials.database)
    return profile_catalog_table(
        connector, TableRef(name=meta.name, schema=ref.schema_), meta, sample_size, run_generated=connector.run_generated
    )


__all__ = ["find_table", "profile_postgres_entry", "profile_postgres_table"]

"""SQL Server `profile()`: find the table in the catalog, then hand it to the shared profiler.

The catalog read (narrowed to one table by filters) supplies the columns, their normalized types, the primary key and
the row count from `sys.partitions`, which decides between profiling the whole table and `TABLESAMPLE SYSTEM`. The
profiler's statements go through `query()`, so they pass the guard, the TOP pushdown and the timeout like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.catalog import Table, TableProfile, TableRef
from connectors.profiling import check_connection_database, find_schema_table, parse_table_ref, profile_catalog_table

if TYPE_CHECKING:
    from connectors.sqlserver.connection import SQLServerConnector

DEFAULT_SCHEMA = "dbo"


def find_table(connector: "SQLServerConnector", ref: TableRef) -> tuple[str, Table]:
    """(schema, table) from the catalog; exact-case matches win, then `dbo` when no schema was given."""
    # SQL Server database names are case-insensitive under the default collations
    check_connection_database(ref, connector.credentials.database, ignore_case=True)
    return find_schema_table(connector, ref.name, ref.schema_, preferred_schema=DEFAULT_SCHEMA)


def profile_sqlserver_table(connector: "SQLServerConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    ref = parse_table_ref(table, connector.dialect)
    schema, meta = find_table(connector, ref)
    return profile_catalog_table(connector, TableRef(name=meta.name, schema=schema), meta, sample_size)


__all__ = ["DEFAULT_SCHEMA", "find_table", "profile_sqlserver_table"]

"""MySQL / MariaDB `profile()`: find the table in the catalog, then hand it to the shared profiler.

The catalog lookup (the bulk queries narrowed to one schema and table) supplies the columns, their normalized types,
the primary key and InnoDB's row estimate, which decides between profiling the whole table and a `RAND()` filter
(MySQL has no TABLESAMPLE). The profiler's statements go through `query()`, so they pass the guard, the read-only
transaction, the row limit and the timeout like any other statement.

Naming: `"db.table"` or `TableRef(schema="db", name="table")`, where db is the MySQL database; a bare table name is
looked up in the credentials' default database, or in every database when there is none. Because a MySQL database is
what `TableRef.database` would naturally name, `TableRef(database="db", name="table")` without a schema is read the
same way (the catalog's own database level is the host).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.catalog import Table, TableProfile, TableRef
from connectors.profiling import find_schema_table, parse_table_ref, profile_catalog_table

if TYPE_CHECKING:
    from connectors.mysql.connection import MySQLConnector


def find_table(connector: "MySQLConnector", ref: TableRef) -> tuple[str, Table]:
    """(schema, table) from the catalog; an exact-case match wins over a case-insensitive one."""
    schema = ref.schema_
    if schema is None and ref.database and ref.database != connector.credentials.host:
        schema = ref.database
    if schema is None:
        schema = connector.credentials.database
    return find_schema_table(connector, ref.name, schema, qualify_hint="the database")


def profile_mysql_table(connector: "MySQLConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    # 'db.table' / '`db`.`table`' / 'table' -> TableRef(schema=db, name=table): a MySQL database is a schema here
    ref = parse_table_ref(table, "mysql", max_parts=2, expected="table or database.table")
    schema, meta = find_table(connector, ref)
    return profile_catalog_table(connector, TableRef(name=meta.name, schema=schema), meta, sample_size)


__all__ = ["find_table", "profile_mysql_table"]

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

import glob
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import SqlglotError

from connectors.catalog import CatalogFilters, Table, TableProfile, TableRef
from connectors.errors import NotFoundError, QueryError
from connectors.profiling import profile_table

if TYPE_CHECKING:
    from connectors.mysql.connection import MySQLConnector


def parse_table_ref(table: TableRef | str) -> TableRef:
    """'db.table' / '`db`.`table`' / 'table' -> TableRef(schema=db, name=table), quotes removed, case kept."""
    if isinstance(table, TableRef):
        return table
    try:
        parsed = exp.to_table(table, dialect="mysql")
    except SqlglotError:
        raise QueryError(f"not a table name: {table!r}", code="invalid_argument") from None
    if not isinstance(parsed, exp.Table) or not isinstance(parsed.this, exp.Identifier) or not parsed.name or parsed.catalog:
        raise QueryError(f"not a table name: {table!r} (expected table or database.table)", code="invalid_argument")
    return TableRef(name=parsed.name, schema=parsed.db or None)


def find_table(connector: "MySQLConnector", ref: TableRef) -> tuple[str, Table]:
    """(schema, table) from the catalog; an exact-case match wins over a case-insensitive one."""
    schema = ref.schema_
    if schema is None and ref.database and ref.database != connector.credentials.host:
        schema = ref.database
    if schema is None:
        schema = connector.credentials.database
    filters = CatalogFilters(include_tables=[glob.escape(ref.name)], include_schemas=[glob.escape(schema)] if schema else [])
    matches = [(s.name, t) for _, s, t in connector.introspect(filters).iter_tables()]
    exact = [(s, t) for s, t in matches if t.name == ref.name and (schema is None or s == schema)]
    candidates = exact or matches
    where = f"{schema}.{ref.name}" if schema else ref.name
    if not candidates:
        raise NotFoundError(f"table {where} not found", details={"table": ref.name, "schema": schema})
    if len(candidates) > 1:
        names = ", ".join(f"{s}.{t.name}" for s, t in candidates)
        raise QueryError(f"table name {ref.name!r} is ambiguous ({names}); give the database", code="ambiguous_table")
    return candidates[0]


def profile_mysql_table(connector: "MySQLConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    ref = parse_table_ref(table)
    schema, meta = find_table(connector, ref)
    return profile_table(
        lambda sql, max_rows, timeout: connector.query(sql, max_rows=max_rows, timeout=timeout),
        connector.dialect,
        TableRef(name=meta.name, schema=schema),
        meta.columns,
        kind=meta.kind,
        row_estimate=meta.row_count,
        primary_key=meta.primary_key,
        sample_size=sample_size,
    )


__all__ = ["find_table", "parse_table_ref", "profile_mysql_table"]

"""SQL Server `profile()`: find the table in the catalog, then hand it to the shared profiler.

The catalog read (narrowed to one table by filters) supplies the columns, their normalized types, the primary key and
the row count from `sys.partitions`, which decides between profiling the whole table and `TABLESAMPLE SYSTEM`. The
profiler's statements go through `query()`, so they pass the guard, the TOP pushdown and the timeout like any other.
"""

from __future__ import annotations

import glob
from typing import TYPE_CHECKING

from connectors.catalog import CatalogFilters, Table, TableProfile, TableRef
from connectors.errors import NotFoundError, QueryError
from connectors.postgres.profile import parse_table_ref
from connectors.profiling import profile_table

if TYPE_CHECKING:
    from connectors.sqlserver.connection import SQLServerConnector

DEFAULT_SCHEMA = "dbo"


def find_table(connector: "SQLServerConnector", ref: TableRef) -> tuple[str, Table]:
    """(schema, table) from the catalog; exact-case matches win, then `dbo` when no schema was given."""
    database = connector.credentials.database
    if ref.database and ref.database.lower() != database.lower():
        raise NotFoundError(
            f"table {ref.name} is in database {ref.database!r}, but this connection is to {database!r}",
            details={"table": ref.name, "database": ref.database},
        )
    filters = CatalogFilters(
        include_tables=[glob.escape(ref.name)],
        include_schemas=[glob.escape(ref.schema_)] if ref.schema_ else [],
    )
    matches = [(s.name, t) for _, s, t in connector.introspect(filters).iter_tables()]
    exact = [(s, t) for s, t in matches if t.name == ref.name and (ref.schema_ is None or s == ref.schema_)]
    candidates = exact or matches
    if not candidates:
        where = f"{ref.schema_}.{ref.name}" if ref.schema_ else ref.name
        raise NotFoundError(f"table {where} not found", details={"table": ref.name, "schema": ref.schema_})
    if len(candidates) > 1:
        default = [(s, t) for s, t in candidates if s == DEFAULT_SCHEMA]
        if len(default) == 1 and ref.schema_ is None:
            return default[0]
        names = ", ".join(f"{s}.{t.name}" for s, t in candidates)
        raise QueryError(f"table name {ref.name!r} is ambiguous ({names}); give the schema", code="ambiguous_table")
    return candidates[0]


def profile_sqlserver_table(connector: "SQLServerConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    ref = parse_table_ref(table, connector.dialect)
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

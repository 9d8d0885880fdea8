"""Databricks `profile()`: find the table in the catalog, then hand it to the shared profiler.

A table is named `catalog.schema.table`, `schema.table` (in the credentials' catalog) or `table` (in the
credentials' catalog and schema). The catalog read is narrowed to that one table by filters; the profiler's statements
go through `query()`, so they pass the guard, the pushed LIMIT and the timeout like any other.
"""

from __future__ import annotations

import glob
from typing import TYPE_CHECKING

from connectors.catalog import CatalogFilters, Table, TableProfile, TableRef
from connectors.errors import NotFoundError, QueryError
from connectors.postgres.profile import parse_table_ref
from connectors.profiling import profile_table

if TYPE_CHECKING:
    from connectors.databricks.connection import DatabricksConnector


def find_table(connector: "DatabricksConnector", ref: TableRef) -> tuple[str, str, Table]:
    """(catalog, schema, table), defaulting catalog and schema to the credentials'."""
    creds = connector.credentials
    database = ref.database or creds.catalog
    schema = ref.schema_ or creds.schema_
    filters = CatalogFilters(
        include_databases=[glob.escape(database)] if database else [],
        include_schemas=[glob.escape(schema)] if schema else [],
        include_tables=[glob.escape(ref.name)],
    )
    matches = [(d.name, s.name, t) for d, s, t in connector.introspect(filters).iter_tables()]
    exact = [m for m in matches if m[2].name == ref.name]
    candidates = exact or matches
    where = ".".join(p for p in (database, schema, ref.name) if p)
    if not candidates:
        raise NotFoundError(f"table {where} not found", details={"table": ref.name, "schema": schema, "database": database})
    if len(candidates) > 1:
        names = ", ".join(f"{d}.{s}.{t.name}" for d, s, t in candidates)
        raise QueryError(f"table name {where!r} is ambiguous ({names}); give catalog and schema", code="ambiguous_table")
    return candidates[0]


def profile_databricks_table(connector: "DatabricksConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    ref = parse_table_ref(table, connector.dialect)
    database, schema, meta = find_table(connector, ref)
    return profile_table(
        lambda sql, max_rows, timeout: connector.query(sql, max_rows=max_rows, timeout=timeout),
        connector.dialect,
        TableRef(name=meta.name, schema=schema, database=database),
        meta.columns,
        kind=meta.kind,
        row_estimate=meta.row_count,
        primary_key=meta.primary_key,
        sample_size=sample_size,
    )

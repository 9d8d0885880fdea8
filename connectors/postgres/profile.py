"""PostgreSQL `profile()`: find the table in the catalog, then hand it to the shared profiler.

The catalog lookup (three bulk queries narrowed to one table) supplies the columns, their normalized types, the
primary key and the planner's row estimate, which decides between profiling the whole table and TABLESAMPLE.
"""

from __future__ import annotations

import glob
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from connectors.catalog import CatalogFilters, Table, TableProfile, TableRef
from connectors.errors import NotFoundError, QueryError
from connectors.profiling import profile_table

if TYPE_CHECKING:
    from connectors.postgres.connection import PostgresConnector


def parse_table_ref(table: TableRef | str, dialect: str) -> TableRef:
    """'schema.table' / '"Schema"."Table"' / 'table' -> TableRef (quotes removed, case kept)."""
    if isinstance(table, TableRef):
        return table
    try:
        parsed = exp.to_table(table, dialect=dialect)
    except SqlglotError:
        raise QueryError(f"not a table name: {table!r}", code="invalid_argument") from None
    if not isinstance(parsed, exp.Table) or not isinstance(parsed.this, exp.Identifier) or not parsed.name:
        raise QueryError(f"not a table name: {table!r}", code="invalid_argument")
    return TableRef(name=parsed.name, schema=parsed.db or None, database=parsed.catalog or None)


def find_table(connector: "PostgresConnector", ref: TableRef) -> tuple[str, Table]:
    """(schema, table) from the catalog; exact-case matches win over case-insensitive ones."""
    database = connector.credentials.database
    if ref.database and ref.database != database:
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
        public = [(s, t) for s, t in candidates if s == "public"]
        if len(public) == 1 and ref.schema_ is None:
            return public[0]
        names = ", ".join(f"{s}.{t.name}" for s, t in candidates)
        raise QueryError(f"table name {ref.name!r} is ambiguous ({names}); give the schema", code="ambiguous_table")
    return candidates[0]


def profile_postgres_table(connector: "PostgresConnector", table: TableRef | str, sample_size: int) -> TableProfile:
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

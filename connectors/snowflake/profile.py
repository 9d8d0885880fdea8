"""Snowflake `profile()`: find the table in the catalog, then hand it to the shared profiler.

Naming: `"db.schema.table"`, `"schema.table"` or `"table"` (or a TableRef); missing parts default to the credentials'
database and schema. Snowflake folds unquoted identifiers to upper case, so a case-insensitive catalog match is
accepted when no exact one exists. The catalog's ROW_COUNT decides between the whole table and TABLESAMPLE; the
profiler's statements go through `query()` (guard, row limit, timeout).
"""

from __future__ import annotations

import glob
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import SqlglotError

from connectors.catalog import CatalogFilters, Table, TableProfile, TableRef
from connectors.errors import NotFoundError, QueryError
from connectors.profiling import profile_table
from connectors.results import QueryResult, ResultColumn

if TYPE_CHECKING:
    from connectors.snowflake.connection import SnowflakeConnector


def parse_table_ref(table: TableRef | str) -> TableRef:
    """'db.schema.table' / '"Db"."Schema"."Table"' / 'schema.table' / 'table' -> TableRef, quotes removed."""
    if isinstance(table, TableRef):
        return table
    try:
        parsed = exp.to_table(table, dialect="snowflake")
    except SqlglotError:
        raise QueryError(f"not a table name: {table!r}", code="invalid_argument") from None
    if not isinstance(parsed, exp.Table) or not isinstance(parsed.this, exp.Identifier) or not parsed.name:
        raise QueryError(f"not a table name: {table!r}", code="invalid_argument")
    return TableRef(name=parsed.name, schema=parsed.db or None, database=parsed.catalog or None)


def find_table(connector: "SnowflakeConnector", ref: TableRef) -> tuple[str, str, Table]:
    """(database, schema, table) from the catalog; exact-case matches win over case-insensitive ones."""
    database = ref.database or connector.credentials.database
    schema = ref.schema_ or connector.credentials.schema_
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
        raise QueryError(f"table name {ref.name!r} is ambiguous ({names}); give database and schema", code="ambiguous_table")
    return candidates[0]


def _lower_case_columns(result: QueryResult) -> QueryResult:
    # Snowflake folds the profiler's unquoted aliases (n, c0_nn, ...) to upper case; the profiler reads them lower case
    columns = [ResultColumn(name=c.name.lower(), type=c.type) for c in result.columns]
    return result.model_copy(update={"columns": columns})


def profile_snowflake_table(connector: "SnowflakeConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    database, schema, meta = find_table(connector, parse_table_ref(table))
    return profile_table(
        lambda sql, max_rows, timeout: _lower_case_columns(connector.query(sql, max_rows=max_rows, timeout=timeout)),
        connector.dialect,
        TableRef(name=meta.name, schema=schema, database=database),
        meta.columns,
        kind=meta.kind,
        row_estimate=meta.row_count,
        primary_key=meta.primary_key,
        sample_size=sample_size,
    )


__all__ = ["find_table", "parse_table_ref", "profile_snowflake_table"]

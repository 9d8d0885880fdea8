"""Databricks `profile()`: find the table in the catalog, then hand it to the shared profiler.

A table is named `catalog.schema.table`, `schema.table` (in the credentials' catalog) or `table` (in the
credentials' catalog and schema). The catalog read is narrowed to that one table by filters; the profiler's statements
go through `query()`, so they pass the guard, the pushed LIMIT and the timeout like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.catalog import Table, TableProfile, TableRef
from connectors.profiling import find_database_table, parse_table_ref, profile_catalog_table

if TYPE_CHECKING:
    from connectors.databricks.connection import DatabricksConnector


def find_table(connector: "DatabricksConnector", ref: TableRef) -> tuple[str, str, Table]:
    """(catalog, schema, table), defaulting catalog and schema to the credentials'."""
    creds = connector.credentials
    database = ref.database or creds.catalog
    schema = ref.schema_ or creds.schema_
    return find_database_table(connector, ref.name, schema, database, qualify_hint="catalog and schema")


def profile_databricks_table(connector: "DatabricksConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    ref = parse_table_ref(table, connector.dialect)
    database, schema, meta = find_table(connector, ref)
    return profile_catalog_table(connector, TableRef(name=meta.name, schema=schema, database=database), meta, sample_size)


__all__ = ["find_table", "profile_databricks_table"]

"""DuckDB `profile()`: find the table in the catalog, then hand it to the shared profiler.

A table is named `database.schema.table`, `schema.table` or `table`, where the database is the attached file's
catalog name (its stem) or `temp` for the `files` views. A bare name that several schemas hold resolves to `main`,
DuckDB's default schema, as PostgreSQL resolves to `public`; a `files` view never shares its name with a table of
`main` (the connection refuses that), so at most one candidate remains there. When none of the candidates is in
`main`, the name stays ambiguous and the error lists them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.catalog import Table, TableProfile, TableRef
from connectors.errors import NotFoundError, QueryError
from connectors.profiling import find_database_table, parse_table_ref, profile_catalog_table

if TYPE_CHECKING:
    from connectors.duckdb.connection import DuckDBConnector

DEFAULT_SCHEMA = "main"
QUALIFY_HINT = "the schema (and the database: the file's name, or temp for files)"


def find_table(connector: "DuckDBConnector", ref: TableRef) -> tuple[str, str, Table]:
    """(database, schema, table) from the catalog; exact-case matches first, then `main` for an ambiguous bare name."""
    try:
        return find_database_table(connector, ref.name, ref.schema_, ref.database, qualify_hint=QUALIFY_HINT)
    except QueryError as ambiguous:
        if ambiguous.code != "ambiguous_table" or ref.schema_ or ref.database:
            raise
        try:
            return find_database_table(connector, ref.name, DEFAULT_SCHEMA, None, qualify_hint=QUALIFY_HINT)
        except NotFoundError:
            raise ambiguous from None


def profile_duckdb_table(connector: "DuckDBConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    ref = parse_table_ref(table, connector.dialect)
    database, schema, meta = find_table(connector, ref)
    return profile_catalog_table(connector, TableRef(name=meta.name, schema=schema, database=database), meta, sample_size)


__all__ = ["find_table", "profile_duckdb_table"]

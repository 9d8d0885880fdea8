"""Bulk Redshift introspection from Redshift's own system views: six queries, whatever the number of tables.

Redshift speaks the PostgreSQL protocol but its catalog differs where it matters:
- late-binding views (`WITH NO SCHEMA BINDING`) have no rows in `pg_attribute`, and external (Spectrum) tables
  live outside `pg_class`; `SVV_ALL_TABLES` / `SVV_ALL_COLUMNS` list both, together with local tables and
  datashare objects, so they are the source for relations and columns;
- row counts and sizes come from `SVV_TABLE_INFO` (`estimated_visible_rows`, else `tbl_rows`; `size` in 1 MB
  blocks). It lists only non-empty tables and is visible only to superusers or users granted SELECT on it, so it is
  read last and a refusal leaves the counts unknown instead of failing the whole catalog;
- materialized views are reported as views by SVV_ALL_TABLES; `SVV_MV_INFO` tells them apart (its char(128)
  columns are blank-padded, hence TRIM);
- primary and foreign keys are informational (not enforced) but declared in `pg_constraint`; Redshift has no
  `unnest`, so the column lists are read from `pg_get_constraintdef()` text, as sqlalchemy-redshift does.

Redshift's system views are leader-node views and some cannot be joined with each other, so every query reads one
view and Python joins the answers. Filters are applied in Python, like the PostgreSQL reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from connectors.base import ProgressCallback
from connectors.catalog import Catalog, CatalogFilters, Column, Database, ForeignKey, Schema, Table, TableKind
from connectors.redshift.types import display_type, normalize_type

SYSTEM_SCHEMAS = (
    "pg_catalog", "information_schema", "pg_internal", "pg_toast", "pg_automv", "pg_auto_copy", "pg_mv", "pg_s3",
    "catalog_history",
)
SYSTEM_SCHEMA_PREFIXES = ("pg_temp_", "pg_toast_temp_")
_SYSTEM_LIST = ", ".join(f"'{s}'" for s in SYSTEM_SCHEMAS)

TABLES_SQL = f"""
SELECT schema_name, table_name, table_type, remarks
  FROM svv_all_tables
 WHERE database_name = current_database()
   AND schema_name NOT IN ({_SYSTEM_LIST})
 ORDER BY schema_name, table_name
"""

COLUMNS_SQL = f"""
SELECT schema_name, table_name, column_name, ordinal_position, column_default, is_nullable, data_type,
       character_maximum_length, numeric_precision, numeric_scale, remarks
  FROM svv_all_columns
 WHERE database_name = current_database()
   AND schema_name NOT IN ({_SYSTEM_LIST})
 ORDER BY schema_name, table_name, ordinal_position
"""

KEYS_SQL = f"""
SELECT n.nspname AS schema_name, c.relname AS table_name, con.contype, con.conname,
       pg_get_constraintdef(con.oid) AS definition, fn.nspname AS referred_schema, fc.relname AS referred_table
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class fc ON fc.oid = con.confrelid
  LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
 WHERE con.contype IN ('p', 'f')
   AND n.nspname NOT IN ({_SYSTEM_LIST})
 ORDER BY n.nspname, c.relname, con.contype DESC, con.conname
"""

VIEWS_SQL = f"""
SELECT schemaname, viewname, definition
  FROM pg_views
 WHERE schemaname NOT IN ({_SYSTEM_LIST})
"""

MATERIALIZED_VIEWS_SQL = """
SELECT TRIM(schema_name) AS schema_name, TRIM(name) AS name
  FROM svv_mv_info
 WHERE TRIM(database_name) = current_database()
"""

TABLE_INFO_SQL = """
SELECT "schema", "table", size, tbl_rows, estimated_visible_rows
  FROM svv_table_info
 WHERE "database" = current_database()
"""

_KINDS: dict[str, TableKind] = {
    "TABLE": "table",
    "BASE TABLE": "table",
    "SHARED TABLE": "table",
    "VIEW": "view",
    "EXTERNAL TABLE": "external",
}
MEGABYTE = 1024 * 1024

CatalogQuery = Callable[[str, dict[str, Any]], Sequence[tuple[Any, ...]]]


def is_system_schema(name: str) -> bool:
    return name in SYSTEM_SCHEMAS or name.startswith(SYSTEM_SCHEMA_PREFIXES)


_IDENT = r'"(?:[^"]|"")*"|[^\s,()"]+'


def _identifiers(text: str) -> list[str]:
    """'"Model", make_id' -> ['Model', 'make_id'] (quoted identifiers unquoted, "" unescaped)."""
    names = []
    for token in re.findall(_IDENT, text):
        names.append(token[1:-1].replace('""', '"') if token.startswith('"') else token)
    return names


_PAREN_GROUP = r"\(((?:[^()\"]|\"(?:[^\"]|\"\")*\")*)\)"
_PRIMARY_KEY = re.compile(r"PRIMARY KEY\s*" + _PAREN_GROUP, re.IGNORECASE)
_FOREIGN_KEY = re.compile(
    r"FOREIGN KEY\s*" + _PAREN_GROUP + r"\s*REFERENCES\s+(?:" + _IDENT + r")(?:\s*\.\s*(?:" + _IDENT + r"))*\s*" + _PAREN_GROUP,
    re.IGNORECASE,
)


def parse_constraint_definition(definition: str) -> tuple[list[str], list[str]]:
    """(columns, referred columns) from `pg_get_constraintdef()` text; referred is empty for a primary key."""
    fk = _FOREIGN_KEY.search(definition)
    if fk:
        return _identifiers(fk.group(1)), _identifiers(fk.group(2))
    pk = _PRIMARY_KEY.search(definition)
    if pk:
        return _identifiers(pk.group(1)), []
    raise ValueError(f"unrecognized constraint definition: {definition[:200]}")


@dataclass
class RedshiftCatalogReader:
    """Reads one Redshift database's catalog with a fixed number of statements."""

    run: CatalogQuery
    database: str
    source_type: str = "redshift"
    server_version: str | None = None
    round_trips: int = field(default=0, init=False)
    #: what could not be read (e.g. SVV_TABLE_INFO without the grant); the catalog is still returned
    warnings: list[str] = field(default_factory=list, init=False)

    def _query(self, sql: str) -> Sequence[tuple[Any, ...]]:
        self.round_trips += 1
        return self.run(sql, {})

    def read(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        filters = filters or CatalogFilters()
        notify = progress or (lambda stage, fields: None)
        catalog = Catalog(source_type=self.source_type, server_version=self.server_version)
        if not filters.database_ok(self.database):
            catalog.round_trips = 0
            return catalog

        schemas: dict[str, Schema] = {}
        tables: dict[tuple[str, str], Table] = {}
        local: set[tuple[str, str]] = set()  # tables of this cluster: SVV_TABLE_INFO silence means empty
        for schema_name, table_name, table_type, remarks in self._query(TABLES_SQL):
            if is_system_schema(schema_name) or not filters.schema_ok(schema_name):
                continue
            schema = schemas.setdefault(schema_name, Schema(name=schema_name))
            if not filters.table_ok(table_name):
                continue
            table = Table(name=table_name, kind=_KINDS.get(str(table_type).upper(), "table"), comment=remarks or None)
            schema.tables.append(table)
            tables[(schema_name, table_name)] = table
            if str(table_type).upper() in ("TABLE", "BASE TABLE"):
                local.add((schema_name, table_name))
        notify("relations", {"schemas": len(schemas), "tables": len(tables)})
        if not tables:
            catalog.databases = [Database(name=self.database, schemas=list(schemas.values()))]
            catalog.round_trips = self.round_trips
            notify("done", {"tables": 0, "round_trips": self.round_trips})
            return catalog

        for schema_name, table_name, name, ordinal, default, nullable, data_type, length, precision, scale, remarks in self._query(COLUMNS_SQL):
            table = tables.get((schema_name, table_name))
            if table is None:
                continue
            shown = display_type(data_type, length, precision, scale)
            table.columns.append(
                Column(
                    ordinal=ordinal,
                    name=name,
                    data_type=shown,
                    normalized_type=normalize_type(shown),
                    nullable=str(nullable).upper() != "NO",
                    default=default,
                    comment=remarks or None,
                )
            )
        notify("columns", {"tables": len(tables)})

        for schema_name, table_name, kind, name, definition, ref_schema, ref_table in self._query(KEYS_SQL):
            table = tables.get((schema_name, table_name))
            if table is None:
                continue
            columns, referred = parse_constraint_definition(definition)
            if kind == "p":
                table.primary_key = columns
            else:
                table.foreign_keys.append(
                    ForeignKey(
                        name=name,
                        columns=columns,
                        referred_database=self.database,
                        referred_schema=ref_schema,
                        referred_table=ref_table,
                        referred_columns=referred,
                    )
                )
        notify("keys", {"tables": len(tables)})

        for schema_name, view_name, definition in self._query(VIEWS_SQL):
            table = tables.get((schema_name, view_name))
            if table is not None:
                table.view_definition = definition
        for schema_name, name in self._query(MATERIALIZED_VIEWS_SQL):
            table = tables.get((schema_name, name))
            if table is not None:
                table.kind = "materialized_view"
        notify("views", {"tables": len(tables)})

        self._add_table_info(tables, local)
        catalog.databases = [Database(name=self.database, schemas=list(schemas.values()))]
        catalog.round_trips = self.round_trips
        notify("done", {"tables": len(tables), "round_trips": self.round_trips, "warnings": list(self.warnings)})
        return catalog

    def _add_table_info(self, tables: dict[tuple[str, str], Table], local: set[tuple[str, str]]) -> None:
        try:
            rows = self._query(TABLE_INFO_SQL)
        except Exception as exc:  # the last query: a refusal here cannot poison the ones before it
            self.warnings.append(f"svv_table_info unreadable ({type(exc).__name__}): row counts and sizes unknown")
            return
        for key in local:  # SVV_TABLE_INFO leaves out empty tables
            if tables[key].kind in ("table", "materialized_view"):
                tables[key].row_count, tables[key].size_bytes = 0, 0
        for schema_name, table_name, size_mb, tbl_rows, visible_rows in rows:
            table = tables.get((schema_name, table_name))
            if table is None:
                continue
            rows_estimate = visible_rows if visible_rows is not None else tbl_rows
            table.row_count = int(rows_estimate) if rows_estimate is not None else None
            table.size_bytes = int(size_mb) * MEGABYTE if size_mb is not None else None

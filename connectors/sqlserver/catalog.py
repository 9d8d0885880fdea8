"""Bulk SQL Server introspection from the `sys.*` catalog views: five queries, whatever the number of tables.

1. relations - user schemas with their tables and views: kind (external tables, indexed views as materialized
   views), row counts from `sys.partitions` (heap or clustered index), sizes from `sys.allocation_units` (all
   indexes, in-row, overflow and LOB pages), `MS_Description` extended properties as comments;
2. columns - `sys.columns` + `sys.types` (alias types resolved to their system type) + default constraints +
   column `MS_Description`;
3. primary keys - `sys.key_constraints` + `sys.index_columns` in key order;
4. foreign keys - `sys.foreign_keys` + `sys.foreign_key_columns` in constraint order, with the referred table;
5. view definitions - `sys.sql_modules`, only when views were selected.

Queries 2-4 read the whole database and Python keeps the selected objects: passing thousands of object ids to SQL
Server would hit its 2,100-parameter limit, and one bulk read is cheaper than batching. `information_schema` is not
used: it has no row counts, sizes or comments and is slower on large databases.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from connectors.base import ProgressCallback
from connectors.catalog import Catalog, CatalogFilters, Column, Database, ForeignKey, Schema, Table, TableKind
from connectors.sqlserver.types import format_type, normalize_type

# dbo (1) and user schemas (5..16383); guest, INFORMATION_SCHEMA, sys and the db_* role schemas are left out.
USER_SCHEMA_PREDICATE = "(s.schema_id = 1 OR s.schema_id BETWEEN 5 AND 16383)"

RELATIONS_SQL = f"""
SELECT s.name                                             AS schema_name,
       o.object_id                                        AS object_id,
       o.name                                             AS object_name,
       o.type                                             AS object_type,
       CAST(ISNULL(t.is_external, 0) AS bit)              AS is_external,
       CAST(CASE WHEN o.type = 'V' AND EXISTS (SELECT 1 FROM sys.indexes i
                                                WHERE i.object_id = o.object_id AND i.index_id = 1)
                 THEN 1 ELSE 0 END AS bit)                AS is_indexed_view,
       rc.row_count                                       AS row_count,
       sz.size_bytes                                      AS size_bytes,
       CAST(ep.value AS nvarchar(max))                    AS comment
  FROM sys.schemas s
  LEFT JOIN sys.objects o
         ON o.schema_id = s.schema_id AND o.type IN ('U', 'V') AND o.is_ms_shipped = 0
  LEFT JOIN sys.tables t ON t.object_id = o.object_id
  LEFT JOIN (SELECT p.object_id, CAST(SUM(p.rows) AS bigint) AS row_count
               FROM sys.partitions p
              WHERE p.index_id IN (0, 1)
              GROUP BY p.object_id) rc ON rc.object_id = o.object_id
  LEFT JOIN (SELECT p.object_id, CAST(SUM(au.total_pages) AS bigint) * 8192 AS size_bytes
               FROM sys.partitions p
               JOIN sys.allocation_units au
                 ON (au.type IN (1, 3) AND au.container_id = p.hobt_id)
                 OR (au.type = 2 AND au.container_id = p.partition_id)
              GROUP BY p.object_id) sz ON sz.object_id = o.object_id
  LEFT JOIN sys.extended_properties ep
         ON ep.class = 1 AND ep.major_id = o.object_id AND ep.minor_id = 0 AND ep.name = 'MS_Description'
 WHERE {USER_SCHEMA_PREDICATE}
 ORDER BY s.name, o.name
"""

COLUMNS_SQL = f"""
SELECT c.object_id                                        AS object_id,
       c.column_id                                        AS ordinal,
       c.name                                             AS column_name,
       ty.name                                            AS type_name,
       bt.name                                            AS base_type_name,
       c.max_length                                       AS max_length,
       c.precision                                        AS numeric_precision,
       c.scale                                            AS numeric_scale,
       c.is_nullable                                      AS is_nullable,
       dc.definition                                      AS column_default,
       CAST(ep.value AS nvarchar(max))                    AS comment
  FROM sys.columns c
  JOIN sys.objects o ON o.object_id = c.object_id AND o.type IN ('U', 'V') AND o.is_ms_shipped = 0
  JOIN sys.schemas s ON s.schema_id = o.schema_id
  JOIN sys.types ty ON ty.user_type_id = c.user_type_id
  LEFT JOIN sys.types bt ON bt.user_type_id = ty.system_type_id AND ty.is_user_defined = 1
  LEFT JOIN sys.default_constraints dc ON dc.object_id = c.default_object_id
  LEFT JOIN sys.extended_properties ep
         ON ep.class = 1 AND ep.major_id = c.object_id AND ep.minor_id = c.column_id AND ep.name = 'MS_Description'
 WHERE {USER_SCHEMA_PREDICATE}
 ORDER BY c.object_id, c.column_id
"""

PRIMARY_KEYS_SQL = """
SELECT kc.parent_object_id                                AS object_id,
       kc.name                                            AS constraint_name,
       c.name                                             AS column_name
  FROM sys.key_constraints kc
  JOIN sys.index_columns ic ON ic.object_id = kc.parent_object_id AND ic.index_id = kc.unique_index_id
  JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
 WHERE kc.type = 'PK' AND ic.key_ordinal > 0
 ORDER BY kc.parent_object_id, ic.key_ordinal
"""

FOREIGN_KEYS_SQL = """
SELECT fk.parent_object_id                                AS object_id,
       fk.name                                            AS constraint_name,
       pc.name                                            AS column_name,
       rs.name                                            AS referred_schema,
       rt.name                                            AS referred_table,
       rc.name                                            AS referred_column
  FROM sys.foreign_keys fk
  JOIN sys.foreign_key_columns fkc ON fkc.constraint_object_id = fk.object_id
  JOIN sys.columns pc ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id
  JOIN sys.columns rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id
  JOIN sys.objects rt ON rt.object_id = fk.referenced_object_id
  JOIN sys.schemas rs ON rs.schema_id = rt.schema_id
 ORDER BY fk.parent_object_id, fk.name, fkc.constraint_column_id
"""

VIEW_DEFINITIONS_SQL = """
SELECT m.object_id                                        AS object_id,
       m.definition                                       AS view_definition
  FROM sys.sql_modules m
  JOIN sys.views v ON v.object_id = m.object_id
 WHERE v.is_ms_shipped = 0
"""

CATALOG_QUERIES = {
    "relations": RELATIONS_SQL,
    "columns": COLUMNS_SQL,
    "primary_keys": PRIMARY_KEYS_SQL,
    "foreign_keys": FOREIGN_KEYS_SQL,
    "view_definitions": VIEW_DEFINITIONS_SQL,
}

# A statement runner: sql -> rows as tuples. The connector supplies it; the reader counts the round trips.
CatalogQuery = Callable[[str], Sequence[Sequence[Any]]]


def _kind(object_type: str, is_external: bool, is_indexed_view: bool) -> TableKind:
    if object_type.strip() == "V":
        return "materialized_view" if is_indexed_view else "view"
    return "external" if is_external else "table"


@dataclass
class SQLServerCatalogReader:
    """Reads one database's catalog with five statements (four when no view is selected)."""

    run: CatalogQuery
    database: str
    server_version: str | None = None
    round_trips: int = field(default=0, init=False)

    def _query(self, sql: str) -> Sequence[Sequence[Any]]:
        self.round_trips += 1
        return self.run(sql)

    def read(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        filters = filters or CatalogFilters()
        notify = progress or (lambda stage, fields: None)
        catalog = Catalog(source_type="sqlserver", server_version=self.server_version)
        if not filters.database_ok(self.database):
            catalog.round_trips = self.round_trips
            return catalog

        schemas: dict[str, Schema] = {}
        tables: dict[int, Table] = {}
        for schema_name, object_id, name, object_type, is_external, is_indexed_view, rows, size, comment in self._query(
            RELATIONS_SQL
        ):
            if not filters.schema_ok(schema_name):
                continue
            schema = schemas.setdefault(schema_name, Schema(name=schema_name))
            if name is None or not filters.table_ok(name):
                continue
            kind = _kind(object_type, bool(is_external), bool(is_indexed_view))
            table = Table(
                name=name,
                kind=kind,
                row_count=int(rows) if rows is not None and kind in ("table", "materialized_view") else None,
                size_bytes=int(size) if size is not None and kind in ("table", "materialized_view") else None,
                comment=comment,
            )
            schema.tables.append(table)
            tables[object_id] = table
        notify("relations", {"schemas": len(schemas), "tables": len(tables)})

        if tables:
            self._add_columns(tables)
            notify("columns", {"tables": len(tables)})
            self._add_primary_keys(tables)
            self._add_foreign_keys(tables)
            notify("keys", {"tables": len(tables)})
            if any(t.kind in ("view", "materialized_view") for t in tables.values()):
                for object_id, definition in self._query(VIEW_DEFINITIONS_SQL):
                    if object_id in tables:
                        tables[object_id].view_definition = definition
                notify("views", {})

        catalog.databases = [Database(name=self.database, schemas=list(schemas.values()))]
        catalog.round_trips = self.round_trips
        notify("done", {"tables": len(tables), "round_trips": self.round_trips})
        return catalog

    def _add_columns(self, tables: dict[int, Table]) -> None:
        for (
            object_id, ordinal, name, type_name, base_type, max_length, precision, scale, nullable, default, comment
        ) in self._query(COLUMNS_SQL):
            table = tables.get(object_id)
            if table is None:
                continue
            shown = format_type(base_type or type_name, max_length, precision, scale)
            table.columns.append(
                Column(
                    ordinal=ordinal,
                    name=name,
                    data_type=type_name if base_type else shown,
                    normalized_type=normalize_type(type_name, base_type),
                    nullable=bool(nullable),
                    default=default,
                    comment=comment,
                )
            )

    def _add_primary_keys(self, tables: dict[int, Table]) -> None:
        for object_id, _name, column in self._query(PRIMARY_KEYS_SQL):
            if object_id in tables:
                tables[object_id].primary_key.append(column)

    def _add_foreign_keys(self, tables: dict[int, Table]) -> None:
        keys: dict[tuple[int, str], ForeignKey] = {}
        order: dict[int, list[ForeignKey]] = defaultdict(list)
        for object_id, name, column, ref_schema, ref_table, ref_column in self._query(FOREIGN_KEYS_SQL):
            if object_id not in tables:
                continue
            fk = keys.get((object_id, name))
            if fk is None:
                fk = ForeignKey(
                    name=name,
                    columns=[],
                    referred_database=self.database,
                    referred_schema=ref_schema,
                    referred_table=ref_table,
                    referred_columns=[],
                )
                keys[(object_id, name)] = fk
                order[object_id].append(fk)
            fk.columns.append(column)
            fk.referred_columns.append(ref_column)
        for object_id, fks in order.items():
            tables[object_id].foreign_keys = fks

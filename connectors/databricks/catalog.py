"""Databricks introspection: Unity Catalog `information_schema` in bulk, SHOW / DESCRIBE for hive_metastore.

Unity Catalog: `system.information_schema` lists every catalog the principal can see, so six queries cover the whole
workspace, whatever the number of catalogs and tables:
1. schemata (catalogs -> schemas), 2. tables (kind, comment), 3. columns (full type, nullability, default, comment),
4. views (definitions), 5. primary keys (`table_constraints` + `key_column_usage`), 6. foreign keys (+
`referential_constraints`, matched to the referred key by `position_in_unique_constraint`). Literal catalog names in
the filters are pushed into the WHERE clauses; globs are applied in Python. `information_schema` has no row counts or
sizes (those need a `DESCRIBE DETAIL` per table), so `row_count`/`size_bytes` stay None.

hive_metastore (workspaces without Unity Catalog, or the legacy catalog of one) is not in `information_schema`; it is
read with `SHOW SCHEMAS`, `SHOW TABLES IN <schema>` and `DESCRIBE TABLE EXTENDED <table>` - one statement per schema
and per table, the only way that metastore answers. It is read when Unity Catalog is not available, when the
credentials' catalog is hive_metastore, or when the filters name it explicitly (so a UC workspace does not crawl a
large legacy metastore by default).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from sqlglot import exp

from connectors.base import ProgressCallback
from connectors.catalog import Catalog, CatalogFilters, Column, Database, ForeignKey, Schema, Table, TableKind
from connectors.databricks.types import normalize_type

INFO = "system.information_schema"
HIVE = "hive_metastore"
SYSTEM_SCHEMAS = ("information_schema",)
SYSTEM_CATALOGS = ("system", "__databricks_internal")

SCHEMATA_SQL = f"""
SELECT catalog_name, schema_name, comment
  FROM {INFO}.schemata
 WHERE schema_name <> 'information_schema'{{catalogs:catalog_name}}
 ORDER BY catalog_name, schema_name
"""

TABLES_SQL = f"""
SELECT table_catalog, table_schema, table_name, table_type, comment
  FROM {INFO}.tables
 WHERE table_schema <> 'information_schema'{{catalogs:table_catalog}}
 ORDER BY table_catalog, table_schema, table_name
"""

COLUMNS_SQL = f"""
SELECT table_catalog, table_schema, table_name, column_name, ordinal_position, full_data_type, is_nullable,
       column_default, comment
  FROM {INFO}.columns
 WHERE table_schema <> 'information_schema'{{catalogs:table_catalog}}
 ORDER BY table_catalog, table_schema, table_name, ordinal_position
"""

VIEWS_SQL = f"""
SELECT table_catalog, table_schema, table_name, view_definition
  FROM {INFO}.views
 WHERE table_schema <> 'information_schema'{{catalogs:table_catalog}}
"""

PRIMARY_KEYS_SQL = f"""
SELECT tc.table_catalog, tc.table_schema, tc.table_name, tc.constraint_name, kcu.column_name
  FROM {INFO}.table_constraints tc
  JOIN {INFO}.key_column_usage kcu
    ON kcu.constraint_catalog = tc.constraint_catalog
   AND kcu.constraint_schema = tc.constraint_schema
   AND kcu.constraint_name = tc.constraint_name
 WHERE tc.constraint_type = 'PRIMARY KEY'{{catalogs:tc.table_catalog}}
 ORDER BY tc.table_catalog, tc.table_schema, tc.table_name, kcu.ordinal_position
"""

FOREIGN_KEYS_SQL = f"""
SELECT tc.table_catalog, tc.table_schema, tc.table_name, tc.constraint_name, kcu.column_name,
       ref.table_catalog AS referred_catalog, ref.table_schema AS referred_schema, ref.table_name AS referred_table,
       ref.column_name AS referred_column
  FROM {INFO}.table_constraints tc
  JOIN {INFO}.key_column_usage kcu
    ON kcu.constraint_catalog = tc.constraint_catalog
   AND kcu.constraint_schema = tc.constraint_schema
   AND kcu.constraint_name = tc.constraint_name
  JOIN {INFO}.referential_constraints rc
    ON rc.constraint_catalog = tc.constraint_catalog
   AND rc.constraint_schema = tc.constraint_schema
   AND rc.constraint_name = tc.constraint_name
  JOIN {INFO}.key_column_usage ref
    ON ref.constraint_catalog = rc.unique_constraint_catalog
   AND ref.constraint_schema = rc.unique_constraint_schema
   AND ref.constraint_name = rc.unique_constraint_name
   AND ref.ordinal_position = kcu.position_in_unique_constraint
 WHERE tc.constraint_type = 'FOREIGN KEY'{{catalogs:tc.table_catalog}}
 ORDER BY tc.table_catalog, tc.table_schema, tc.table_name, tc.constraint_name, kcu.ordinal_position
"""

UNITY_QUERIES = {
    "schemata": SCHEMATA_SQL,
    "tables": TABLES_SQL,
    "columns": COLUMNS_SQL,
    "views": VIEWS_SQL,
    "primary_keys": PRIMARY_KEYS_SQL,
    "foreign_keys": FOREIGN_KEYS_SQL,
}

_KINDS: dict[str, TableKind] = {
    "MANAGED": "table",
    "TABLE": "table",
    "STREAMING_TABLE": "table",
    "EXTERNAL": "external",
    "EXTERNAL_SHALLOW_CLONE": "external",
    "FOREIGN": "external",
    "VIEW": "view",
    "MATERIALIZED_VIEW": "materialized_view",
}
_PLACEHOLDER = re.compile(r"\{catalogs:([\w.]+)\}")
_GLOB = re.compile(r"[*?\[]")

# sql -> rows (tuples). The connector supplies it; the reader counts the round trips.
CatalogQuery = Callable[[str], Sequence[Sequence[Any]]]


def quote_identifier(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="databricks")


def render(sql: str, catalogs: Sequence[str] | None) -> str:
    """Fill `{catalogs:<column>}`: ` AND <column> IN ('a', 'b')` for literal catalog names, nothing otherwise."""

    def fill(match: re.Match[str]) -> str:
        if not catalogs:
            return ""
        names = ", ".join(exp.Literal.string(c).sql(dialect="databricks") for c in catalogs)
        return f" AND {match.group(1)} IN ({names})"

    return _PLACEHOLDER.sub(fill, sql)


def literal_catalogs(filters: CatalogFilters) -> list[str] | None:
    """The catalogs to push into SQL: only when every include pattern is a plain name."""
    if filters.include_databases and not any(_GLOB.search(p) for p in filters.include_databases):
        return list(filters.include_databases)
    return None


@dataclass
class DatabricksCatalogReader:
    run: CatalogQuery
    default_catalog: str | None = None
    server_version: str | None = None
    round_trips: int = field(default=0, init=False)

    def _query(self, sql: str) -> Sequence[Sequence[Any]]:
        self.round_trips += 1
        return self.run(sql)

    # -- Unity Catalog ---------------------------------------------------------------------------------------------
    def read_unity(self, filters: CatalogFilters, notify: ProgressCallback) -> dict[str, Database]:
        catalogs = literal_catalogs(filters)
        databases: dict[str, Database] = {}
        schemas: dict[tuple[str, str], Schema] = {}
        for catalog, schema, _comment in self._query(render(SCHEMATA_SQL, catalogs)):
            if catalog in SYSTEM_CATALOGS or not filters.database_ok(catalog) or not filters.schema_ok(schema):
                continue
            db = databases.setdefault(catalog, Database(name=catalog))
            schemas[(catalog, schema)] = s = Schema(name=schema)
            db.schemas.append(s)

        tables: dict[tuple[str, str, str], Table] = {}
        for catalog, schema, name, table_type, comment in self._query(render(TABLES_SQL, catalogs)):
            owner = schemas.get((catalog, schema))
            if owner is None or not filters.table_ok(name):
                continue
            table = Table(name=name, kind=_KINDS.get(str(table_type).upper(), "table"), comment=comment)
            owner.tables.append(table)
            tables[(catalog, schema, name)] = table
        notify("relations", {"databases": len(databases), "schemas": len(schemas), "tables": len(tables)})
        if not tables:
            return databases

        for catalog, schema, name, column, ordinal, data_type, nullable, default, comment in self._query(
            render(COLUMNS_SQL, catalogs)
        ):
            table = tables.get((catalog, schema, name))
            if table is None:
                continue
            table.columns.append(
                Column(
                    ordinal=int(ordinal),  # numbered from 1 (information_schema.columns docs)
                    name=column,
                    data_type=str(data_type).lower(),
                    normalized_type=normalize_type(str(data_type)),
                    nullable=str(nullable).upper() != "NO",
                    default=default,
                    comment=comment,
                )
            )
        notify("columns", {"tables": len(tables)})

        if any(t.kind in ("view", "materialized_view") for t in tables.values()):
            for catalog, schema, name, definition in self._query(render(VIEWS_SQL, catalogs)):
                table = tables.get((catalog, schema, name))
                if table is not None:
                    table.view_definition = definition
            notify("views", {})

        for catalog, schema, name, _constraint, column in self._query(render(PRIMARY_KEYS_SQL, catalogs)):
            table = tables.get((catalog, schema, name))
            if table is not None:
                table.primary_key.append(column)
        foreign: dict[tuple[str, str, str, str], ForeignKey] = {}
        for row in self._query(render(FOREIGN_KEYS_SQL, catalogs)):
            catalog, schema, name, constraint, column, ref_catalog, ref_schema, ref_table, ref_column = row
            table = tables.get((catalog, schema, name))
            if table is None:
                continue
            key = (catalog, schema, name, constraint)
            fk = foreign.get(key)
            if fk is None:
                fk = ForeignKey(
                    name=constraint,
                    columns=[],
                    referred_database=ref_catalog,
                    referred_schema=ref_schema,
                    referred_table=ref_table,
                    referred_columns=[],
                )
                foreign[key] = fk
                table.foreign_keys.append(fk)
            fk.columns.append(column)
            fk.referred_columns.append(ref_column)
        notify("keys", {"tables": len(tables)})
        return databases

    # -- hive_metastore --------------------------------------------------------------------------------------------
    def read_hive(self, filters: CatalogFilters, notify: ProgressCallback) -> Database | None:
        if not filters.database_ok(HIVE):
            return None
        db = Database(name=HIVE)
        for row in self._query(f"SHOW SCHEMAS IN {HIVE}"):
            schema_name = row[0]
            if schema_name in SYSTEM_SCHEMAS or not filters.schema_ok(schema_name):
                continue
            schema = Schema(name=schema_name)
            db.schemas.append(schema)
            for table_row in self._query(f"SHOW TABLES IN {HIVE}.{quote_identifier(schema_name)}"):
                # (database, tableName, isTemporary)
                name, temporary = table_row[1], bool(table_row[2]) if len(table_row) > 2 else False
                if temporary or not filters.table_ok(name):
                    continue
                qualified = f"{HIVE}.{quote_identifier(schema_name)}.{quote_identifier(name)}"
                schema.tables.append(parse_describe_extended(name, self._query(f"DESCRIBE TABLE EXTENDED {qualified}")))
            notify("schema", {"database": HIVE, "schema": schema_name, "tables": len(schema.tables)})
        return db

    def read(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None, *, unity: bool = True) -> Catalog:
        filters = filters or CatalogFilters()
        notify = progress or (lambda stage, fields: None)
        catalog = Catalog(source_type="databricks", server_version=self.server_version)
        databases = self.read_unity(filters, notify) if unity else {}
        wants_hive = (
            not unity
            or self.default_catalog == HIVE
            or any(p.lower() == HIVE for p in filters.include_databases)
        )
        if wants_hive and HIVE not in databases:
            hive = self.read_hive(filters, notify)
            if hive is not None:
                databases[HIVE] = hive
        catalog.databases = list(databases.values())
        catalog.round_trips = self.round_trips
        notify("done", {"tables": catalog.table_count, "round_trips": self.round_trips})
        return catalog


_STATS = re.compile(r"(\d+)\s+bytes(?:,\s*(\d+)\s+rows)?")


def parse_describe_extended(name: str, rows: Sequence[Sequence[Any]]) -> Table:
    """A `Table` from `DESCRIBE TABLE EXTENDED` rows (col_name, data_type, comment): the columns come first, then
    `# Partition Information` (repeats partition columns) and `# Detailed Table Information` (key / value rows)."""
    columns: list[Column] = []
    info: dict[str, str] = {}
    section = "columns"
    for row in rows:
        key = (row[0] or "").strip()
        value = row[1] if len(row) > 1 else None
        comment = row[2] if len(row) > 2 else None
        if key.startswith("#"):
            section = "details" if "detailed" in key.lower() else "other"
            continue
        if not key:
            if section == "columns":
                section = "other"
            continue
        if section == "columns":
            columns.append(
                Column(
                    ordinal=len(columns) + 1,
                    name=key,
                    data_type=str(value or "").lower(),
                    normalized_type=normalize_type(str(value or "")),
                    comment=comment or None,
                )
            )
        elif section == "details":
            info[key.lower()] = "" if value is None else str(value)
    table_type = info.get("type", "MANAGED").upper()
    rows_count = size = None
    stats = _STATS.search(info.get("statistics", ""))
    if stats:
        size = int(stats.group(1))
        rows_count = int(stats.group(2)) if stats.group(2) else None
    return Table(
        name=name,
        kind=_KINDS.get(table_type, "table"),
        columns=columns,
        comment=info.get("comment") or None,
        view_definition=info.get("view text") or info.get("view original text") or None,
        row_count=rows_count,
        size_bytes=size,
    )

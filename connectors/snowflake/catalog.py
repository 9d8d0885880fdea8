"""Bulk Snowflake introspection: five statements per database, whatever the number of tables.

Per database (`"DB".INFORMATION_SCHEMA` is per database in Snowflake):
1. TABLES — every table and view with kind, ROW_COUNT, BYTES and COMMENT;
2. VIEWS — view definitions (a view missing from TABLES, as on the fakesnow stand-in, is added from here);
3. COLUMNS — all columns of the database in one statement;
4. `SHOW PRIMARY KEYS IN DATABASE` and 5. `SHOW IMPORTED KEYS IN DATABASE` — Snowflake keys are informational (not
   enforced) but modelers declare them and the agent uses them for joins. INFORMATION_SCHEMA.TABLE_CONSTRAINTS has no
   column lists, so SHOW is the bulk source.
The database list comes from `SHOW DATABASES` (one more statement), or is just the credentials' database.
A SHOW KEYS statement that fails (a role without the privilege, or the fakesnow stand-in which lacks it) leaves the
keys empty instead of failing the whole catalog: keys are optional metadata there.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Callable

from sqlglot import exp

from connectors.base import ProgressCallback
from connectors.catalog import Catalog, CatalogFilters, Column, Database, ForeignKey, Schema, Table, TableKind
from connectors.errors import ConnectorError
from connectors.snowflake.types import display_type, normalize_type

log = logging.getLogger("connectors.snowflake")

# run(sql) -> rows as dicts keyed by lower-case column name
RunFn = Callable[[str], list[dict[str, Any]]]

SYSTEM_DATABASES = frozenset({"SNOWFLAKE"})
SYSTEM_SCHEMAS = frozenset({"INFORMATION_SCHEMA"})

SHOW_DATABASES_SQL = "SHOW DATABASES"

TABLES_SQL = """SELECT table_schema, table_name, table_type, row_count, bytes, comment
FROM {db}.INFORMATION_SCHEMA.TABLES
WHERE table_schema <> 'INFORMATION_SCHEMA'
ORDER BY table_schema, table_name"""

COLUMNS_SQL = """SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable, column_default,
  character_maximum_length, numeric_precision, numeric_scale, comment
FROM {db}.INFORMATION_SCHEMA.COLUMNS
WHERE table_schema <> 'INFORMATION_SCHEMA'
ORDER BY table_schema, table_name, ordinal_position"""

VIEWS_SQL = """SELECT table_schema, table_name, view_definition
FROM {db}.INFORMATION_SCHEMA.VIEWS
WHERE table_schema <> 'INFORMATION_SCHEMA'"""

PRIMARY_KEYS_SQL = "SHOW PRIMARY KEYS IN DATABASE {db}"
IMPORTED_KEYS_SQL = "SHOW IMPORTED KEYS IN DATABASE {db}"

_KINDS: dict[str, TableKind] = {
    "BASE TABLE": "table",
    "TEMPORARY TABLE": "table",
    "LOCAL TEMPORARY": "table",
    "TRANSIENT": "table",
    "DYNAMIC TABLE": "table",
    "EVENT TABLE": "table",
    "VIEW": "view",
    "MATERIALIZED VIEW": "materialized_view",
    "EXTERNAL TABLE": "external",
}


def quote_identifier(name: str) -> str:
    """A Snowflake identifier quoted exactly (case kept): DB1 -> "DB1", my"db -> "my""db"."""
    return exp.to_identifier(name, quoted=True).sql(dialect="snowflake")


def catalog_statements(database: str) -> dict[str, str]:
    """The five per-database statements, named; tests parse them with sqlglot's snowflake dialect."""
    db = quote_identifier(database)
    return {
        "tables": TABLES_SQL.format(db=db),
        "columns": COLUMNS_SQL.format(db=db),
        "views": VIEWS_SQL.format(db=db),
        "primary_keys": PRIMARY_KEYS_SQL.format(db=db),
        "imported_keys": IMPORTED_KEYS_SQL.format(db=db),
    }


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def parse_primary_keys(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """SHOW PRIMARY KEYS rows -> {(schema, table): [columns in key_sequence order]}."""
    keyed: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        keyed[(row["schema_name"], row["table_name"])].append((int(row.get("key_sequence") or 0), row["column_name"]))
    return {k: [c for _, c in sorted(v)] for k, v in keyed.items()}


def parse_imported_keys(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[ForeignKey]]:
    """SHOW IMPORTED KEYS rows (one per column of each key) -> {(fk schema, fk table): [ForeignKey]}."""
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        name = row.get("fk_name") or f"{row['fk_table_name']}->{row['pk_table_name']}"
        grouped[(row["fk_schema_name"], row["fk_table_name"], name)].append(row)
    result: dict[tuple[str, str], list[ForeignKey]] = defaultdict(list)
    for (schema, table, name), parts in grouped.items():
        parts.sort(key=lambda r: int(r.get("key_sequence") or 0))
        first = parts[0]
        result[(schema, table)].append(
            ForeignKey(
                name=name,
                columns=[p["fk_column_name"] for p in parts],
                referred_database=first.get("pk_database_name"),
                referred_schema=first.get("pk_schema_name"),
                referred_table=first["pk_table_name"],
                referred_columns=[p["pk_column_name"] for p in parts],
            )
        )
    return dict(result)


def build_column(row: dict[str, Any]) -> Column:
    scale = _int(row.get("numeric_scale"))
    return Column(
        ordinal=int(row["ordinal_position"]),
        name=row["column_name"],
        data_type=display_type(
            row["data_type"],
            char_length=_int(row.get("character_maximum_length")),
            precision=_int(row.get("numeric_precision")),
            scale=scale,
            datetime_precision=_int(row.get("datetime_precision")),
        ),
        normalized_type=normalize_type(row["data_type"], scale),
        nullable=str(row.get("is_nullable", "YES")).upper() == "YES",
        default=row.get("column_default"),
        comment=row.get("comment") or None,
    )


class SnowflakeCatalogReader:
    """Reads databases -> schemas -> tables with a constant number of statements per database."""

    def __init__(self, run: RunFn, *, default_database: str | None, server_version: str | None = None) -> None:
        self._run = run
        self.default_database = default_database
        self.server_version = server_version
        self.round_trips = 0

    def _query(self, sql: str) -> list[dict[str, Any]]:
        self.round_trips += 1
        return self._run(sql)

    def database_names(self, filters: CatalogFilters) -> list[str]:
        """The credentials' database when set and no database filter asks for more; else SHOW DATABASES."""
        if self.default_database and not filters.include_databases:
            names = [self.default_database]
        else:
            names = [r["name"] for r in self._query(SHOW_DATABASES_SQL)]
            names = [n for n in names if n.upper() not in SYSTEM_DATABASES]
        return [n for n in names if filters.database_ok(n)]

    def _optional_keys(self, sql: str, what: str, database: str) -> list[dict[str, Any]]:
        try:
            return self._query(sql)
        except ConnectorError as exc:
            log.warning("snowflake %s unavailable, keys left empty", what, extra={"database": database, "code": exc.code})
            return []

    def read_database(self, database: str, filters: CatalogFilters) -> Database:
        sql = catalog_statements(database)
        tables: dict[tuple[str, str], Table] = {}
        for row in self._query(sql["tables"]):
            schema, name = row["table_schema"], row["table_name"]
            if not filters.schema_ok(schema) or not filters.table_ok(name):
                continue
            kind = _KINDS.get(str(row.get("table_type") or "").upper(), "table")
            is_view = kind in ("view", "materialized_view")
            tables[(schema, name)] = Table(
                name=name,
                kind=kind,
                row_count=None if is_view else _int(row.get("row_count")),
                size_bytes=None if is_view else _int(row.get("bytes")),
                comment=row.get("comment") or None,
            )
        for row in self._query(sql["views"]):
            schema, name = row["table_schema"], row["table_name"]
            if not filters.schema_ok(schema) or not filters.table_ok(name):
                continue
            # Snowflake lists views in TABLES too; a stand-in that does not still gets them from VIEWS
            table = tables.setdefault((schema, name), Table(name=name, kind="view"))
            table.view_definition = row.get("view_definition")
        if tables:
            for row in self._query(sql["columns"]):
                table = tables.get((row["table_schema"], row["table_name"]))
                if table is not None:
                    table.columns.append(build_column(row))
            pks = parse_primary_keys(self._optional_keys(sql["primary_keys"], "SHOW PRIMARY KEYS", database))
            fks = parse_imported_keys(self._optional_keys(sql["imported_keys"], "SHOW IMPORTED KEYS", database))
            for key, table in tables.items():
                table.primary_key = pks.get(key, [])
                table.foreign_keys = fks.get(key, [])
        schemas: dict[str, Schema] = {}
        for (schema, _), table in sorted(tables.items()):
            schemas.setdefault(schema, Schema(name=schema)).tables.append(table)
        return Database(name=database, schemas=list(schemas.values()))

    def read(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        filters = filters or CatalogFilters()
        names = self.database_names(filters)
        databases = []
        for done, name in enumerate(names, 1):
            database = self.read_database(name, filters)
            databases.append(database)
            if progress is not None:
                tables = sum(len(s.tables) for s in database.schemas)
                progress("databases", {"done": done, "total": len(names), "database": name, "tables": tables})
        return Catalog(
            source_type="snowflake",
            server_version=self.server_version,
            databases=databases,
            round_trips=self.round_trips,
        )

"""Bulk catalog read for MySQL / MariaDB from information_schema, in a fixed number of queries.

Shape of the result: MySQL has no level between the server and its databases, and a MySQL "database" is what every
other source calls a schema (`SELECT * FROM db.table`), so the Catalog holds ONE `Database`, named after the host in
the credentials (`credentials.host`; stable for one data source and meaningful to a reader, unlike information_schema's
constant catalog name `def`), whose `schemas` are the MySQL databases the credentials can see. The system schemas
(mysql, information_schema, performance_schema, sys) are left out. `CatalogFilters` database globs therefore match
the host name; filter MySQL databases with the schema globs.

Round trips: SCHEMATA (names, filtered here with the globs), then TABLES, COLUMNS, KEY_COLUMN_USAGE (primary and
foreign keys: MySQL always names the primary key `PRIMARY`, and foreign-key rows carry their referenced columns, so
neither TABLE_CONSTRAINTS nor REFERENTIAL_CONSTRAINTS needs a join), VIEWS (only when there are views) and, on MariaDB,
CHECK_CONSTRAINTS (only when there are longtext columns: MariaDB's JSON is `longtext` + `CHECK (json_valid(col))`);
on MySQL one `SET SESSION group_concat_max_len` instead. Each is filtered server-side with `TABLE_SCHEMA IN (...)`, so
the count never grows with the number of tables: at most six queries for any server.

Speed: PyMySQL decodes rows in pure Python, which made row decoding, not the server, the cost of a 10,000-column
catalog. COLUMNS and KEY_COLUMN_USAGE therefore come back as one row per table holding a JSON array
(`GROUP_CONCAT(JSON_ARRAY(...))`: the server escapes every value, `json.loads` parses in C), and the cyclic GC is
paused while the catalog's objects are built. Needs JSON_ARRAY: MySQL 5.7.8+, MariaDB 10.2.3+.

MariaDB and MySQL differ in COLUMN_DEFAULT: MariaDB 10.2.7+ returns SQL text (`'abc'`, `NULL` for "no default" on a
nullable column, `current_timestamp()`), MySQL the raw value (`abc`, NULL, `CURRENT_TIMESTAMP` flagged
DEFAULT_GENERATED). `Column.default` is always SQL text, None when there is no default.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import defaultdict
from typing import Any, Iterable, Sequence

import pymysql

from connectors.base import ProgressCallback
from connectors.catalog import Catalog, CatalogFilters, Column, Database, ForeignKey, NormalizedType, Schema, Table, TableKind
from connectors.gc_pause import building_long_lived_objects
from connectors.mysql.statements import ServerInfo
from connectors.mysql.types import normalize_type
from connectors.trusted_models import constructor_for

log = logging.getLogger("connectors.mysql")

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")

SCHEMATA_SQL = """
SELECT SCHEMA_NAME FROM information_schema.SCHEMATA
WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
ORDER BY SCHEMA_NAME
"""

TABLES_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, TABLE_COMMENT
FROM information_schema.TABLES
WHERE TABLE_SCHEMA IN ({schemas})
"""

# One row per table, its columns as a JSON array: PyMySQL decodes rows in pure Python, so 500 rows of one field cost a
# fraction of 10,000 rows of ten (json.loads is C). JSON_ARRAY escapes every value; GROUP_CONCAT is bounded by
# group_concat_max_len, raised for this statement (MariaDB SET STATEMENT) or this session (MySQL).
COLUMNS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME,
       CONCAT('[', GROUP_CONCAT(JSON_ARRAY(COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE,
                                           COLUMN_TYPE, EXTRA, COLUMN_COMMENT)
                                ORDER BY ORDINAL_POSITION SEPARATOR ','), ']')
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA IN ({schemas})
GROUP BY TABLE_SCHEMA, TABLE_NAME
"""
GROUP_CONCAT_MAX_LEN = (1 << 32) - 1  # the largest value every server build accepts

# Primary and foreign keys, one row per table (JSON, as for columns). MySQL names every primary key PRIMARY, and
# foreign-key rows carry their referenced columns, so no join with TABLE_CONSTRAINTS / REFERENTIAL_CONSTRAINTS.
KEYS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME,
       CONCAT('[', GROUP_CONCAT(JSON_ARRAY(CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION, REFERENCED_TABLE_SCHEMA,
                                           REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME) SEPARATOR ','), ']')
FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA IN ({schemas}) AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL)
GROUP BY TABLE_SCHEMA, TABLE_NAME
"""

VIEWS_SQL = """
SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION
FROM information_schema.VIEWS
WHERE TABLE_SCHEMA IN ({schemas})
"""

JSON_CHECKS_SQL = """
SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA IN ({schemas}) AND CHECK_CLAUSE LIKE 'json\\_valid(%%'
"""

_TABLE_KINDS: dict[str, TableKind] = {"BASE TABLE": "table", "SYSTEM VERSIONED": "table", "VIEW": "view"}
_EXTERNAL_ENGINES = {"FEDERATED", "CONNECT", "SPIDER"}
_JSON_VALID = re.compile(r"^json_valid\(`((?:[^`]|``)+)`\)$", re.IGNORECASE)
_NUMERIC_TYPES = {
    "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric", "float", "double", "real",
    "bit", "year",
}

Key = tuple[str, str]  # (schema, table)

# Column values come typed from the server's JSON (numbers, strings, null) and the lines below; a catalog holds
# thousands of them, so they are built without a second validation (see connectors.trusted_models).
_new_column = constructor_for(Column)


class _CatalogReader:
    """Runs the catalog queries on one connection and counts them."""

    def __init__(self, conn: pymysql.Connection, progress: ProgressCallback | None) -> None:
        self.conn = conn
        self.progress = progress
        self.round_trips = 0

    def fetch(self, stage: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        started = time.perf_counter()
        with self.conn.cursor() as cursor:
            cursor.execute(sql, tuple(params) or None)
            rows = list(cursor.fetchall())
        self.round_trips += 1
        log.debug("mysql catalog query", extra={"stage": stage, "rows": len(rows), "ms": round((time.perf_counter() - started) * 1000, 1)})
        return rows

    def report(self, stage: str, fields: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress(stage, fields)


def _in_list(values: Iterable[str]) -> str:
    return ", ".join("%s" for _ in values)


def column_default(raw: Any, data_type: str, extra: str, server: ServerInfo) -> str | None:
    """COLUMN_DEFAULT as SQL text (None = no default), whichever way the server spells it."""
    if raw is None or ("GENERATED" in extra.upper() and "DEFAULT_GENERATED" not in extra.upper()):
        return None  # no default, or a generated column (its expression is not a default)
    if server.quotes_column_defaults:
        return None if raw == "NULL" else raw
    if "DEFAULT_GENERATED" in extra.upper() or data_type in _NUMERIC_TYPES:
        return raw
    if data_type in ("timestamp", "datetime") and raw.upper().startswith("CURRENT_TIMESTAMP"):
        return raw  # MySQL 5.7 lists this expression without the DEFAULT_GENERATED flag
    return "'" + raw.replace("\\", "\\\\").replace("'", "''") + "'"


def read_catalog(
    conn: pymysql.Connection,
    server: ServerInfo,
    *,
    database_name: str,
    filters: CatalogFilters,
    progress: ProgressCallback | None = None,
) -> Catalog:
    """The catalog of every schema (MySQL database) the connection can see, after the filters."""
    with building_long_lived_objects():
        return _read_catalog(conn, server, database_name=database_name, filters=filters, progress=progress)


def _read_catalog(
    conn: pymysql.Connection,
    server: ServerInfo,
    *,
    database_name: str,
    filters: CatalogFilters,
    progress: ProgressCallback | None,
) -> Catalog:
    reader = _CatalogReader(conn, progress)
    catalog = Catalog(source_type="mysql", server_version=server.version_string, round_trips=0)
    if not filters.database_ok(database_name):
        return catalog
    database = Database(name=database_name)
    catalog.databases.append(database)

    schema_names = [r[0] for r in reader.fetch("schemas", SCHEMATA_SQL)]
    schema_names = [s for s in schema_names if filters.schema_ok(s)]
    if not schema_names:
        catalog.round_trips = reader.round_trips
        reader.report("done", {"tables": 0, "round_trips": reader.round_trips})
        return catalog
    in_schemas = _in_list(schema_names)

    tables: dict[Key, Table] = {}
    for schema, name, table_type, engine, rows, data_len, index_len, comment in reader.fetch(
        "tables", TABLES_SQL.format(schemas=in_schemas), schema_names
    ):
        schema, name, table_type, engine = schema, name, table_type, engine
        kind = _TABLE_KINDS.get(table_type)
        if kind is None or not filters.table_ok(name):
            continue  # sequences, temporary tables
        if kind == "table" and (engine or "").upper() in _EXTERNAL_ENGINES:
            kind = "external"
        is_view = kind == "view"
        tables[(schema, name)] = Table(
            name=name,
            kind=kind,
            row_count=None if is_view or rows is None else int(rows),
            size_bytes=None if is_view or data_len is None else int(data_len) + int(index_len or 0),
            comment=None if is_view else (comment or None),
        )

    reader.report("relations", {"schemas": len(schema_names), "tables": len(tables)})
    if tables:
        _add_columns(reader, server, tables, in_schemas, schema_names)
        reader.report("columns", {"tables": len(tables)})
        _add_keys(reader, server, tables, in_schemas, schema_names, database_name)
        reader.report("keys", {"tables": len(tables)})
        views = [t for t in tables.values() if t.kind == "view"]
        if views:
            for schema, name, definition in reader.fetch("views", VIEWS_SQL.format(schemas=in_schemas), schema_names):
                table = tables.get((schema, name))
                if table is not None:
                    table.view_definition = definition or None
            reader.report("views", {"views": len(views)})

    by_schema: dict[str, list[Table]] = defaultdict(list)
    for (schema, _), table in tables.items():
        by_schema[schema].append(table)
    for schema in schema_names:
        database.schemas.append(Schema(name=schema, tables=sorted(by_schema.get(schema, []), key=lambda t: t.name)))
    catalog.round_trips = reader.round_trips
    reader.report("done", {"tables": len(tables), "round_trips": reader.round_trips})
    log.info("mysql introspected", extra={"schemas": len(schema_names), "tables": len(tables), "round_trips": reader.round_trips})
    return catalog


def _with_group_concat_limit(sql: str, server: ServerInfo) -> str:
    """MariaDB raises group_concat_max_len for this statement only; on MySQL the session was raised beforehand."""
    if server.flavor == "mariadb":
        return f"SET STATEMENT group_concat_max_len={GROUP_CONCAT_MAX_LEN} FOR {sql}"
    return sql


def _add_columns(
    reader: _CatalogReader, server: ServerInfo, tables: dict[Key, Table], in_schemas: str, schema_names: list[str]
) -> None:
    if server.flavor != "mariadb":
        reader.fetch("session", f"SET SESSION group_concat_max_len = {GROUP_CONCAT_MAX_LEN}")
    columns_sql = _with_group_concat_limit(COLUMNS_SQL.format(schemas=in_schemas), server)
    per_table: list[tuple[Table, str, str, list[list[Any]]]] = []
    for schema, table_name, columns_json in reader.fetch("columns", columns_sql, schema_names):
        table = tables.get((schema, table_name))
        if table is not None:
            per_table.append((table, schema, table_name, json.loads(columns_json)))
    json_columns: set[tuple[str, str, str]] = set()
    if server.has_check_constraints_table and any(c[4] == "longtext" for *_, cols in per_table for c in cols):
        for schema, table_name, clause in reader.fetch("json_checks", JSON_CHECKS_SQL.format(schemas=in_schemas), schema_names):
            match = _JSON_VALID.match(clause.strip())
            if match:
                json_columns.add((schema, table_name, match[1].replace("``", "`")))
    # The loop below runs once per column of the whole catalog, so it keeps per-column work to the Column itself:
    # types resolved once per distinct spelling, MariaDB's "no default" ('NULL') skipped without a call.
    check_json = bool(json_columns)
    no_default = "NULL" if server.quotes_column_defaults else None
    types: dict[tuple[str, str, bool], NormalizedType] = {}
    for table, schema, table_name, columns in per_table:
        append = table.columns.append
        for name, ordinal, default, nullable, data_type, column_type, extra, comment in columns:
            is_json = check_json and (schema, table_name, name) in json_columns
            type_key = (data_type, column_type, is_json)
            normalized = types.get(type_key)
            if normalized is None:
                normalized = types[type_key] = normalize_type(data_type, column_type, is_json=is_json)
            append(
                _new_column(
                    {
                        "ordinal": ordinal,
                        "name": name,
                        "data_type": column_type,
                        "normalized_type": normalized,
                        "nullable": nullable == "YES",
                        "default": None
                        if default is None or default == no_default
                        else column_default(default, data_type, extra, server),
                        "comment": comment or None,
                    }
                )
            )


def _add_keys(
    reader: _CatalogReader,
    server: ServerInfo,
    tables: dict[Key, Table],
    in_schemas: str,
    schema_names: list[str],
    database_name: str,
) -> None:
    rows = reader.fetch("keys", _with_group_concat_limit(KEYS_SQL.format(schemas=in_schemas), server), schema_names)
    for schema, table_name, keys_json in rows:
        table = tables.get((schema, table_name))
        if table is None:
            continue
        primary: list[tuple[int, str]] = []
        foreign: dict[str, list[tuple[int, str, str, str, str]]] = defaultdict(list)
        for constraint, column, ordinal, ref_schema, ref_table, ref_column in json.loads(keys_json):
            if ref_table is None:
                primary.append((ordinal, column))
            else:
                foreign[constraint].append((ordinal, column, ref_schema, ref_table, ref_column))
        table.primary_key = [name for _, name in sorted(primary)]
        for constraint in sorted(foreign):
            parts = sorted(foreign[constraint])
            table.foreign_keys.append(
                ForeignKey(
                    name=constraint,
                    columns=[p[1] for p in parts],
                    referred_database=database_name,
                    referred_schema=parts[0][2],
                    referred_table=parts[0][3],
                    referred_columns=[p[4] for p in parts],
                )
            )


__all__ = ["SYSTEM_SCHEMAS", "column_default", "read_catalog"]

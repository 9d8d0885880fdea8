"""spider-dev loaded into a DuckDB file, and the helpers the DuckDB connector tests share.

The ten spider-dev databases become ten schemas `cdk_<db>` of one DuckDB file, as the PostgreSQL and MariaDB tests
load them: tables and keys from `data/spider-dev/mysql/*.schema.sql` (read with sqlglot by the shared loader), rows
from the SQLite files, coerced by the shared loader's converters. DuckDB enforces foreign keys on insert and only
lets them point at a primary or unique key: spider-dev's data and keys satisfy both (checked when loaded), so every
key is declared in CREATE TABLE and tables are filled parents first.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.connectors.spider_loader import (
    SPIDER_DATABASES,
    SPIDER_DEV_DIR,
    SpiderTable,
    _converter,
    parse_spider_ddl,
    schema_name,
)

PREFIX = "cdk_"
SPIDER_FILE_NAME = "spider.duckdb"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _parents_first(specs: list[SpiderTable]) -> list[SpiderTable]:
    """Tables ordered so each comes after the tables its foreign keys refer to (self-references aside)."""
    by_name = {spec.name.lower(): spec for spec in specs}
    ordered: list[SpiderTable] = []
    seen: set[str] = set()

    def visit(spec: SpiderTable) -> None:
        if spec.name.lower() in seen:
            return
        seen.add(spec.name.lower())
        for fk in spec.foreign_keys:
            parent = by_name.get(fk.referred_table.lower())
            if parent is not None and parent is not spec:
                visit(parent)
        ordered.append(spec)

    for spec in specs:
        visit(spec)
    return ordered


def create_table_sql(schema: str, spec: SpiderTable) -> str:
    columns = [
        f"{_quoted(name)} {kind.sql(dialect='duckdb')}{' NOT NULL' if not_null or name in spec.primary_key else ''}"
        for name, kind, not_null in spec.columns
    ]
    if spec.primary_key:
        columns.append(f"PRIMARY KEY ({', '.join(map(_quoted, spec.primary_key))})")
    columns += [f"UNIQUE ({', '.join(map(_quoted, cols))})" for cols in spec.unique]
    for fk in spec.foreign_keys:
        columns.append(
            f"FOREIGN KEY ({', '.join(map(_quoted, fk.columns))}) REFERENCES {_quoted(schema)}.{_quoted(fk.referred_table)}"
            f" ({', '.join(map(_quoted, fk.referred_columns))})"
        )
    return f"CREATE TABLE {_quoted(schema)}.{_quoted(spec.name)} ({', '.join(columns)})"


NULL_MARK = "\\N"


def insert_rows(conn: duckdb.DuckDBPyConnection, table: str, rows: list[tuple[Any, ...]], scratch: Path) -> None:
    """Rows into `table` through a CSV file and COPY: binding a million parameters (wta_1's matches) takes 3.5 s,
    COPY reads the same values in a fraction of that. NULL is written as \\N (no spider value is that text)."""
    with scratch.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for row in rows:
            writer.writerow([NULL_MARK if v is None else v for v in row])
    conn.execute(f"COPY {table} FROM {_literal(str(scratch))} (FORMAT csv, HEADER false, NULLSTR {_literal(NULL_MARK)})")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def spider_rows(source: sqlite3.Connection, spec: SpiderTable) -> list[tuple[Any, ...]]:
    """A spider table's rows from its SQLite file, each value coerced to its declared type by the shared loader's
    converters (SQLite is typeless: wta_1 keeps birth dates as YYYYMMDD numbers and the text 'NULL')."""
    converters = [_converter(kind) for _, kind, _ in spec.columns]
    select = ", ".join(_quoted(name) for name, _, _ in spec.columns)
    return [
        tuple(convert(v) for convert, v in zip(converters, row))
        for row in source.execute(f"SELECT {select} FROM {_quoted(spec.name)}").fetchall()
    ]


def load_spider_into_duckdb(path: Path, prefix: str = PREFIX, databases: tuple[str, ...] = SPIDER_DATABASES) -> dict[str, list[SpiderTable]]:
    """Build the DuckDB file at `path` (replacing it); returns {schema: [SpiderTable, ...]}, the oracle."""
    path.unlink(missing_ok=True)
    loaded: dict[str, list[SpiderTable]] = {}
    conn = duckdb.connect(str(path))
    try:
        conn.execute("BEGIN")  # one transaction: the file holds all of spider-dev or nothing
        for database in databases:
            schema = schema_name(prefix, database)
            specs = parse_spider_ddl(database)
            conn.execute(f"CREATE SCHEMA {_quoted(schema)}")
            source = sqlite3.connect(f"file:{SPIDER_DEV_DIR / 'sqlite' / f'{database}.sqlite'}?mode=ro", uri=True)
            try:
                for spec in _parents_first(specs):
                    conn.execute(create_table_sql(schema, spec))
                    rows = spider_rows(source, spec)
                    if rows:
                        insert_rows(conn, f"{_quoted(schema)}.{_quoted(spec.name)}", rows, path.with_suffix(".rows.csv"))
            finally:
                source.close()
            loaded[schema] = specs
        conn.execute("COMMIT")
        conn.execute("CHECKPOINT")
    finally:
        conn.close()
        path.with_suffix(".rows.csv").unlink(missing_ok=True)
    return loaded


def spider_sqlite_oracle(database: str) -> sqlite3.Connection:
    """An in-memory SQLite database holding exactly the rows `load_spider_into_duckdb` loads for `database` (dates as
    ISO text): the oracle gold queries are compared against, so a difference is the connector's or DuckDB's, not a
    difference in how the SQLite file happens to spell a date."""
    oracle = sqlite3.connect(":memory:")
    source = sqlite3.connect(f"file:{SPIDER_DEV_DIR / 'sqlite' / f'{database}.sqlite'}?mode=ro", uri=True)
    try:
        for spec in parse_spider_ddl(database):
            columns = ", ".join(f"{_quoted(name)} {kind.sql(dialect='sqlite')}" for name, kind, _ in spec.columns)
            oracle.execute(f"CREATE TABLE {_quoted(spec.name)} ({columns})")
            rows = [tuple(_sqlite_value(v) for v in row) for row in spider_rows(source, spec)]
            if rows:
                placeholders = ", ".join("?" * len(spec.columns))
                oracle.executemany(f"INSERT INTO {_quoted(spec.name)} VALUES ({placeholders})", rows)
    finally:
        source.close()
    return oracle


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


@functools.cache
def _spider_once(directory: Path) -> tuple[Path, dict[str, list[SpiderTable]]]:
    path = directory / SPIDER_FILE_NAME
    return path, load_spider_into_duckdb(path)


@pytest.fixture(scope="session")
def spider_duckdb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[SpiderTable]]]:
    """(file, {schema: tables}): spider-dev in one DuckDB file. Each test module imports this fixture, which makes it
    one fixture per module for pytest; the cache keeps it one load per test run."""
    return _spider_once(tmp_path_factory.getbasetemp())


def credentials(path: Path, **overrides: Any) -> dict[str, Any]:
    return {"type": "duckdb", "path": str(path), **overrides}


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes: a database file that was only read keeps it."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_probe_database(path: Path) -> Path:
    """A small database with a key, a view and one row per `n` in 1..3, written and closed (so it can be opened
    read-only)."""
    conn = duckdb.connect(str(path))
    try:
        conn.execute("CREATE TABLE probe (n INTEGER PRIMARY KEY, label VARCHAR NOT NULL, amount DECIMAL(10,2))")
        conn.execute("INSERT INTO probe VALUES (1, 'one', 1.50), (2, 'two', NULL), (3, 'three', 3.25)")
        conn.execute("CREATE VIEW probe_big AS SELECT n, label FROM probe WHERE n > 1")
        conn.execute("CHECKPOINT")
    finally:
        conn.close()
    return path


# the statement a timeout or cancel has to stop: a cross join DuckDB counts for minutes on two cores
SLOW_SQL = "SELECT count(*) FROM range(100000000) AS a(x), range(100000) AS b(y) WHERE a.x + b.y > 0"

"""The fakesnow stand-in for Snowflake, and spider-dev loaded into it.

fakesnow (PyPI `fakesnow[server]`) runs a Snowflake-compatible HTTP server in a thread of the test process, backed by
DuckDB; the real `snowflake-connector-python` talks to it over `protocol='http'`. It accepts any password and has no
SHOW PRIMARY/IMPORTED KEYS IN DATABASE, no SYSTEM$CANCEL_ALL_QUERIES and no session id: those paths are tested at the
SQL/parse level and against recorded driver behaviour instead (see each test's docstring).
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any, Iterator

import pytest

from tests.connectors.spider_loader import SPIDER_DEV_DIR, _converter, parse_spider_ddl

#: the three spider-dev databases loaded into fakesnow, each as its own Snowflake database
SNOWFLAKE_SPIDER_DATABASES = ("concert_singer", "pets_1", "car_1")
DATABASE_PREFIX = "TSF_"
SPIDER_SCHEMA = "SPIDER"


def require_fakesnow() -> None:
    try:
        import fakesnow  # noqa: F401
        import snowflake.connector  # noqa: F401
    except ImportError as exc:
        message = f"fakesnow / snowflake-connector-python missing ({exc.name}); run .ci/setup-snowflake.sh"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def snowflake_database(spider_db: str) -> str:
    return f"{DATABASE_PREFIX}{spider_db}".upper()


def credentials(port: int, **overrides: Any) -> dict[str, Any]:
    """Password credentials for the fakesnow server on `port` (fakesnow accepts any password)."""
    creds: dict[str, Any] = {
        "type": "snowflake",
        "account": "fakesnow",
        "username": "fake",
        "password": "fake-snow-secret-4711",
        "host": "127.0.0.1",
        "port": port,
        "protocol": "http",
    }
    creds.update(overrides)
    return creds


def raw_connection(server: dict[str, Any]) -> Any:
    """A plain driver connection for setting up test data (DDL the guarded connector would refuse)."""
    import snowflake.connector

    return snowflake.connector.connect(**server)


def load_spider_into_fakesnow(server: dict[str, Any], databases: tuple[str, ...] = SNOWFLAKE_SPIDER_DATABASES) -> dict[str, list[Any]]:
    """Create one database per spider db (schema SPIDER), tables from the MySQL DDL transpiled by sqlglot, rows from
    SQLite. Returns {snowflake database: [SpiderTable, ...]} — the oracle the introspection is compared with."""
    import sqlglot  # noqa: F401

    loaded: dict[str, list[Any]] = {}
    conn = raw_connection(server)
    try:
        cur = conn.cursor()
        for spider_db in databases:
            database = snowflake_database(spider_db)
            cur.execute(f"CREATE OR REPLACE DATABASE {database}")
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {database}.{SPIDER_SCHEMA}")
            specs = parse_spider_ddl(spider_db)
            sqlite_path = SPIDER_DEV_DIR / "sqlite" / f"{spider_db}.sqlite"
            source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
            try:
                for spec in specs:
                    target = f"{database}.{SPIDER_SCHEMA}.{spec.name}"
                    cols = [
                        f"{name} {kind.sql(dialect='snowflake')}{' NOT NULL' if not_null or name in spec.primary_key else ''}"
                        for name, kind, not_null in spec.columns
                    ]
                    if spec.primary_key:
                        cols.append(f"PRIMARY KEY ({', '.join(spec.primary_key)})")
                    cur.execute(f"CREATE OR REPLACE TABLE {target} ({', '.join(cols)})")
                    names = [name for name, _, _ in spec.columns]
                    converters = [_converter(kind) for _, kind, _ in spec.columns]
                    select = ", ".join(f'"{n}"' for n in names)
                    rows = [
                        tuple(convert(v) for convert, v in zip(converters, row))
                        for row in source.execute(f'SELECT {select} FROM "{spec.name}"').fetchall()
                    ]
                    rows = [r for r in rows if all(r[names.index(k)] is not None for k in spec.primary_key)]
                    if rows:
                        placeholders = ", ".join(["%s"] * len(names))
                        cur.executemany(f"INSERT INTO {target} ({', '.join(names)}) VALUES ({placeholders})", rows)
            finally:
                source.close()
            loaded[database] = specs
    finally:
        conn.close()
    return loaded


@pytest.fixture(scope="session")
def fakesnow_server() -> Iterator[dict[str, Any]]:
    """Connection kwargs of a fakesnow server running for the whole test session."""
    require_fakesnow()
    import fakesnow

    from connectors.snowflake.pool import POOL

    with fakesnow.server() as server:
        yield server
        POOL.clear()  # sessions parked by `connect()` belong to this server: close them before it stops


@pytest.fixture(scope="session")
def spider_in_fakesnow(fakesnow_server: dict[str, Any]) -> dict[str, list[Any]]:
    return load_spider_into_fakesnow(fakesnow_server)

"""Fixtures for the `taskpack sources` tests: a runtime database per test (SQLite file or fresh PostgreSQL database),
a worker on it, and sources on the real PostgreSQL and MariaDB that a test may change (names `st_cli_<random>`,
dropped afterwards)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pymysql
import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from cli.main import app
from runtime import Worker
from runtime.backend import reset_backends
from store.secrets import ENV_KEY, ENV_PREVIOUS
from tasks.introspect_data import task as introspect_module
from tests.runtime.conftest import make_database

runner = CliRunner()


@dataclass
class Taskpack:
    """`taskpack ...` against one runtime database, in this process (Typer's runner)."""

    url: str
    kind: str

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return runner.invoke(app, [*args, "--database-url", self.url], input=input, env={"COLUMNS": "250"})


@pytest.fixture(params=["sqlite", "postgres"])
def taskpack(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Taskpack]:
    """On SQLite the key is the generated key file (under tmp_path); on PostgreSQL it comes from the environment."""
    monkeypatch.setenv("TASKPACK_PROJECT_ROOT", str(tmp_path))
    monkeypatch.delenv(ENV_PREVIOUS, raising=False)
    if request.param == "postgres":
        monkeypatch.setenv(ENV_KEY, Fernet.generate_key().decode())
    else:
        monkeypatch.delenv(ENV_KEY, raising=False)
    url, drop = make_database(request.param, tmp_path)
    try:
        yield Taskpack(url=url, kind=request.param)
    finally:
        reset_backends()
        drop()


@pytest.fixture
def worker(taskpack: Taskpack) -> Iterator[Worker]:
    with Worker(database_url=taskpack.url, tasks=[introspect_module], concurrency=4) as w:
        yield w


# -- sources a test may change ---------------------------------------------------------------------------------------
PG_DDL = """
CREATE TABLE {s}.customers (id integer PRIMARY KEY, email text NOT NULL, legacy_code text);
CREATE TABLE {s}.orders (id integer PRIMARY KEY, customer_id integer REFERENCES {s}.customers(id), amount integer);
CREATE VIEW {s}.order_count AS SELECT count(*) AS n FROM {s}.orders;
"""
#: adds a table, drops a column, changes a column's type: exactly these three changes
PG_CHANGES = """
CREATE TABLE {s}.refunds (id integer PRIMARY KEY, order_id integer);
ALTER TABLE {s}.customers DROP COLUMN legacy_code;
ALTER TABLE {s}.orders ALTER COLUMN amount TYPE text;
"""
MYSQL_DDL = [
    "CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(200) NOT NULL, legacy_code VARCHAR(20))",
    "CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount INT)",
    "CREATE VIEW order_count AS SELECT count(*) AS n FROM orders",
]
MYSQL_CHANGES = [
    "CREATE TABLE refunds (id INT PRIMARY KEY, order_id INT)",
    "ALTER TABLE customers DROP COLUMN legacy_code",
    "ALTER TABLE orders MODIFY amount TEXT",
]


@dataclass
class ChangingSource:
    """A source whose schema `change()` alters; `credentials` carry a recognisable password to scan for."""

    kind: str
    credentials: dict[str, Any]
    password: str
    schema: str
    admin_url: str

    def change(self) -> None:
        url = make_url(self.admin_url)
        if self.kind == "postgres":
            with psycopg.connect(host=url.host, port=url.port or 5432, dbname=url.database, user=url.username, autocommit=True) as conn:
                conn.execute(PG_CHANGES.format(s=f'"{self.schema}"'))
            return
        conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username or "root", database=self.schema, autocommit=True)
        try:
            with conn.cursor() as cur:
                for statement in MYSQL_CHANGES:
                    cur.execute(statement)
        finally:
            conn.close()


@pytest.fixture
def pg_changing(postgres_url: str) -> Iterator[ChangingSource]:
    """A schema on the shared PostgreSQL (which trusts every login: the password is carried, never checked)."""
    url = make_url(postgres_url)
    schema = f"st_cli_{uuid.uuid4().hex[:8]}"
    connect = dict(host=url.host, port=url.port or 5432, dbname=url.database, user=url.username, autocommit=True)
    with psycopg.connect(**connect) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(PG_DDL.format(s=f'"{schema}"'))
    password = f"stPgPw-{secrets.token_hex(8)}"
    creds = {"type": "postgres", "host": url.host, "port": url.port or 5432, "database": url.database, "username": url.username,
             "password": password, "ssl_mode": "disable", "connect_timeout": 3}
    try:
        yield ChangingSource("postgres", creds, password, schema, postgres_url)
    finally:
        with psycopg.connect(**connect) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def mariadb_changing(mysql_url: str) -> Iterator[ChangingSource]:
    """A database and a password-protected user that may read only it."""
    url = make_url(mysql_url)
    host, port = url.host or "127.0.0.1", url.port or 3306
    name = f"st_cli_{uuid.uuid4().hex[:8]}"
    password = f"stMyPw-{secrets.token_hex(8)}"
    admin = pymysql.connect(host=host, port=port, user=url.username or "root", password=url.password or "", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"USE `{name}`")
            for statement in MYSQL_DDL:
                cur.execute(statement)
            cur.execute(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT SELECT, SHOW VIEW ON `{name}`.* TO '{name}'@'%'")
        creds = {"type": "mysql", "host": host, "port": port, "database": name, "username": name, "password": password,
                 "ssl_mode": "disabled", "connect_timeout": 3}
        yield ChangingSource("mysql", creds, password, name, mysql_url)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"DROP USER IF EXISTS '{name}'@'%'")
        admin.close()

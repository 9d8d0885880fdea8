"""Databases the introspect-data tests read, on the real PostgreSQL and MariaDB (everything named `tid_*`).

Each test session makes its own schemas (a random suffix, so two runs of this suite on the same servers never
collide) and drops them afterwards. Only objects with the `tid_` prefix are created or dropped.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import psycopg
import pymysql
import pytest
from sqlalchemy.engine import make_url

SUFFIX = uuid.uuid4().hex[:6]

# Four tables, one view; 4 + 4 + 3 + 3 columns in the tables, 2 in the view.
PG_SHOP_DDL = """
CREATE TABLE {s}.customers (id integer PRIMARY KEY, email text NOT NULL, name text, created_at timestamptz DEFAULT now());
CREATE TABLE {s}.products (id integer PRIMARY KEY, name text NOT NULL, price numeric(10,2), category text);
CREATE TABLE {s}.orders (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES {s}.customers(id), total numeric(12,2));
CREATE TABLE {s}.order_items (
    order_id integer REFERENCES {s}.orders(id), product_id integer REFERENCES {s}.products(id), qty integer NOT NULL,
    PRIMARY KEY (order_id, product_id));
COMMENT ON TABLE {s}.orders IS 'one row per checkout';
CREATE VIEW {s}.customer_totals AS SELECT c.id AS customer_id, sum(o.total) AS total
    FROM {s}.customers c JOIN {s}.orders o ON o.customer_id = c.id GROUP BY c.id;
INSERT INTO {s}.customers SELECT g, 'user' || g || '@example.com', 'user ' || g, now() FROM generate_series(1, 40) g;
INSERT INTO {s}.products SELECT g, 'product ' || g, g * 1.5, CASE WHEN g % 2 = 0 THEN 'books' ELSE 'games' END
    FROM generate_series(1, 10) g;
INSERT INTO {s}.orders SELECT g, 1 + g % 40, g * 3.25 FROM generate_series(1, 120) g;
INSERT INTO {s}.order_items SELECT g, 1 + g % 10, 1 + g % 3 FROM generate_series(1, 120) g;
ANALYZE {s}.customers; ANALYZE {s}.products; ANALYZE {s}.orders; ANALYZE {s}.order_items;
"""
PG_SHOP_COUNTS = {"databases": 1, "schemas": 1, "tables": 4, "views": 1, "columns": 16}

# One table and a view whose every row waits 50 ms on the server: profiling it takes ~50 s, long enough to cancel.
PG_SLOW_DDL = """
CREATE TABLE {s}.events (id integer PRIMARY KEY, kind text);
INSERT INTO {s}.events SELECT g, 'k' || (g % 3) FROM generate_series(1, 30) g;
CREATE VIEW {s}.slow_rows AS SELECT x AS id, 'row ' || x AS label FROM generate_series(1, 1000) x
    WHERE pg_sleep(0.05) IS NOT NULL;
"""


@dataclass(frozen=True)
class PgSource:
    url: str
    shop_schema: str
    slow_schema: str

    def credentials(self, **overrides: Any) -> dict[str, Any]:
        parsed = make_url(self.url)
        creds: dict[str, Any] = {
            "type": "postgres",
            "host": parsed.host or "127.0.0.1",
            "port": parsed.port or 5432,
            "database": parsed.database,
            "username": parsed.username,
            "ssl_mode": "disable",
            "connect_timeout": 3,
        }
        creds.update(overrides)
        return creds

    def admin(self) -> psycopg.Connection[Any]:
        parsed = make_url(self.url)
        return psycopg.connect(
            host=parsed.host, port=parsed.port or 5432, dbname=parsed.database, user=parsed.username, autocommit=True
        )


@pytest.fixture(scope="session")
def pg_source(postgres_url: str) -> Iterator[PgSource]:
    source = PgSource(url=postgres_url, shop_schema=f"tid_shop_{SUFFIX}", slow_schema=f"tid_slow_{SUFFIX}")
    with source.admin() as conn:
        for schema, ddl in ((source.shop_schema, PG_SHOP_DDL), (source.slow_schema, PG_SLOW_DDL)):
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(ddl.format(s=f'"{schema}"'))
    try:
        yield source
    finally:
        with source.admin() as conn:
            for schema in (source.shop_schema, source.slow_schema):
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- MariaDB ---------------------------------------------------------------------------------------------------------
# Two tables, one view: 3 + 4 columns in the tables, 2 in the view.
MYSQL_DDL = [
    "CREATE TABLE authors (id INT PRIMARY KEY, name VARCHAR(100) NOT NULL, born DATE)",
    "CREATE TABLE books (id INT PRIMARY KEY, author_id INT NOT NULL, title VARCHAR(200) NOT NULL, price DECIMAL(8,2),"
    " CONSTRAINT fk_books_author FOREIGN KEY (author_id) REFERENCES authors(id))",
    "CREATE VIEW author_books AS SELECT a.name AS author, count(b.id) AS books FROM authors a"
    " LEFT JOIN books b ON b.author_id = a.id GROUP BY a.name",
    "INSERT INTO authors VALUES (1, 'Ursula', '1929-10-21'), (2, 'Octavia', '1947-06-22'), (3, 'Iain', '1954-02-16')",
    "INSERT INTO books VALUES (1, 1, 'The Dispossessed', 9.5), (2, 1, 'Lathe of Heaven', 8.0), (3, 2, 'Kindred', 7.25),"
    " (4, 3, 'Excession', 11.0)",
]
MYSQL_COUNTS = {"databases": 1, "schemas": 1, "tables": 2, "views": 1, "columns": 9}


@dataclass(frozen=True)
class MySQLSource:
    host: str
    port: int
    database: str
    username: str
    password: str

    def credentials(self, **overrides: Any) -> dict[str, Any]:
        creds: dict[str, Any] = {
            "type": "mysql",
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "username": self.username,
            "password": self.password,
            "ssl_mode": "disabled",
            "connect_timeout": 3,
        }
        creds.update(overrides)
        return creds


@pytest.fixture(scope="session")
def mysql_source(mysql_url: str) -> Iterator[MySQLSource]:
    """A database and a password-protected user that may read only it (the local root has no password to get wrong)."""
    url = make_url(mysql_url)
    host, port = url.host or "127.0.0.1", url.port or 3306
    database, user = f"tid_books_{SUFFIX}", f"tid_user_{SUFFIX}"
    password = f"tidPw-{secrets.token_urlsafe(12)}"  # recognisable and random: easy to spot if it ever leaks
    admin = pymysql.connect(host=host, port=port, user=url.username or "root", password=url.password or "", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute(f"CREATE DATABASE `{database}`")
            cur.execute(f"USE `{database}`")
            for statement in MYSQL_DDL:
                cur.execute(statement)
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT SELECT, SHOW VIEW ON `{database}`.* TO '{user}'@'%'")
        yield MySQLSource(host=host, port=port, database=database, username=user, password=password)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


@dataclass(frozen=True)
class MySQLSlowSource:
    """A database whose view waits 50 ms per row on the server, read as root (the cancel test needs no password)."""

    host: str
    port: int
    username: str
    database: str

    def credentials(self) -> dict[str, Any]:
        return {"type": "mysql", "host": self.host, "port": self.port, "username": self.username, "database": self.database,
                "ssl_mode": "disabled", "connect_timeout": 3}

    def admin(self) -> pymysql.Connection:
        return pymysql.connect(host=self.host, port=self.port, user=self.username, autocommit=True)


@pytest.fixture(scope="session")
def mysql_slow_source(mysql_url: str) -> Iterator[MySQLSlowSource]:
    url = make_url(mysql_url)
    source = MySQLSlowSource(host=url.host or "127.0.0.1", port=url.port or 3306, username=url.username or "root",
                             database=f"tid_slow_{SUFFIX}")
    admin = source.admin()
    try:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{source.database}`")
            cur.execute(f"CREATE DATABASE `{source.database}`")
            cur.execute(f"USE `{source.database}`")
            cur.execute("CREATE TABLE numbers (n INT PRIMARY KEY)")
            cur.execute("INSERT INTO numbers SELECT seq FROM seq_1_to_1000")  # MariaDB's SEQUENCE engine
            cur.execute("CREATE VIEW slow_rows AS SELECT n AS id, SLEEP(0.05) AS waited FROM numbers")
        yield source
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{source.database}`")
        admin.close()

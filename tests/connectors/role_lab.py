"""Throwaway databases, roles and users on the real PostgreSQL and MariaDB, for the role-capability tests.

Roles are cluster-wide (PostgreSQL) or server-wide (MariaDB), so everything is named `crl_<run>_...` with a random
run id, lives in its own database `crl_<run>` (so no other engineer's grants to PUBLIC in `test` can change what a
role may do), and is dropped afterwards: the database first (WITH (FORCE) closes what is still connected), then the
roles.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Iterator

import psycopg
import pymysql
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url


class PgLab:
    """A database of its own on the local PostgreSQL, with a `shop` schema, and the roles a test creates."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.host, self.port, self.admin_user = parsed.host or "127.0.0.1", parsed.port or 5432, parsed.username
        self.run = uuid.uuid4().hex[:8]
        self.database = f"crl_{self.run}"
        self.roles: list[str] = []
        self.parameter_grants: list[tuple[str, str]] = []
        with self._connect("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        self.admin = self._connect(self.database)
        self.admin.execute(
            "CREATE SCHEMA shop;"
            " CREATE TABLE shop.orders (id integer PRIMARY KEY, total numeric(10,2), note text);"
            " CREATE TABLE shop.customers (id integer PRIMARY KEY, email text);"
            " CREATE VIEW shop.big_orders AS SELECT id, total FROM shop.orders WHERE total > 100;"
            " CREATE SEQUENCE shop.order_ids;"
            " INSERT INTO shop.orders SELECT g, g * 10, 'n' || g FROM generate_series(1, 20) g;"
        )

    def _connect(self, database: str) -> psycopg.Connection[Any]:
        return psycopg.connect(host=self.host, port=self.port, dbname=database, user=self.admin_user, autocommit=True)

    def role(self, label: str, attributes: str = "") -> str:
        """A LOGIN role `crl_<run>_<label>` with these attributes (e.g. 'SUPERUSER', 'NOINHERIT CREATEROLE')."""
        name = f"crl_{self.run}_{label}"
        self.admin.execute(sql.SQL("CREATE ROLE {} LOGIN " + attributes).format(sql.Identifier(name)))
        self.roles.append(name)
        return name

    def reader(self, label: str, attributes: str = "") -> str:
        """A role that may connect and SELECT from shop (the read-only baseline every test adds to)."""
        name = self.role(label, attributes)
        self.execute("GRANT USAGE ON SCHEMA shop TO {r}; GRANT SELECT ON ALL TABLES IN SCHEMA shop TO {r}", name)
        return name

    def execute(self, statement: str, role: str | None = None) -> None:
        """Run admin SQL in the lab database; `{r}` is replaced by the quoted role name."""
        text = statement.replace("{r}", sql.Identifier(role).as_string(self.admin)) if role else statement
        self.admin.execute(text)

    def grant_parameter(self, privilege: str, parameter: str, role: str) -> None:
        """GRANT SET / ALTER SYSTEM ON PARAMETER (PostgreSQL 15+), revoked again at close."""
        self.admin.execute(
            sql.SQL("GRANT {} ON PARAMETER {} TO {}").format(sql.SQL(privilege), sql.Identifier(parameter), sql.Identifier(role))
        )
        self.parameter_grants.append((parameter, role))

    def credentials(self, role: str, source_type: str = "postgres") -> dict[str, Any]:
        return {
            "type": source_type, "host": self.host, "port": self.port, "database": self.database, "username": role,
            "ssl_mode": "disable", "connect_timeout": 3,
        }

    def close(self) -> None:
        self.admin.close()
        with self._connect("postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database)))
            for parameter, role in self.parameter_grants:  # a shared catalog: the database's drop leaves them
                conn.execute(sql.SQL("REVOKE ALL ON PARAMETER {} FROM {}").format(sql.Identifier(parameter), sql.Identifier(role)))
            for role in reversed(self.roles):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(scope="module")
def pg_lab(postgres_url: str) -> Iterator[PgLab]:
    lab = PgLab(postgres_url)
    try:
        yield lab
    finally:
        lab.close()


class MariaLab:
    """A database of its own on the local MariaDB (`shop` tables), and the users and roles a test creates."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.host, self.port = parsed.host or "127.0.0.1", parsed.port or 3306
        self.run = uuid.uuid4().hex[:8]
        self.database = f"crl_{self.run}"
        self.password = f"crlPw-{secrets.token_urlsafe(12)}"
        self.users: list[str] = []
        self.roles: list[str] = []
        self._admin_login = {"user": parsed.username or "root", "password": parsed.password or ""}
        self.admin = self.admin_connection()
        self.execute(f"CREATE DATABASE `{self.database}`")
        self.execute(f"CREATE TABLE `{self.database}`.orders (id INT PRIMARY KEY, total DECIMAL(10,2))")
        self.execute(f"CREATE TABLE `{self.database}`.customers (id INT PRIMARY KEY, email VARCHAR(100))")
        self.execute(f"INSERT INTO `{self.database}`.orders VALUES (1, 10.5), (2, 99)")

    def admin_connection(self) -> pymysql.Connection:
        return pymysql.connect(host=self.host, port=self.port, autocommit=True, **self._admin_login)

    def execute(self, statement: str, params: Any = None) -> None:
        with self.admin.cursor() as cur:
            cur.execute(statement, params)

    def user(self, label: str) -> str:
        """A password-protected user `crl_<run>_<label>`@'%' that may SELECT from the lab database."""
        name = f"crl_{self.run}_{label}"
        self.execute(f"CREATE USER '{name}'@'%%' IDENTIFIED BY %s", (self.password,))
        self.execute(f"GRANT SELECT ON `{self.database}`.* TO '{name}'@'%'")
        self.users.append(name)
        return name

    def role(self, label: str) -> str:
        name = f"crl_{self.run}_{label}"
        self.execute(f"CREATE ROLE `{name}`")
        self.roles.append(name)
        return name

    def credentials(self, user: str) -> dict[str, Any]:
        return {"type": "mysql", "host": self.host, "port": self.port, "database": self.database, "username": user,
                "password": self.password, "ssl_mode": "disabled", "connect_timeout": 3}

    def close(self) -> None:
        self.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        for user in self.users:
            self.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        for role in self.roles:
            self.execute(f"DROP ROLE IF EXISTS `{role}`")
        self.admin.close()


@pytest.fixture(scope="module")
def maria_lab(mysql_url: str) -> Iterator[MariaLab]:
    lab = MariaLab(mysql_url)
    try:
        yield lab
    finally:
        lab.close()

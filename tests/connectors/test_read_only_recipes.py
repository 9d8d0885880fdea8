"""The README's "Read-only roles" recipes, run as written on the real PostgreSQL and MariaDB.

Each recipe is read from README.md (so the README and this test cannot drift apart), its placeholders are replaced
by the lab's names (role `analyst_ro`, database `analytics`, schema `sales`, password `change-me`), and it is run as
the admin. The role it creates must then be reported `read_only=True` by `test_connection()`, must read the tables
it was given, and, over a plain driver connection that no SQL guard stands in front of, must be refused every write,
server file and other session.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pymysql
import pytest

from connectors import connect
from tests.connectors.role_lab import MariaLab, PgLab, maria_lab, pg_lab  # noqa: F401 - fixtures

README = Path(__file__).resolve().parents[2] / "README.md"
SOURCES = ("PostgreSQL", "MySQL / MariaDB", "Redshift", "Snowflake", "BigQuery", "SQL Server", "Databricks", "DuckDB")


def recipe(source: str) -> str:
    """The first code block under `### <source>` in the README's Read-only roles section."""
    text = README.read_text()
    section = text[text.index("## Read-only roles") :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    match = re.search(rf"^### {re.escape(source)}\n.*?```\w*\n(.*?)```", section, re.S | re.M)
    assert match, f"no recipe for {source} in README.md"
    return match.group(1)


def filled(text: str, **names: str) -> str:
    for placeholder, name in names.items():
        text = re.sub(rf"\b{placeholder}\b", name, text)
    return text


def test_every_source_has_a_recipe() -> None:
    for source in SOURCES:
        assert recipe(source).strip()


@pytest.mark.postgres
def test_postgres_recipe_makes_a_role_reported_read_only_that_the_server_refuses_writes(pg_lab: PgLab) -> None:
    role = f"crl_{pg_lab.run}_recipe"
    pg_lab.roles.append(role)
    pg_lab.execute(filled(recipe("PostgreSQL"), analyst_ro=role, analytics=pg_lab.database, sales="shop"))

    with connect(pg_lab.credentials(role)) as conn:
        test = conn.test_connection()
        assert test.ok and test.role is not None
        assert test.role.read_only is True, test.role.findings
        assert test.role.principal == role
        assert conn.query("SELECT count(*) FROM shop.orders").rows == [[20]]

    with psycopg.connect(host=pg_lab.host, port=pg_lab.port, dbname=pg_lab.database, user=role, autocommit=True) as raw:
        assert raw.execute("SHOW default_transaction_read_only").fetchone() == ("on",)  # the recipe's ALTER ROLE
        raw.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")  # what a guard bypass would do first
        other_pid = pg_lab.admin.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        for statement in (
            "INSERT INTO shop.orders VALUES (999, 1, 'x')",
            "DELETE FROM shop.orders",
            "CREATE TABLE shop.scratch (id int)",
            "CREATE TABLE public.scratch (id int)",
            "SELECT pg_read_file('/etc/hostname')",
            "COPY shop.orders TO '/tmp/crl_recipe_out.csv'",
            f"SELECT pg_terminate_backend({other_pid})",
            "ALTER SYSTEM SET work_mem = '64MB'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                raw.execute(statement)
    assert pg_lab.admin.execute("SELECT count(*) FROM shop.orders").fetchone() == (20,)


@pytest.mark.mysql
def test_mariadb_recipe_makes_a_user_reported_read_only_that_the_server_refuses_writes(maria_lab: MariaLab) -> None:
    user = f"crl_{maria_lab.run}_recipe"
    maria_lab.users.append(user)
    for statement in filled(recipe("MySQL / MariaDB"), analyst_ro=user, analytics=maria_lab.database).split(";"):
        if "'change-me'" in statement:  # the password goes as a bound parameter ('%' doubled for PyMySQL)
            maria_lab.execute(statement.replace("%", "%%").replace("'change-me'", "%s"), (maria_lab.password,))
        elif statement.strip():
            maria_lab.execute(statement)

    with connect(maria_lab.credentials(user)) as conn:
        test = conn.test_connection()
        assert test.ok and test.role is not None
        assert test.role.read_only is True, test.role.findings
        assert conn.query("SELECT count(*) AS n FROM orders").rows == [[2]]

    raw = pymysql.connect(host=maria_lab.host, port=maria_lab.port, user=user, password=maria_lab.password,
                          database=maria_lab.database, autocommit=True)
    victim = maria_lab.admin_connection()  # another account's session
    try:
        with raw.cursor() as cur:
            for statement in (
                "INSERT INTO orders VALUES (3, 1)",
                "DELETE FROM orders",
                "CREATE TABLE scratch (id INT)",
                "SELECT * FROM orders INTO OUTFILE '/tmp/crl_recipe_out.csv'",
                "SET GLOBAL max_connections = 10",
                f"KILL CONNECTION {victim.thread_id()}",
            ):
                with pytest.raises(pymysql.err.MySQLError) as info:
                    cur.execute(statement)
                assert info.value.args[0] in (1044, 1045, 1142, 1227, 1095), (statement, info.value.args)
            cur.execute("SELECT LOAD_FILE('/etc/hostname')")
            assert cur.fetchone() == (None,)  # without FILE the server answers NULL instead of the file
        victim.ping(reconnect=False)  # still alive
    finally:
        raw.close()
        victim.close()
    with maria_lab.admin.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM `{maria_lab.database}`.orders")
        assert cur.fetchone() == (2,)

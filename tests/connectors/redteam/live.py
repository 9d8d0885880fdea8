"""Run red-team attacks for real, against canary databases, and look for any effect.

Used by `test_redteam_live.py` and by `bench/sql_guard_bench.py`. Each runner creates a canary database with a unique
name (table `canary` with known rows, sequence `canary_seq`, and for PostgreSQL/MariaDB a victim session), sends every
attack through the real path (`connectors.connect(credentials).query(sql)`; DuckDB: the guard, then a read-write
connection, which is stricter than the connector's read-only one), then checks after each attack that nothing
happened: rows and sequence unchanged, no lock held, the victim session alive, no statistics reset, no setting
changed, no file written, no statement ran past its timeout. It drops the canary afterwards.
"""

from __future__ import annotations

import glob
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from connectors import ConnectorError, QueryError, ReadOnlyViolation, connect
from connectors.sql_guard import check_read_only
from tests.connectors.redteam.corpus import Attack

TIMEOUT_S = 2.0
#: a statement that took longer than its timeout plus this slept past it
GRACE_S = 1.5
_ROWS = [(1, "alpha"), (2, "beta"), (3, "gamma")]


@dataclass
class Outcome:
    attack: Attack
    #: "guard" (refused before reaching the server), "server" (the server refused), or "" (it ran)
    refused_by: str
    seconds: float
    message: str = ""
    effects: list[str] = field(default_factory=list)


def _stray_files() -> list[str]:
    return sorted(glob.glob("/tmp/redteam_*"))


def _attempt(run: Callable[[], Any]) -> tuple[str, float, str]:
    started = time.perf_counter()
    try:
        run()
    except ReadOnlyViolation as exc:
        return "guard", time.perf_counter() - started, exc.message
    except QueryError as exc:
        by = "guard" if exc.code in ("unparseable_sql", "empty_sql") else "server"
        return by, time.perf_counter() - started, exc.message
    except ConnectorError as exc:
        return "server", time.perf_counter() - started, exc.message
    return "", time.perf_counter() - started, ""


# -- PostgreSQL -----------------------------------------------------------------------------------------------------
def run_postgres(attacks: list[Attack], host: str, port: int, user: str) -> list[Outcome]:
    import psycopg

    name = f"redteam_{secrets.token_hex(4)}"
    admin = psycopg.connect(host=host, port=port, user=user, dbname="test", autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        setup = psycopg.connect(host=host, port=port, user=user, dbname=name, autocommit=True)
        setup.execute("CREATE TABLE canary (id int PRIMARY KEY, v text)")
        with setup.cursor() as cur:
            cur.executemany("INSERT INTO canary VALUES (%s, %s)", _ROWS)
        setup.execute("CREATE SEQUENCE canary_seq")
        victim = psycopg.connect(host=host, port=port, user=user, dbname=name, autocommit=True, application_name=f"victim_{name}")
        victim_pid = victim.info.backend_pid

        def state() -> dict[str, Any]:
            return {
                "rows": setup.execute("SELECT id, v FROM canary ORDER BY id").fetchall(),
                "sequence": setup.execute("SELECT last_value, is_called FROM canary_seq").fetchone(),
                "advisory locks": setup.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ).fetchone(),
                "stats reset": setup.execute(
                    "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"
                ).fetchone(),
                "tables": setup.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace").fetchone(),
                "victim": setup.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [victim_pid]).fetchone(),
                "files": _stray_files(),
            }

        credentials = {
            "type": "postgres", "host": host, "port": port, "database": name, "username": user, "ssl_mode": "disable",
        }
        outcomes = []
        with connect(credentials) as connector:
            baseline = state()
            settings = connector.query("SELECT current_setting('work_mem'), current_setting('search_path')").rows
            for attack in attacks:
                by, seconds, message = _attempt(lambda: connector.query(attack.sql, timeout=TIMEOUT_S))
                now = state()
                effects = [f"{k} changed: {baseline[k]} -> {now[k]}" for k in baseline if now[k] != baseline[k]]
                try:
                    victim.execute("SELECT 1")
                except psycopg.Error as exc:
                    effects.append(f"victim session broken: {type(exc).__name__}")
                if connector.query("SELECT current_setting('work_mem'), current_setting('search_path')").rows != settings:
                    effects.append("session settings changed")
                if seconds > TIMEOUT_S + GRACE_S:
                    effects.append(f"ran {seconds:.1f} s, past the {TIMEOUT_S} s timeout")
                outcomes.append(Outcome(attack, by, seconds, message, effects))
        victim.close()
        setup.close()
        return outcomes
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


# -- MariaDB --------------------------------------------------------------------------------------------------------
def run_mysql(attacks: list[Attack], host: str, port: int, user: str, password: str = "") -> list[Outcome]:
    import pymysql

    name = f"redteam_{secrets.token_hex(4)}"
    admin = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        setup = pymysql.connect(host=host, port=port, user=user, password=password, database=name, autocommit=True)
        victim = pymysql.connect(host=host, port=port, user=user, password=password, database=name, autocommit=True)
        with setup.cursor() as cur:
            cur.execute("CREATE TABLE canary (id INT PRIMARY KEY, v VARCHAR(20))")
            cur.executemany("INSERT INTO canary VALUES (%s, %s)", _ROWS)
            cur.execute("CREATE SEQUENCE canary_seq")
        victim_id = victim.thread_id()

        def fetch(sql: str, args: Any = None) -> Any:
            with setup.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()

        def state() -> dict[str, Any]:
            return {
                "rows": fetch("SELECT id, v FROM canary ORDER BY id"),
                "sequence": fetch("SELECT next_not_cached_value FROM canary_seq"),
                "named lock": fetch("SELECT IS_USED_LOCK('redteam')"),
                "tables": fetch("SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", [name]),
                "victim": fetch("SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = %s", [victim_id]),
                "files": _stray_files(),
            }

        credentials = {"type": "mysql", "host": host, "port": port, "database": name, "username": user}
        if password:
            credentials["password"] = password
        outcomes = []
        with connect(credentials) as connector:
            baseline = state()
            session = connector.query("SELECT @v, LAST_INSERT_ID(), @@session.sql_mode, DATABASE()").rows
            for attack in attacks:
                by, seconds, message = _attempt(lambda: connector.query(attack.sql, timeout=TIMEOUT_S))
                now = state()
                effects = [f"{k} changed: {baseline[k]} -> {now[k]}" for k in baseline if now[k] != baseline[k]]
                try:
                    victim.ping(reconnect=False)
                except pymysql.MySQLError as exc:
                    effects.append(f"victim session broken: {type(exc).__name__}")
                if connector.query("SELECT @v, LAST_INSERT_ID(), @@session.sql_mode, DATABASE()").rows != session:
                    effects.append("session state changed (variables, LAST_INSERT_ID, sql_mode or database)")
                if seconds > TIMEOUT_S + GRACE_S:
                    effects.append(f"ran {seconds:.1f} s, past the {TIMEOUT_S} s timeout")
                outcomes.append(Outcome(attack, by, seconds, message, effects))
        victim.close()
        setup.close()
        return outcomes
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


# -- DuckDB ---------------------------------------------------------------------------------------------------------
def run_duckdb(attacks: list[Attack], directory: str = "/tmp") -> list[Outcome]:
    """Through `check_read_only(sql, "duckdb")`, then a READ-WRITE connection (stricter than a connector's read-only
    one): what the guard lets through runs with every power the file's owner has."""
    import duckdb

    path = os.path.join(directory, f"canary_{secrets.token_hex(4)}.duckdb")
    con = duckdb.connect(path)
    try:
        con.execute("CREATE TABLE canary (id INTEGER PRIMARY KEY, v VARCHAR)")
        con.executemany("INSERT INTO canary VALUES (?, ?)", _ROWS)
        con.execute("CREATE SEQUENCE canary_seq")
        observer = con.cursor()

        def state() -> dict[str, Any]:
            return {
                "rows": observer.execute("SELECT id, v FROM canary ORDER BY id").fetchall(),
                "sequence": observer.execute("SELECT last_value FROM duckdb_sequences() WHERE sequence_name = 'canary_seq'").fetchall(),
                "databases": observer.execute("SELECT database_name FROM duckdb_databases() ORDER BY 1").fetchall(),
                "extensions": observer.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded ORDER BY 1").fetchall(),
                "settings": observer.execute("SELECT current_setting('threads'), current_setting('enable_external_access')").fetchall(),
                "tables": observer.execute("SELECT count(*) FROM duckdb_tables()").fetchall(),
                "files": _stray_files(),
            }

        baseline = state()
        outcomes = []
        for attack in attacks:

            def run(sql: str = attack.sql) -> None:
                checked = check_read_only(sql, "duckdb", timeout=TIMEOUT_S)
                timer = threading.Timer(TIMEOUT_S, con.interrupt)
                timer.start()
                try:
                    con.execute(checked).fetchall()
                except duckdb.Error as exc:
                    raise QueryError(f"duckdb refused: {exc}", code="query_error") from None
                finally:
                    timer.cancel()

            by, seconds, message = _attempt(run)
            now = state()
            effects = [f"{k} changed: {baseline[k]} -> {now[k]}" for k in baseline if now[k] != baseline[k]]
            if seconds > TIMEOUT_S + GRACE_S:
                effects.append(f"ran {seconds:.1f} s, past the {TIMEOUT_S} s timeout")
            outcomes.append(Outcome(attack, by, seconds, message, effects))
        return outcomes
    finally:
        con.close()
        for leftover in (path, path + ".wal"):
            if os.path.exists(leftover):
                os.remove(leftover)

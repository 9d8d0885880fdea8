"""Run red-team attacks for real, against canary databases, and look for any effect.

Used by `test_redteam_live.py` and by `bench/sql_guard_bench.py`. Each runner creates a canary database with a unique
name (table `canary` with known rows, sequence `canary_seq`, and for PostgreSQL/MariaDB a victim session), sends every
attack through the real path (`connectors.connect(credentials).query(sql)`, for DuckDB a canary file written and
closed first), then checks after each attack that nothing happened: rows and sequence unchanged, no lock held, the
victim session alive, no statistics reset, no setting changed, no file written (for DuckDB the canary file byte for
byte), no statement ran past its timeout. It drops the canary afterwards.
"""

from __future__ import annotations

import glob
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from connectors import Connector, ConnectorError, QueryError, ReadOnlyViolation, connect
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
def run_duckdb(attacks: list[Attack], directory: str = "/tmp", name: str | None = None) -> list[Outcome]:
    """Through the connector, as PostgreSQL and MariaDB: `connect({"type": "duckdb", "path": canary}).query(sql)`.

    The canary (table `canary`, sequence `canary_seq`) is written by a read-write connection that is closed before
    the connector opens the file, so the file's bytes are the ground truth: anything an attack persisted (a row, a
    sequence step, a table) changes them or leaves a WAL beside them. The connector's own session is watched too:
    its databases (an ATTACH, a DETACH, a USE that moved it off the canary) and what `role_capabilities()` reads from
    it (external access, locked configuration, reachable paths). `name`: the canary file's stem, which is also its
    catalog name (default: a random one)."""
    import duckdb

    path = Path(directory) / f"{name or f'canary_{secrets.token_hex(4)}'}.duckdb"
    setup = duckdb.connect(str(path))
    try:
        setup.execute("CREATE TABLE canary (id INTEGER PRIMARY KEY, v VARCHAR)")
        setup.executemany("INSERT INTO canary VALUES (?, ?)", _ROWS)
        setup.execute("CREATE SEQUENCE canary_seq")
        setup.execute("CHECKPOINT")
    finally:
        setup.close()
    try:
        with connect({"type": "duckdb", "path": str(path)}) as connector:
            database = connector.database

            def state() -> dict[str, Any]:
                return {
                    "file": _file_state(path),
                    "rows": _read(connector, f'SELECT id, v FROM "{database}".main.canary ORDER BY id'),
                    "databases": _read(connector, "SELECT database_name, readonly FROM duckdb_databases() ORDER BY 1"),
                    "session": _read(connector, "SELECT current_database(), current_schema()"),
                    "sandbox": _sandbox_state(connector),
                    "files": _stray_files(),
                }

            baseline = state()
            outcomes = []
            for attack in attacks:
                by, seconds, message = _attempt(lambda: connector.query(attack.sql, timeout=TIMEOUT_S))
                now = state()
                effects = [f"{k} changed: {baseline[k]} -> {now[k]}" for k in baseline if now[k] != baseline[k]]
                if seconds > TIMEOUT_S + GRACE_S:
                    effects.append(f"ran {seconds:.1f} s, past the {TIMEOUT_S} s timeout")
                outcomes.append(Outcome(attack, by, seconds, message, effects))
        # closed: nothing the session held back may land in the file afterwards either
        if _file_state(path) != baseline["file"]:
            outcomes[-1].effects.append(f"file changed after close: {baseline['file']} -> {_file_state(path)}")
        return outcomes
    finally:
        for leftover in (path, path.with_name(path.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _file_state(path: Path) -> tuple[str, int | None]:
    """(SHA-256 of the database file, size of its WAL or None when there is none)."""
    wal = path.with_name(path.name + ".wal")
    return hashlib.sha256(path.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else None


def _read(connector: Connector, sql: str) -> Any:
    """Rows of a check query through the connector, or why it failed (an attack that moved the session elsewhere
    makes the check fail, which is itself an effect)."""
    try:
        return connector.query(sql).rows
    except ConnectorError as exc:
        return f"unreadable: {exc.code}"


def _sandbox_state(connector: Connector) -> dict[str, Any]:
    role = connector.role_capabilities()
    return role.model_dump(mode="json", exclude={"findings"})

"""Bulk introspection and pushed row limits, measured against what SQLAlchemy does.

Run as a script: `python bench/introspection_bench.py` (one run, prints tables, last line `BENCH {json}`).

PostgreSQL (database `cpg_bench`, built on first run and reused afterwards):
  schema `bench`       2,000 tables x 20 columns, a primary key on each, 1,999 foreign keys, 100 views
  schema `bench_small`   200 tables x 20 columns, same shape, 10 views   (round trips must not change with size)
  table  `public.big_5m` 5,000,000 rows                                  (max_rows=50 vs LIMIT 51)
  compared: our `introspect()` vs `MetaData.reflect(views=True)` vs a per-table `Inspector` loop (columns, primary
  key, foreign keys, comment, view definition). SQLAlchemy's statements are counted with a `before_cursor_execute`
  event; ours is the connector's own counter (test_postgres_introspection.py checks it against the wire).
MariaDB (database `cmy_bench`, 500 tables x 20 columns + 25 views; reused when present, built otherwise):
  our MySQL `introspect()` (connectors.mysql) vs `MetaData.reflect(views=True)`.

Timing protocol: one warm-up run each (connections opened, catalog caches warm) is not counted; then the two
contenders run in alternation and each reports its median (ours: --repeat runs, reflect: --reflect-repeat runs), so
a busy machine slows both alike. Timed calls start on a collected heap with no earlier result alive, so no call
pays for a garbage collection walking the other's objects. The per-table loop runs once: it is the slow baseline.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import sys
import time
from typing import Any, Callable

import psycopg
import sqlalchemy as sa

from connectors import CatalogFilters, connect, parse_credentials
from connectors.postgres import PostgresConnector

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("TEST_MYSQL_USER", "root")
PG_DB = "cpg_bench"
MYSQL_DB = "cmy_bench"
BIG_ROWS = 5_000_000


# -- fixtures ----------------------------------------------------------------------------------------------------------
def _pg(dbname: str) -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True)


def _schema_ddl(schema: str, tables: int, views: int) -> list[str]:
    """Scripts for a whole schema: tables (20 columns, PK, FK to the previous table), views, a few comments; chunked
    so no transaction takes more locks than a default server allows (max_locks_per_transaction)."""
    types = ["integer", "bigint", "text", "varchar(64)", "numeric(12,2)", "double precision", "boolean", "date",
             "timestamp", "timestamptz", "jsonb", "uuid"]
    parts = [f"CREATE SCHEMA {schema};"]
    for i in range(1, tables + 1):
        cols = ["id integer PRIMARY KEY"]
        cols.append(f"parent_id integer REFERENCES {schema}.t{i - 1:04d}(id)" if i > 1 else "parent_id integer")
        for c in range(3, 21):
            not_null = " NOT NULL" if c % 5 == 0 else ""
            default = " DEFAULT 0" if types[c % len(types)] == "integer" else ""
            cols.append(f"c{c:02d} {types[c % len(types)]}{not_null}{default}")
        parts.append(f"CREATE TABLE {schema}.t{i:04d} ({', '.join(cols)});")
        if i % 50 == 0:
            parts.append(f"COMMENT ON TABLE {schema}.t{i:04d} IS 'bench table {i}';")
    for v in range(1, views + 1):
        parts.append(f"CREATE VIEW {schema}.v{v:03d} AS SELECT id, parent_id, c03, c04 FROM {schema}.t{v:04d};")
    return ["\n".join(parts[i : i + 100]) for i in range(0, len(parts), 100)]


def ensure_pg_fixtures(log: Callable[[str], None]) -> None:
    with _pg("postgres") as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DB]).fetchone() is None:
            admin.execute(f"CREATE DATABASE {PG_DB}")
    with _pg(PG_DB) as conn:
        for schema, tables, views in (("bench", 2000, 100), ("bench_small", 200, 10)):
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE c.relkind = 'r'), count(*) FILTER (WHERE c.relkind = 'v'),"
                " (SELECT count(*) FROM pg_constraint k JOIN pg_namespace kn ON kn.oid = k.connamespace"
                "   WHERE kn.nspname = %s AND k.contype = 'f')"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
                [schema, schema],
            ).fetchone()
            if row == (tables, views, tables - 1):
                continue
            log(f"building {PG_DB}.{schema}: {tables} tables x 20 columns, {views} views ...")
            started = time.perf_counter()
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            for script in _schema_ddl(schema, tables, views):
                conn.execute(script.encode())
            log(f"  built in {time.perf_counter() - started:.1f} s")
        exists = conn.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass('public.big_5m')").fetchone()
        if exists is None or exists[0] < BIG_ROWS * 0.9:
            log(f"building {PG_DB}.public.big_5m ({BIG_ROWS:,} rows) ...")
            started = time.perf_counter()
            conn.execute("DROP TABLE IF EXISTS public.big_5m")
            conn.execute(
                "CREATE UNLOGGED TABLE public.big_5m AS SELECT g AS id, g % 1000 AS grp, md5(g::text) AS payload,"
                f" now() - g * interval '1 second' AS created_at FROM generate_series(1, {BIG_ROWS}) AS g"
            )
            conn.execute("ANALYZE public.big_5m")
            log(f"  built in {time.perf_counter() - started:.1f} s")


def ensure_mysql_fixture(log: Callable[[str], None]) -> bool:
    import pymysql

    conn = pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT SUM(table_type = 'BASE TABLE'), SUM(table_type = 'VIEW') FROM information_schema.tables"
                " WHERE table_schema = %s",
                [MYSQL_DB],
            )
            base, views = cur.fetchone()
            if (int(base or 0), int(views or 0)) == (500, 25):
                return True
            log(f"building {MYSQL_DB}: 500 tables x 20 columns, 25 views ...")
            cur.execute(f"DROP DATABASE IF EXISTS {MYSQL_DB}")
            cur.execute(f"CREATE DATABASE {MYSQL_DB}")
            types = ["INT", "BIGINT", "TEXT", "VARCHAR(64)", "DECIMAL(12,2)", "DOUBLE", "BOOLEAN", "DATE", "DATETIME",
                     "TIMESTAMP NULL", "JSON", "CHAR(36)"]
            for i in range(1, 501):
                cols = ["id INT PRIMARY KEY", "parent_id INT"]
                cols += [f"c{c:02d} {types[c % len(types)]}" for c in range(3, 21)]
                fk = f", FOREIGN KEY (parent_id) REFERENCES {MYSQL_DB}.t{i - 1:04d}(id)" if i > 1 else ""
                cur.execute(f"CREATE TABLE {MYSQL_DB}.t{i:04d} ({', '.join(cols)}{fk})")
            for v in range(1, 26):
                cur.execute(f"CREATE VIEW {MYSQL_DB}.v{v:03d} AS SELECT id, parent_id, c03 FROM {MYSQL_DB}.t{v:04d}")
        return True
    finally:
        conn.close()


# -- measurement -------------------------------------------------------------------------------------------------------
def _call(fn: Callable[[], Any]) -> float:
    """One timed call on a clean heap: nothing from earlier calls is alive and garbage is collected first, so
    neither contender pays for the other's objects (a full collection walks every live object). The result is
    dropped, also before the clock stops, as a caller that used it would."""
    gc.collect()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], repeat: int, warmup: bool = True) -> tuple[float, Any]:
    """(median seconds over `repeat` runs, the result of one more, untimed run), after one warm-up run."""
    if warmup:
        fn()
    times = [_call(fn) for _ in range(repeat)]
    return statistics.median(times), fn()


def timed_pair(ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int, theirs_repeat: int) -> tuple[float, Any, float, Any]:
    """Medians of two contenders measured in alternation, so a busy machine slows both alike (one warm-up each);
    the results returned come from one more, untimed run of each."""
    ours(), theirs()
    our_times, their_times = [], []
    for i in range(max(repeat, theirs_repeat)):
        if i < repeat:
            our_times.append(_call(ours))
        if i < theirs_repeat:
            their_times.append(_call(theirs))
    return statistics.median(our_times), ours(), statistics.median(their_times), theirs()


class StatementCounter:
    """Counts the statements an engine sends (SQLAlchemy's `before_cursor_execute`)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any, **kwargs: Any) -> None:
        self.count += 1

    def measure(self, fn: Callable[[], Any]) -> int:
        before = self.count
        fn()
        return self.count - before


def sqlalchemy_reflect(engine: sa.Engine, schema: str) -> sa.MetaData:
    metadata = sa.MetaData()
    metadata.reflect(bind=engine, schema=schema, views=True)
    return metadata


def inspector_loop(engine: sa.Engine, schema: str) -> int:
    """What a naive integration does: one Inspector call per table and question."""
    inspector = sa.inspect(engine)
    tables = inspector.get_table_names(schema=schema)
    views = inspector.get_view_names(schema=schema)
    for name in tables + views:
        inspector.get_columns(name, schema=schema)
        inspector.get_pk_constraint(name, schema=schema)
        inspector.get_foreign_keys(name, schema=schema)
        inspector.get_table_comment(name, schema=schema)
    for name in views:
        inspector.get_view_definition(name, schema=schema)
    return len(tables) + len(views)


def bench_postgres(args: argparse.Namespace, rows: list[list[str]]) -> dict[str, Any]:
    creds = parse_credentials({"type": "postgres", "host": PG_HOST, "port": PG_PORT, "database": PG_DB,
                               "username": PG_USER, "ssl_mode": "disable"})
    engine = sa.create_engine(f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}")
    counter = StatementCounter(engine)
    out: dict[str, Any] = {}
    with PostgresConnector(creds, application_name="cpg_bench") as conn:  # type: ignore[arg-type]
        for schema, label in (("bench", "2,000 tables"), ("bench_small", "200 tables")):
            filters = CatalogFilters(include_schemas=[schema])
            ours_s, catalog, reflect_s, metadata = timed_pair(
                lambda: conn.introspect(filters), lambda: sqlalchemy_reflect(engine, schema), args.repeat, args.reflect_repeat
            )
            assert catalog.table_count in (2100, 210), catalog.table_count
            reflect_trips = counter.measure(lambda: sqlalchemy_reflect(engine, schema))
            fks = sum(len(t.foreign_keys) for _, _, t in catalog.iter_tables())
            rows.append([f"PostgreSQL {label}", "our introspect()", f"{ours_s:.3f}", str(catalog.round_trips), "1.0x"])
            rows.append(["", "MetaData.reflect(views=True)", f"{reflect_s:.3f}", str(reflect_trips), f"{reflect_s / ours_s:.1f}x"])
            if schema == "bench" or not args.skip_loop:
                gc.collect()
                started = time.perf_counter()
                loop_trips = counter.measure(lambda: inspector_loop(engine, schema))
                loop_s = time.perf_counter() - started
                rows.append(["", "per-table Inspector loop", f"{loop_s:.3f}", str(loop_trips), f"{loop_s / ours_s:.1f}x"])
            out[schema] = {"ours_s": ours_s, "reflect_s": reflect_s, "round_trips": catalog.round_trips,
                           "reflect_round_trips": reflect_trips, "tables": catalog.table_count, "foreign_keys": fks,
                           "reflected_tables": len(metadata.tables)}
            catalog = metadata = None  # nothing of this size stays alive while the next size is timed
    engine.dispose()
    return out


def bench_limit(args: argparse.Namespace, rows: list[list[str]]) -> float:
    """max_rows=50 vs the same statement with LIMIT 51, both through the connector (same guard, session, cursor)."""
    creds = parse_credentials({"type": "postgres", "host": PG_HOST, "port": PG_PORT, "database": PG_DB,
                               "username": PG_USER, "ssl_mode": "disable"})
    ratios = []
    with connect(creds) as conn:
        for label, sql, repeat in (
            ("SELECT * (5M rows)", "SELECT * FROM public.big_5m", args.limit_repeat),
            ("... WHERE grp = 999", "SELECT id, payload FROM public.big_5m WHERE grp = 999", args.limit_repeat),
            ("... ORDER BY payload", "SELECT id, payload FROM public.big_5m ORDER BY payload DESC", 3),
        ):
            limited_s, limited, explicit_s, explicit = timed_pair(
                lambda: conn.query(sql, max_rows=50, timeout=120),
                lambda: conn.query(f"{sql} LIMIT 51", max_rows=51, timeout=120),
                repeat,
                repeat,
            )
            assert limited.row_count == 50 and limited.truncated and explicit.row_count == 51
            ratios.append(limited_s / explicit_s)
            rows.append([f"max_rows=50: {label}", "query(sql, max_rows=50)", f"{limited_s:.4f}", "", f"{limited_s / explicit_s:.2f}x"])
            rows.append(["", "query(sql + ' LIMIT 51')", f"{explicit_s:.4f}", "", "1.00x"])
        with _pg(PG_DB) as raw:
            raw_s, _ = timed(lambda: raw.execute("SELECT * FROM public.big_5m LIMIT 51").fetchall(), args.limit_repeat)
        rows.append(["(reference)", "raw psycopg LIMIT 51, no guard/txn", f"{raw_s:.4f}", "", ""])
    return max(ratios)


def bench_mysql(args: argparse.Namespace, rows: list[list[str]]) -> dict[str, Any] | None:
    try:
        from connectors.mysql import MySQLConnector  # noqa: F401  (written by the MySQL engineer)
    except ImportError:
        rows.append(["MariaDB 500 tables", "connectors.mysql not available", "", "", ""])
        return None
    if not ensure_mysql_fixture(lambda m: print(m, file=sys.stderr)):
        return None
    creds = parse_credentials({"type": "mysql", "host": MYSQL_HOST, "port": MYSQL_PORT, "username": MYSQL_USER,
                               "ssl_mode": "disabled"})
    engine = sa.create_engine(f"mysql+pymysql://{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}/{MYSQL_DB}")
    counter = StatementCounter(engine)
    with connect(creds) as conn:
        filters = CatalogFilters(include_schemas=[MYSQL_DB])
        ours_s, catalog, reflect_s, _ = timed_pair(
            lambda: conn.introspect(filters), lambda: sqlalchemy_reflect(engine, MYSQL_DB), args.repeat, args.reflect_repeat
        )
        reflect_trips = counter.measure(lambda: sqlalchemy_reflect(engine, MYSQL_DB))
    engine.dispose()
    rows.append(["MariaDB 500 tables", "our MySQL introspect()", f"{ours_s:.3f}", str(catalog.round_trips), "1.0x"])
    rows.append(["", "MetaData.reflect(views=True)", f"{reflect_s:.3f}", str(reflect_trips), f"{reflect_s / ours_s:.1f}x"])
    return {"ours_s": ours_s, "reflect_s": reflect_s, "tables": catalog.table_count}


def print_table(rows: list[list[str]]) -> None:
    header = ["case", "method", "seconds", "round trips", "vs ours"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per measurement of our side (median)")
    parser.add_argument("--limit-repeat", type=int, default=25, help="timed runs of each millisecond-scale query")
    parser.add_argument("--reflect-repeat", type=int, default=3, help="timed runs of MetaData.reflect (median)")
    parser.add_argument("--skip-loop", action="store_true", help="per-table Inspector loop only at 2,000 tables")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    ensure_pg_fixtures(lambda m: print(m, file=sys.stderr))
    rows: list[list[str]] = []
    pg = bench_postgres(args, rows)
    limit_ratio = bench_limit(args, rows)
    my = bench_mysql(args, rows)
    print_table(rows)
    big, small = pg["bench"], pg["bench_small"]
    print(
        f"\nPostgreSQL: {big['tables']} relations, {big['foreign_keys']} foreign keys; round trips "
        f"{small['round_trips']} at 200 tables, {big['round_trips']} at 2,000 tables "
        f"(reflect: {small['reflect_round_trips']} -> {big['reflect_round_trips']})"
    )
    result = {
        "pg_introspect_s": round(big["ours_s"], 4),
        "pg_reflect_s": round(big["reflect_s"], 4),
        "pg_speedup_vs_reflect": round(big["reflect_s"] / big["ours_s"], 1),
        "pg_round_trips": big["round_trips"],
        "mysql_introspect_s": round(my["ours_s"], 4) if my else None,
        "mysql_speedup_vs_reflect": round(my["reflect_s"] / my["ours_s"], 1) if my else None,
        "limit_ratio": round(limit_ratio, 2),
    }
    print("BENCH " + json.dumps(result))


if __name__ == "__main__":
    main()

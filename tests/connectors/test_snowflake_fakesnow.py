"""The Snowflake connector against fakesnow (Snowflake's HTTP protocol, served locally, spoken by the real driver).

What fakesnow cannot show is said where it matters: it never cancels a running statement (its abort endpoint is a
no-op, it has no session id and no SYSTEM$CANCEL_ALL_QUERIES), so the timeout and cancel tests prove the client side —
QueryTimeoutError / QueryCanceledError within the bound, the session abandoned (never pooled), the connector usable
afterwards — and the server side (SYSTEM$CANCEL_ALL_QUERIES with the session id, errors 000630 / 000604) is
replayed through the real driver in test_snowflake_replay.py.
"""

from __future__ import annotations

import csv
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from tests.connectors.snowflake_support import (  # noqa: F401  (fixtures)
    SPIDER_SCHEMA,
    credentials,
    fakesnow_server,
    raw_connection,
    snowflake_database,
    spider_in_fakesnow,
)

from connectors import (  # noqa: E402
    CatalogFilters,
    NotFoundError,
    QueryCanceledError,
    QueryTimeoutError,
    ReadOnlyViolation,
    connect,
    parse_credentials,
)

SECRET = credentials(1)["password"]
SPIDER_QUESTIONS = Path(__file__).resolve().parents[2] / "data" / "spider-dev" / "questions.csv"
#: several seconds of DuckDB work inside fakesnow (it keeps running there after we give up: fakesnow cannot cancel)
SLOW_SQL = "SELECT COUNT(DISTINCT MD5(SEQ8()::VARCHAR)) FROM TABLE(GENERATOR(ROWCOUNT => 15000000))"


@pytest.fixture()
def connector(fakesnow_server: dict[str, Any]):  # type: ignore[no-untyped-def]
    from connectors.snowflake.connection import SnowflakeConnector
    from connectors.snowflake.pool import WarmPool

    with SnowflakeConnector(parse_credentials(credentials(fakesnow_server["port"])), pool=WarmPool()) as conn:  # type: ignore[arg-type]
        yield conn


@pytest.fixture(scope="module")
def scratch_table(fakesnow_server: dict[str, Any]) -> str:
    conn = raw_connection(fakesnow_server)
    cur = conn.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS TSF_SCRATCH")
    cur.execute("CREATE SCHEMA IF NOT EXISTS TSF_SCRATCH.S")
    cur.execute("CREATE OR REPLACE TABLE TSF_SCRATCH.S.ITEMS (ID INT, NAME VARCHAR(20), PRICE NUMBER(10,2))")
    cur.executemany("INSERT INTO TSF_SCRATCH.S.ITEMS VALUES (%s, %s, %s)", [(i, f"item{i}", i * 1.5) for i in range(1, 26)])
    conn.close()
    return "TSF_SCRATCH.S.ITEMS"


def _row_count(server: dict[str, Any], table: str) -> int:
    conn = raw_connection(server)
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        return int(cur.fetchone()[0])
    finally:
        conn.close()


def test_connection_test_succeeds_with_latency_and_version(connector) -> None:  # type: ignore[no-untyped-def]
    result = connector.test_connection()
    assert result.ok is True and result.error is None
    assert result.latency_ms is not None and result.latency_ms > 0
    assert result.server_version  # fakesnow answers CURRENT_VERSION()


def test_query_pushes_the_row_limit_and_reports_truncation(connector, scratch_table: str) -> None:  # type: ignore[no-untyped-def]
    result = connector.query(f"SELECT ID, NAME, PRICE FROM {scratch_table} ORDER BY ID", max_rows=10)
    assert result.row_count == 10 and result.truncated is True
    assert [r[0] for r in result.rows] == list(range(1, 11))
    assert [(c.name, c.type) for c in result.columns] == [("ID", "FIXED"), ("NAME", "TEXT"), ("PRICE", "FIXED")]
    full = connector.query(f"SELECT ID FROM {scratch_table}", max_rows=25)
    assert full.row_count == 25 and full.truncated is False
    own_limit = connector.query(f"SELECT ID FROM {scratch_table} ORDER BY ID LIMIT 3", max_rows=2)
    assert own_limit.row_count == 2 and own_limit.truncated is True


def test_query_binds_parameters(connector, scratch_table: str) -> None:  # type: ignore[no-untyped-def]
    result = connector.query(f"SELECT NAME FROM {scratch_table} WHERE ID = ?", params=(7,))
    assert result.rows == [["item7"]]
    named = connector.query(f"SELECT NAME FROM {scratch_table} WHERE ID = :id OR ID = :id + :step ORDER BY ID", params={"id": 8, "step": 10})
    assert named.rows == [["item8"], ["item18"]]
    hostile = connector.query(f"SELECT COUNT(*) FROM {scratch_table} WHERE NAME = ?", params=("x'; DROP TABLE ITEMS; --",))
    assert hostile.rows == [[0]]  # bound on the server, never spliced into the text


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM {t}",
        "UPDATE {t} SET NAME = 'x'",
        "INSERT INTO {t} VALUES (99, 'x', 1)",
        "CREATE OR REPLACE TABLE {t} AS SELECT 1 AS ID",
        "SELECT 1; DELETE FROM {t}",
        "TRUNCATE TABLE {t}",
    ],
)
def test_refused_statements_never_reach_snowflake(connector, fakesnow_server, scratch_table: str, statement: str) -> None:  # type: ignore[no-untyped-def]
    before = _row_count(fakesnow_server, scratch_table)
    with pytest.raises(ReadOnlyViolation):
        connector.query(statement.format(t=scratch_table))
    assert _row_count(fakesnow_server, scratch_table) == before == 25


def test_missing_table_is_not_found(connector) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError) as info:
        connector.query("SELECT * FROM TSF_SCRATCH.S.NO_SUCH_TABLE")
    assert info.value.details["errno"] == 2003


def test_timeout_raises_query_timeout_within_bound_and_connector_recovers(fakesnow_server) -> None:  # type: ignore[no-untyped-def]
    from connectors.snowflake.connection import SnowflakeConnector
    from connectors.snowflake.pool import WarmPool

    pool = WarmPool()
    with SnowflakeConnector(parse_credentials(credentials(fakesnow_server["port"])), pool=pool) as conn:  # type: ignore[arg-type]
        conn.query("SELECT 1")
        start = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            conn.query(SLOW_SQL, timeout=1)
        assert time.monotonic() - start < 3.0
        assert conn.query("SELECT 1 AS X").rows == [[1]]  # a fresh session replaced the abandoned one
    deadline = time.monotonic() + 3  # the abandoned session is logged out on a helper thread
    while pool.stats["discarded"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    # the timed-out session was discarded, never parked for reuse; the healthy one was
    assert pool.stats["discarded"] == 1 and pool.stats["opened"] == 2 and pool.idle_count() == 1
    pool.clear()


def test_cancel_from_another_thread_stops_waiting_within_bound(connector) -> None:  # type: ignore[no-untyped-def]
    connector.query("SELECT 1")  # session open, so cancel targets a running statement
    timer = threading.Timer(0.3, connector.cancel)
    start = time.monotonic()
    timer.start()
    with pytest.raises(QueryCanceledError):
        connector.query(SLOW_SQL, timeout=60)
    assert time.monotonic() - start < 3.0
    assert connector.query("SELECT 2 AS X").rows == [[2]]


def test_cancel_with_nothing_running_is_harmless(connector) -> None:  # type: ignore[no-untyped-def]
    connector.cancel()
    assert connector.query("SELECT 3 AS X").rows == [[3]]  # a stale cancel does not cancel the next query


# -- introspection of spider-dev ------------------------------------------------------------------------------------

_EXPECTED_NORMALIZED = {
    "INT": "integer", "BIGINT": "integer", "SMALLINT": "integer", "TINYINT": "integer",
    "FLOAT": "float", "DOUBLE": "float", "VARCHAR": "string", "CHAR": "string", "TEXT": "string",
    "DATE": "date", "DATETIME": "timestamp", "DECIMAL": "decimal",
}


def test_introspection_matches_the_three_loaded_spider_databases(fakesnow_server, spider_in_fakesnow) -> None:  # type: ignore[no-untyped-def]
    progress: list[dict[str, Any]] = []
    filters = CatalogFilters(include_databases=list(spider_in_fakesnow))
    with connect(credentials(fakesnow_server["port"])) as conn:
        catalog = conn.introspect(filters, progress=lambda stage, fields: progress.append(fields))
    assert sorted(d.name for d in catalog.databases) == sorted(spider_in_fakesnow)
    compared = 0
    for database, specs in spider_in_fakesnow.items():
        schema = catalog.database(database).schema(SPIDER_SCHEMA)
        assert sorted(t.name for t in schema.tables) == sorted(s.name.upper() for s in specs)
        for spec in specs:
            table = schema.table(spec.name.upper())
            assert table.kind == "table" and table.row_count is not None
            assert [c.name for c in table.columns] == [name.upper() for name, _, _ in spec.columns]
            assert [c.ordinal for c in table.columns] == list(range(1, len(spec.columns) + 1))
            for column, (name, kind, not_null) in zip(table.columns, spec.columns):
                assert column.nullable is not (not_null or name in spec.primary_key), (table.name, name)
                assert column.normalized_type == _EXPECTED_NORMALIZED[kind.this.value], (table.name, name, kind.sql("mysql"))
                compared += 1
    assert compared > 50
    # 1 SHOW DATABASES + 5 statements per database: independent of the number of tables
    assert catalog.round_trips == 1 + 5 * len(spider_in_fakesnow)
    assert [p["done"] for p in progress] == [1, 2, 3]


def test_introspection_lists_views_with_definitions(fakesnow_server) -> None:  # type: ignore[no-untyped-def]
    conn = raw_connection(fakesnow_server)
    cur = conn.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS TSF_VIEWS")
    cur.execute("CREATE SCHEMA IF NOT EXISTS TSF_VIEWS.S")
    cur.execute("CREATE OR REPLACE TABLE TSF_VIEWS.S.T (ID INT NOT NULL, AMOUNT NUMBER(12,2))")
    cur.execute("CREATE OR REPLACE VIEW TSF_VIEWS.S.BIG AS SELECT ID FROM TSF_VIEWS.S.T WHERE AMOUNT > 10")
    conn.close()
    with connect(credentials(fakesnow_server["port"], database="TSF_VIEWS")) as sf:
        catalog = sf.introspect()
    schema = catalog.database("TSF_VIEWS").schema("S")
    view = schema.table("BIG")
    assert view.kind == "view" and "AMOUNT > 10" in (view.view_definition or "")
    assert schema.table("T").column("AMOUNT").data_type == "NUMBER(12,2)"
    assert catalog.round_trips == 5  # the credentials' database only: no SHOW DATABASES


def _gold_queries(databases: set[str]) -> list[tuple[str, str]]:
    with SPIDER_QUESTIONS.open(newline="") as f:
        return [(row["database"], row["sql"]) for row in csv.DictReader(f) if row["database"] in databases]


def test_spider_gold_queries_transpiled_to_snowflake_pass_the_guard_and_run(fakesnow_server, spider_in_fakesnow) -> None:  # type: ignore[no-untyped-def]
    gold = _gold_queries({"concert_singer", "pets_1", "car_1"})
    ran, failed = 0, []
    for spider_db, sql in gold:
        creds = credentials(fakesnow_server["port"], database=snowflake_database(spider_db), schema=SPIDER_SCHEMA)
        snow_sql = sqlglot.transpile(sql, read="mysql", write="snowflake")[0]
        with connect(creds) as conn:
            try:
                conn.query(snow_sql, max_rows=100)
                ran += 1
            except ReadOnlyViolation:
                raise
            except Exception as exc:  # fakesnow gaps are tolerated, refusals by the guard are not
                failed.append((snow_sql, type(exc).__name__))
    assert len(gold) > 150
    assert ran / len(gold) >= 0.9, failed[:5]


def test_profile_of_a_spider_table(fakesnow_server, spider_in_fakesnow) -> None:  # type: ignore[no-untyped-def]
    with connect(credentials(fakesnow_server["port"], database="TSF_PETS_1", schema=SPIDER_SCHEMA)) as conn:
        profile = conn.profile("student")
    assert profile.sample_method == "full" and profile.sampled_rows == profile.row_count == 34
    by_name = {c.name: c for c in profile.columns}
    assert by_name["STUID"].semantic_hint == "identifier" and by_name["STUID"].distinct_count == 34
    assert by_name["SEX"].semantic_hint == "enum" and {v.value for v in by_name["SEX"].top_values} == {"F", "M"}
    assert by_name["AGE"].min == 16 and by_name["AGE"].max == 27
    with connect(credentials(fakesnow_server["port"], database="TSF_PETS_1", schema=SPIDER_SCHEMA)) as conn:
        with pytest.raises(NotFoundError):
            conn.profile("no_such_table")


# -- warm pool --------------------------------------------------------------------------------------------------------
# fakesnow's login returns no master token, so the driver's `close()` cannot log out there (it raises inside and
# swallows it); the pool tests therefore record that close() was called rather than reading `is_closed()`.

def _record_closes(session: Any) -> list[bool]:
    calls: list[bool] = []
    original = session.close

    def close(*args: Any, **kwargs: Any) -> None:
        calls.append(True)
        original(*args, **kwargs)

    session.close = close
    return calls


def test_closed_connector_returns_its_session_and_the_next_run_reuses_it(fakesnow_server) -> None:  # type: ignore[no-untyped-def]
    from connectors.snowflake.connection import SnowflakeConnector
    from connectors.snowflake.pool import WarmPool

    pool = WarmPool()
    creds = parse_credentials(credentials(fakesnow_server["port"]))
    with SnowflakeConnector(creds, pool=pool) as first:  # type: ignore[arg-type]
        first.query("SELECT 1")
        session = first._conn
    assert pool.idle_count() == 1 and not session.is_closed()
    closes = _record_closes(session)
    with SnowflakeConnector(creds, pool=pool) as second:  # type: ignore[arg-type]
        second.query("SELECT 1")
        assert second._conn is session
    assert pool.stats["opened"] == 1 and pool.stats["reused"] == 1
    other = parse_credentials(credentials(fakesnow_server["port"], password="another-secret"))
    with SnowflakeConnector(other, pool=pool) as third:  # type: ignore[arg-type]
        third.query("SELECT 1")
        assert third._conn is not session
    assert closes == [] and pool.idle_count() == 2  # both logins parked, nothing logged out
    pool.clear()
    assert closes == [True] and pool.idle_count() == 0


def test_broken_session_is_discarded_by_the_health_check(fakesnow_server) -> None:  # type: ignore[no-untyped-def]
    from connectors.snowflake.connection import SnowflakeConnector
    from connectors.snowflake.pool import WarmPool

    pool = WarmPool()
    creds = parse_credentials(credentials(fakesnow_server["port"]))
    with SnowflakeConnector(creds, pool=pool) as first:  # type: ignore[arg-type]
        first.query("SELECT 1")
        session = first._conn
    import fakesnow.server

    fakesnow.server.sessions.pop(session.rest.token)  # the server forgets the session (as on expiry)
    closes = _record_closes(session)
    with SnowflakeConnector(creds, pool=pool) as second:  # type: ignore[arg-type]
        assert second.query("SELECT 5 AS X").rows == [[5]]
        assert second._conn is not session
    assert pool.stats["discarded"] == 1 and pool.stats["opened"] == 2 and closes == [True]
    pool.clear()


def test_idle_sessions_are_closed_after_the_idle_timeout(fakesnow_server) -> None:  # type: ignore[no-untyped-def]
    from connectors.snowflake.connection import SnowflakeConnector
    from connectors.snowflake.pool import WarmPool

    pool = WarmPool(idle_timeout_s=0.2)
    with SnowflakeConnector(parse_credentials(credentials(fakesnow_server["port"])), pool=pool) as conn:  # type: ignore[arg-type]
        conn.query("SELECT 1")
        closes = _record_closes(conn._conn)
    assert pool.idle_count() == 1
    deadline = time.monotonic() + 3
    while pool.idle_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.idle_count() == 0 and closes == [True] and pool.stats["expired"] == 1


# -- secrets ----------------------------------------------------------------------------------------------------------

def test_secret_never_appears_in_logs_errors_or_reprs(fakesnow_server, scratch_table: str, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    creds = credentials(fakesnow_server["port"])
    texts: list[str] = []
    with connect(creds) as conn:
        texts += [repr(conn.credentials), str(conn.credentials.safe_dict()), conn.test_connection().model_dump_json()]
        conn.query(f"SELECT * FROM {scratch_table}", max_rows=1)
        for bad in ("SELECT * FROM TSF_SCRATCH.S.NOPE", "SELECT * FROM NOPE_TABLE", "DROP TABLE X"):
            try:
                conn.query(bad)
            except Exception as exc:
                texts += [str(exc), repr(exc), str(getattr(exc, "details", ""))]
        texts.append(conn.introspect(CatalogFilters(include_databases=["TSF_SCRATCH"])).model_dump_json())
    texts += [r.getMessage() + str(r.__dict__) for r in caplog.records]
    assert caplog.records  # the driver and the connector did log
    assert not [t for t in texts if SECRET in t]


def test_role_capabilities_without_show_grants_are_unknown_and_the_session_stays_usable(connector) -> None:  # type: ignore[no-untyped-def]
    """fakesnow answers CURRENT_USER() but not SHOW GRANTS: every capability unknown, the reason said, still connected."""
    from connectors.capabilities import CAPABILITIES

    test = connector.test_connection()
    assert test.ok and test.role is not None
    assert test.role.principal  # CURRENT_USER() answered
    assert test.role.unknown() == list(CAPABILITIES) and test.role.read_only is None
    assert test.role.read_only_session is False
    assert test.role.findings[0].startswith("SHOW GRANTS refused (query_error)")
    assert connector.query("SELECT 1 AS one").rows == [[1]]

"""DuckDB queries through the connector: results, the row limit pushed into the statement, timeout and cancel
through interrupt(), close, concurrency, and every spider-dev gold query against SQLite on the same rows."""

from __future__ import annotations

import csv
import decimal
import threading
import time
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from connectors import (
    ConnectorError,
    NotFoundError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    connect,
)
from connectors.duckdb import DuckDBConnector
from connectors.duckdb.connection import CLOSE_WAIT_S
from tests.connectors.duckdb_support import (  # noqa: F401 - fixtures
    PREFIX,
    SLOW_SQL,
    credentials,
    file_digest,
    make_probe_database,
    spider_duckdb,
    spider_sqlite_oracle,
)
from tests.connectors.spider_loader import SPIDER_DEV_DIR


@pytest.fixture
def probe_path(tmp_path: Path) -> Path:
    return make_probe_database(tmp_path / "probe.duckdb")


@pytest.fixture
def probe(probe_path: Path) -> Iterator[DuckDBConnector]:
    with connect(credentials(probe_path)) as connector:
        assert isinstance(connector, DuckDBConnector)
        yield connector


def test_query_returns_typed_columns_and_rows(spider_duckdb) -> None:  # type: ignore[no-untyped-def]
    path, _ = spider_duckdb
    with connect(credentials(path)) as conn:
        result = conn.query(f'SELECT "StuID", "LName", "Age" FROM {PREFIX}pets_1."Student" WHERE "Age" > ? ORDER BY "StuID"', [19], max_rows=3)
    assert [(c.name, c.type) for c in result.columns] == [("StuID", "INTEGER"), ("LName", "VARCHAR"), ("Age", "INTEGER")]
    oracle = spider_sqlite_oracle("pets_1")
    expected = oracle.execute("SELECT StuID, LName, Age FROM Student WHERE Age > 19 ORDER BY StuID LIMIT 3").fetchall()
    assert result.rows == [list(r) for r in expected]
    assert result.row_count == 3 and result.truncated is True and result.elapsed_ms > 0


def test_values_keep_their_python_types(probe: DuckDBConnector) -> None:
    result = probe.query("SELECT n, label, amount, DATE '2024-02-29' AS d, [n, n] AS l, {'k': label} AS s FROM probe ORDER BY n")
    assert result.rows[0] == [1, "one", decimal.Decimal("1.50"), date(2024, 2, 29), [1, 1], {"k": "one"}]
    assert result.rows[1][2] is None
    assert [c.type for c in result.columns] == ["INTEGER", "VARCHAR", "DECIMAL(10,2)", "DATE", "INTEGER[]", "STRUCT(k VARCHAR)"]


def test_not_truncated_when_everything_fits(probe: DuckDBConnector) -> None:
    result = probe.query("SELECT * FROM probe", max_rows=3)
    assert (result.row_count, result.truncated) == (3, False)
    limited = probe.query("SELECT * FROM probe ORDER BY n", max_rows=2)
    assert (limited.rows, limited.truncated) == ([[1, "one", decimal.Decimal("1.50")], [2, "two", None]], True)
    none = probe.query("SELECT * FROM probe", max_rows=0)
    assert (none.rows, none.truncated, [c.name for c in none.columns]) == ([], True, ["n", "label", "amount"])


def test_row_limit_is_pushed_into_the_statement(probe: DuckDBConnector) -> None:
    """A full sort of 30 M rows takes ~4 s here; with the pushed LIMIT DuckDB keeps a top-N heap and answers in
    ~0.1 s. Fetching only max_rows+1 rows from an unlimited statement would still wait for the whole sort."""
    started = time.monotonic()
    result = probe.query("SELECT range FROM range(30000000) ORDER BY hash(range)", max_rows=5, timeout=2.5)
    assert time.monotonic() - started < 2.5
    assert result.row_count == 5 and result.truncated is True


def test_a_limit_of_the_users_own_is_kept(probe: DuckDBConnector) -> None:
    result = probe.query("SELECT n FROM probe ORDER BY n LIMIT 2", max_rows=10)
    assert (result.rows, result.truncated) == ([[1], [2]], False)


def test_describe_show_and_from_first_queries_run(probe: DuckDBConnector) -> None:
    assert [row[0] for row in probe.query("DESCRIBE probe").rows] == ["n", "label", "amount"]
    assert ["probe"] in probe.query("SHOW TABLES").rows
    assert probe.query("FROM probe_big ORDER BY n").rows == [[2, "two"], [3, "three"]]
    assert probe.query("SELECT 1;").rows == [[1]]  # a trailing semicolon, cut by the guard


def test_parameters_are_bound_by_duckdb(probe: DuckDBConnector) -> None:
    assert probe.query("SELECT label FROM probe WHERE n = ?", [2]).rows == [["two"]]
    assert probe.query("SELECT label FROM probe WHERE n = $n", {"n": 3}).rows == [["three"]]
    injected = probe.query("SELECT count(*) FROM probe WHERE label = ?", ["x' OR '1'='1"])
    assert injected.rows == [[0]]
    with pytest.raises(QueryError):
        probe.query("SELECT ? + ?", [1])


def test_errors_are_typed(probe: DuckDBConnector) -> None:
    with pytest.raises(NotFoundError) as missing:
        probe.query("SELECT * FROM no_such_table")
    assert "no_such_table" in missing.value.message and missing.value.details["driver_error"] == "CatalogException"
    with pytest.raises(QueryError) as binder:
        probe.query("SELECT no_such_column FROM probe")
    assert binder.value.details["driver_error"] == "BinderException"
    with pytest.raises(QueryError) as conversion:
        probe.query("SELECT 'abc'::INTEGER")
    assert conversion.value.details["driver_error"] == "ConversionException"
    assert probe.query("SELECT 1").rows == [[1]]  # the connection survives failed statements


def test_invalid_arguments_are_typed_errors(probe: DuckDBConnector) -> None:
    with pytest.raises(QueryError, match="max_rows"):
        probe.query("SELECT 1", max_rows=-1)
    with pytest.raises(QueryError, match="timeout"):
        probe.query("SELECT 1", timeout=0)


def test_timeout_interrupts_a_long_query(probe: DuckDBConnector) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError) as info:
        probe.query(SLOW_SQL, timeout=0.5)
    took = time.monotonic() - started
    assert 0.5 <= took < 3.0, took
    assert "0.5 s" in info.value.message and info.value.details["driver_error"] == "InterruptException"
    assert probe.query("SELECT 2").rows == [[2]]


def test_cancel_from_another_thread(probe: DuckDBConnector) -> None:
    probe.query("SELECT 1")  # opened, so the cancel lands on a running statement
    timer = threading.Timer(0.3, probe.cancel)
    started = time.monotonic()
    timer.start()
    with pytest.raises(QueryCanceledError):
        probe.query(SLOW_SQL, timeout=60)
    assert time.monotonic() - started < 3.0
    assert probe.query("SELECT 3").rows == [[3]]


def test_cancel_reaches_introspection_too(spider_duckdb, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """introspect() is one of the statements cancel() stops: a catalog statement held up (here by a slow function
    in the reader's runner) ends in QueryCanceledError."""
    path, _ = spider_duckdb
    from connectors.duckdb import catalog

    monkeypatch.setattr(catalog, "COLUMNS_SQL", catalog.COLUMNS_SQL + f" AND (SELECT count(*) FROM ({SLOW_SQL})) > 0")
    with connect(credentials(path)) as conn:
        conn.test_connection()
        threading.Timer(0.3, conn.cancel).start()
        started = time.monotonic()
        with pytest.raises(QueryCanceledError):
            conn.introspect()
        assert time.monotonic() - started < 3.0
        assert conn.query("SELECT 4").rows == [[4]]


def test_cancel_with_nothing_running_is_harmless(probe: DuckDBConnector) -> None:
    probe.cancel()  # before the connection is even opened
    assert probe.query("SELECT 5").rows == [[5]]
    probe.cancel()  # a stale cancel does not interrupt the next statement
    assert probe.query("SELECT count(*) FROM range(3000000)").rows == [[3000000]]


def test_close_from_another_thread_stops_the_query_and_releases_the_file(probe_path: Path) -> None:
    connector = connect(credentials(probe_path))
    connector.test_connection()
    with pytest.raises(duckdb.Error, match="already attached"):  # the connector holds the file
        duckdb.connect(str(probe_path))
    closer = threading.Timer(0.3, connector.close)
    closer.start()
    started = time.monotonic()
    with pytest.raises(ConnectorError):
        connector.query(SLOW_SQL)
    assert time.monotonic() - started < 3.0
    # the file is released once close() has returned in its thread (the query's thread may come back first: it
    # reopened the file before close() had closed the connection once in CI)
    closer.join(timeout=CLOSE_WAIT_S + 1)
    assert not closer.is_alive() and connector.closed
    reopened = duckdb.connect(str(probe_path))  # released: a writer may open it again
    assert reopened.execute("SELECT count(*) FROM probe").fetchall() == [(3,)]
    reopened.close()


def test_close_is_idempotent_and_final(probe_path: Path) -> None:
    connector = connect(credentials(probe_path))
    assert connector.query("SELECT 1").rows == [[1]]
    connector.close()
    connector.close()
    assert connector.closed
    with pytest.raises(ConnectorError) as info:
        connector.query("SELECT 1")
    assert info.value.code == "connector_closed"
    with pytest.raises(ConnectorError):
        connector.introspect()


def test_opening_is_lazy(tmp_path: Path) -> None:
    connector = connect(credentials(tmp_path / "not-yet.duckdb"))  # nothing is opened yet
    make_probe_database(tmp_path / "not-yet.duckdb")
    assert connector.query("SELECT count(*) FROM probe").rows == [[3]]
    connector.close()


def test_connection_test_reports_the_version_or_the_error(probe: DuckDBConnector, tmp_path: Path) -> None:
    ok = probe.test_connection()
    assert ok.ok and ok.server_version == duckdb.__version__ and ok.latency_ms is not None and ok.latency_ms > 0
    with connect(credentials(tmp_path / "missing.duckdb")) as missing:
        failed = missing.test_connection()
    assert not failed.ok and failed.error is not None
    assert failed.error["type"] == "NotFoundError" and "missing.duckdb" in failed.error["message"]


def test_statements_from_several_threads_take_turns(probe: DuckDBConnector) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results.append(probe.query(f"SELECT sum(range) + {i} FROM range(2000000)").rows[0][0])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(results) == [1999999000000 + i for i in range(6)]


def test_two_connectors_on_one_file_are_independent(probe_path: Path, tmp_path: Path) -> None:
    """The driver would share one DuckDB instance (and its locked settings) between connects to the same file; each
    connector has its own, so two sources over one file, with different files views, both open and work."""
    side = tmp_path / "side.csv"
    side.write_text("k,v\n1,a\n")
    first = connect(credentials(probe_path))
    second = connect(credentials(probe_path, files={"side": str(side)}))
    try:
        assert first.query("SELECT count(*) FROM probe").rows == [[3]]
        assert second.query("SELECT v FROM side").rows == [["a"]]
        with pytest.raises(NotFoundError):
            first.query("SELECT * FROM side")
        first.close()
        assert second.query("SELECT count(*) FROM probe").rows == [[3]]
    finally:
        first.close()
        second.close()


# -- spider-dev gold queries ------------------------------------------------------------------------------------
def _normalized(rows: list[Any]) -> Counter[tuple[Any, ...]]:
    """Rows as a multiset of comparable values: numbers as rounded floats (SQLite and DuckDB differ in int/float/
    Decimal), dates and timestamps as ISO text (the oracle stores them so)."""

    def value(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, (bool, int, float, decimal.Decimal)):
            return round(float(v), 4)
        if isinstance(v, datetime):
            return v.isoformat(sep=" ")
        if isinstance(v, date):
            return v.isoformat()
        return str(v)

    return Counter(tuple(value(v) for v in row) for row in rows)


def test_spider_gold_queries_return_the_same_rows_as_sqlite(spider_duckdb) -> None:  # type: ignore[no-untyped-def]
    """All 507 gold queries (MySQL dialect), transpiled with sqlglot to DuckDB and run through guard + pushed LIMIT +
    fetch, against the same rows in SQLite (the gold query transpiled to SQLite).

    Rules of the comparison: tables are qualified with their `cdk_` schema; LIKE becomes ILIKE on DuckDB (MySQL's and
    SQLite's LIKE ignore case, DuckDB's does not). Rows compare as multisets. When a query ends in LIMIT and the rows
    differ, the results without the LIMIT must be equal and DuckDB's limited rows must be among them: those queries
    order by a count with ties, where any tied row is a right answer. The only errors allowed are DuckDB's strict
    typing of spider's numbers stored as TEXT (a BinderException asking for a cast), as PostgreSQL's 42883.
    """
    path, _ = spider_duckdb
    with open(SPIDER_DEV_DIR / "questions.csv", newline="") as handle:
        questions = list(csv.DictReader(handle))
    assert len(questions) == 507
    oracles: dict[str, Any] = {}
    outcomes: Counter[str] = Counter()
    with connect(credentials(path)) as conn:
        for question in questions:
            database = question["database"]
            if database not in oracles:
                oracles[database] = spider_sqlite_oracle(database)
            oracle = oracles[database]

            def duckdb_sql(limited: bool = True) -> str:
                tree = sqlglot.parse_one(question["sql"], read="mysql")
                for node in tree.find_all(exp.Table):
                    if not node.args.get("db"):
                        node.set("db", exp.to_identifier(f"{PREFIX}{database.lower()}", quoted=True))
                for node in list(tree.find_all(exp.Like)):
                    node.replace(exp.ILike(this=node.this, expression=node.expression))
                if not limited:
                    tree.set("limit", None)
                return tree.sql("duckdb")

            def sqlite_rows(limited: bool = True) -> list[Any]:
                tree = sqlglot.parse_one(question["sql"], read="mysql")
                if not limited:
                    tree.set("limit", None)
                return oracle.execute(tree.sql("sqlite")).fetchall()

            try:
                rows = conn.query(duckdb_sql(), max_rows=100_000, timeout=30).rows
            except ReadOnlyViolation as exc:
                pytest.fail(f"guard refused a gold query: {question['sql']} ({exc.message})")
            except QueryError as exc:
                assert exc.details.get("driver_error") == "BinderException", (question["sql"], exc.message)
                assert "cast" in exc.message or "No function matches" in exc.message, (question["sql"], exc.message)
                outcomes["strict_typing"] += 1
                continue
            expected = sqlite_rows()
            if _normalized(rows) == _normalized(expected):
                outcomes["same"] += 1
                continue
            assert sqlglot.parse_one(question["sql"], read="mysql").args.get("limit"), (question["sql"], rows[:3], expected[:3])
            full = _normalized(conn.query(duckdb_sql(limited=False), max_rows=100_000, timeout=30).rows)
            assert full == _normalized(sqlite_rows(limited=False)), question["sql"]
            assert not _normalized(rows) - full, question["sql"]
            outcomes["tie"] += 1
    for oracle in oracles.values():
        oracle.close()
    assert outcomes["same"] >= 475 and outcomes["strict_typing"] <= 15, outcomes
    assert sum(outcomes.values()) == 507

"""A span per connector query (issue 13 §2) on real PostgreSQL and DuckDB: db.system, db.operation, the statement
with its literals replaced by `?` (the secret literal is nowhere in the span), rows, and errors by type and code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from connectors import QueryError, ReadOnlyViolation, connect
from connectors.postgres import PostgresConnector
from connectors.tracing import statement_shape
from tests.connectors.duckdb_support import credentials as duckdb_credentials
from tests.connectors.duckdb_support import make_probe_database
from tests.connectors.postgres_fixtures import pg_connector, pg_credentials, spider_pg  # noqa: F401 - fixtures
from tests.tracing_support import Spans, spans  # noqa: F401 - fixture

SECRET = "hunter2-zq81"


def _everything(span: Any) -> str:
    return json.dumps({"name": span.name, "attributes": dict(span.attributes), "events": [dict(e.attributes) for e in span.events], "status": span.status.description}, default=str)


@pytest.mark.postgres
def test_a_postgres_query_span_has_the_statement_without_its_literals(spans: Spans, pg_connector: PostgresConnector) -> None:
    sql = f"SELECT n, 'x' AS tag FROM generate_series(1, 7) AS g(n) WHERE '{SECRET}' = '{SECRET}' AND n > 2 -- note {SECRET}"
    result = pg_connector.query(sql)
    assert result.row_count == 5
    (span,) = [s for s in spans.all() if s.name == "SELECT postgresql"]
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["db.system"] == "postgresql"
    assert span.attributes["db.operation"] == "SELECT"
    assert span.attributes["db.statement"] == "SELECT n, ? AS tag FROM generate_series(?, ?) AS g(n) WHERE ? = ? AND n > ?"
    assert span.attributes["db.response.returned_rows"] == 5
    assert span.attributes["taskpack.db.duration_ms"] > 0
    assert span.end_time > span.start_time
    assert SECRET not in _everything(span)


@pytest.mark.postgres
def test_a_failed_postgres_query_is_an_error_span_by_type_and_code_only(spans: Spans, pg_connector: PostgresConnector) -> None:
    with pytest.raises(QueryError):
        pg_connector.query(f"SELECT CAST('{SECRET}' AS integer)")
    (span,) = [s for s in spans.all() if s.attributes.get("db.system") == "postgresql"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "QueryError"
    assert span.attributes["db.statement"] == "SELECT CAST(? AS integer)"
    assert SECRET not in _everything(span)


@pytest.mark.postgres
def test_a_refused_write_still_gets_its_span(spans: Spans, pg_connector: PostgresConnector) -> None:
    with pytest.raises(ReadOnlyViolation):
        pg_connector.query(f"DELETE FROM pg_class WHERE relname = '{SECRET}'")
    (span,) = [s for s in spans.all() if s.attributes.get("db.system") == "postgresql"]
    assert span.attributes["db.operation"] == "DELETE"
    assert span.status.status_code is StatusCode.ERROR
    assert SECRET not in _everything(span)


def test_the_profilers_own_statements_get_query_spans_too(spans: Spans, pg_connector: PostgresConnector, spider_pg: list[str]) -> None:
    """Profiling statements skip the guard (`run_generated`), not tracing: one span each, stored values left out."""
    profile = pg_connector.profile("cpg_car_1.car_makers", sample_size=1_000)
    shown = [s for s in spans.all() if s.attributes.get("db.system") == "postgresql"]
    assert len(shown) >= 2 and all(s.attributes["db.operation"] == "SELECT" for s in shown)
    assert all("car_makers" in s.attributes["db.statement"] for s in shown)
    stored = {t.value for c in profile.columns for t in c.top_values if isinstance(t.value, str) and len(t.value) > 3}
    assert stored and not any(v in _everything(s) for s in shown for v in stored)  # no sample value in any span


def test_a_duckdb_query_span_counts_rows_and_hides_literals(spans: Spans, tmp_path: Path) -> None:
    path = make_probe_database(tmp_path / "probe.duckdb")
    with connect(duckdb_credentials(path)) as connector:
        result = connector.query(f"WITH p AS (SELECT n, label FROM probe WHERE label <> '{SECRET}') SELECT * FROM p WHERE n >= 2", max_rows=1)
    assert result.row_count == 1 and result.truncated
    (span,) = [s for s in spans.all() if s.attributes.get("db.system") == "duckdb"]
    assert span.name == "SELECT duckdb"
    assert span.attributes["db.operation"] == "SELECT"
    assert span.attributes["db.statement"] == "WITH p AS (SELECT n, label FROM probe WHERE label <> ?) SELECT * FROM p WHERE n >= ?"
    assert span.attributes["db.response.returned_rows"] == 1
    assert span.attributes["taskpack.db.truncated"] is True
    assert SECRET not in _everything(span)


def test_a_query_inside_a_traced_step_is_its_child(spans: Spans, tmp_path: Path) -> None:
    from runtime import tracing

    path = make_probe_database(tmp_path / "probe.duckdb")
    with tracing.step_span("read") as step, connect(duckdb_credentials(path)) as connector:
        connector.query("SELECT 1")
    (query_span,) = [s for s in spans.all() if s.attributes.get("db.system") == "duckdb"]
    assert query_span.parent is not None and query_span.parent.span_id == step.get_span_context().span_id


def test_untraced_queries_make_no_spans(tmp_path: Path) -> None:
    from tests.tracing_support import _EXPORTER, provider

    provider()  # the global provider exists, but no test is recording
    path = make_probe_database(tmp_path / "probe.duckdb")
    with connect(duckdb_credentials(path)) as connector:
        assert connector.query("SELECT 1").row_count == 1
    assert _EXPORTER.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("dialect", "sql", "operation", "statement"),
    [
        ("postgres", "select E'a1', $t$b2$t$, \"Quoted Id\" from t /* c3 */ where x = 1e5", "SELECT", 'select ?, ?, "Quoted Id" from t where x = ?'),
        ("tsql", "SELECT TOP 5 * FROM [t] WHERE a = N'd4'", "SELECT", "SELECT TOP ? * FROM [t] WHERE a = ?"),
        ("bigquery", "SELECT r'e5', b'f6' FROM `p.d.t`", "SELECT", "SELECT ?, ? FROM `p.d.t`"),
        ("mysql", "SELECT * FROM t WHERE a = \"g7\" AND b = x'0A'", "SELECT", "SELECT * FROM t WHERE a = ? AND b = ?"),
        ("snowflake", "select $$h8$$", "SELECT", "select ?"),
        ("duckdb", "show tables", "SHOW", "show tables"),
        ("postgres", "(select 1) union (select 2)", "SELECT", "(select ?) union (select ?)"),
        ("postgres", "select 'unterminated", None, None),
    ],
)
def test_statement_shape_replaces_every_kind_of_literal(dialect: str, sql: str, operation: str | None, statement: str | None) -> None:
    assert statement_shape(sql, dialect) == (operation, statement)

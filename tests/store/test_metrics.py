"""Metrics in the store, on SQLite and PostgreSQL: versions, listings at the latest version, validation, and creation
that a resumed run (or two racing calls) can repeat without storing a second row."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from store import metrics
from store.agent_tables import agent_engine, metric_versions
from store.metrics import InvalidMetricError, MetricNotFoundError

SQL = "SELECT channel, sum(total) AS revenue FROM orders GROUP BY channel"
BAR = {"type": "bar", "x": "channel", "y": "revenue"}


def _create(url: str, **overrides: object) -> metrics.Metric:
    fields: dict = dict(
        name="Revenue by channel", description="Order totals per channel", sql=SQL, chart=BAR,
        data_source_id="src_a", database_url=url,
    )  # fmt: skip
    fields.update(overrides)
    return metrics.create_metric(**fields)


def _rows(url: str) -> int:
    with agent_engine(url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(metric_versions)).scalar_one()


def test_modify_adds_versions_and_listings_show_the_latest(store_url: str) -> None:
    first = _create(store_url, time_frame="2025-07-01 to 2025-09-30", columns=["channel", "revenue"], chat_id="c1")
    assert first.id.startswith("met_") and first.version == 1
    assert first.chart.y == ["revenue"] and first.columns == ["channel", "revenue"]
    renamed = metrics.modify_metric(first.id, name="Revenue per channel", database_url=store_url)
    assert (renamed.version, renamed.name, renamed.sql, renamed.time_frame) == (
        2, "Revenue per channel", SQL, "2025-07-01 to 2025-09-30"
    )
    assert renamed.columns == ["channel", "revenue"]  # same SQL: the checked columns still hold
    resql = metrics.modify_metric(
        first.id, sql="SELECT 1 AS revenue", chart={"type": "number", "y": ["revenue"]}, database_url=store_url
    )
    assert resql.version == 3 and resql.columns is None and resql.name == "Revenue per channel"
    other = _create(store_url, name="Orders", data_source_id="src_b")

    listed = metrics.list_metrics(database_url=store_url)
    assert [(m.id, m.version) for m in listed] == [(other.id, 1), (first.id, 3)]
    assert [m.id for m in metrics.list_metrics(data_source_id="src_a", database_url=store_url)] == [first.id]
    assert [m.id for m in metrics.list_metrics(chat_id="c1", database_url=store_url)] == [first.id]
    assert [m.version for m in metrics.metric_versions_of(first.id, database_url=store_url)] == [1, 2, 3]
    assert metrics.get_metric(first.id, version=1, database_url=store_url) == first
    assert metrics.get_metric(first.id, database_url=store_url) == resql
    assert [m.id for m in metrics.get_metrics([other.id, first.id], database_url=store_url)] == [other.id, first.id]
    assert _rows(store_url) == 4


def test_the_same_tool_call_stores_one_row_even_when_repeated_or_raced(store_url: str) -> None:
    first = _create(store_url, run_id="run_1", tool_call_id="call_1")
    again = _create(store_url, run_id="run_1", tool_call_id="call_1", name="A different name on the retry")
    assert again == first and _rows(store_url) == 1
    assert metrics.find_by_call("run_1", "call_1", database_url=store_url) == first
    assert metrics.find_by_call("run_1", "call_2", database_url=store_url) is None
    # another call of the same run, or the same call id in another run, is another metric
    assert _create(store_url, run_id="run_1", tool_call_id="call_2").id != first.id
    assert _create(store_url, run_id="run_2", tool_call_id="call_1").id != first.id

    barrier = threading.Barrier(6)

    def racer(_: int) -> str:
        barrier.wait()
        return _create(store_url, run_id="run_race", tool_call_id="call_9").id

    with ThreadPoolExecutor(6) as pool:
        ids = set(pool.map(racer, range(6)))
    assert len(ids) == 1 and _rows(store_url) == 4

    modified = metrics.modify_metric(first.id, name="v2", run_id="run_1", tool_call_id="call_7", database_url=store_url)
    repeat = metrics.modify_metric(first.id, name="v2 again", run_id="run_1", tool_call_id="call_7", database_url=store_url)
    assert repeat == modified and modified.version == 2 and _rows(store_url) == 5


def test_racing_modifications_each_get_their_own_version(store_url: str) -> None:
    metric = _create(store_url)
    barrier = threading.Barrier(5)

    def modify(n: int) -> int:
        barrier.wait()
        return metrics.modify_metric(
            metric.id, description=f"edit {n}", run_id="run_m", tool_call_id=f"call_{n}", database_url=store_url
        ).version

    with ThreadPoolExecutor(5) as pool:
        versions = sorted(pool.map(modify, range(5)))
    assert versions == [2, 3, 4, 5, 6]
    stored = metrics.metric_versions_of(metric.id, database_url=store_url)
    assert sorted(m.description for m in stored[1:]) == [f"edit {n}" for n in range(5)]


def test_malformed_metrics_are_refused_naming_the_field(store_url: str) -> None:
    cases = [
        ({"name": "  "}, "name must not be empty"),
        ({"sql": ""}, "sql must not be empty"),
        ({"name": "x" * 201}, "name is 201 characters long"),
        ({"description": "bad\x00byte"}, "description must not contain NUL"),
        ({"chart": {"type": "scatter"}}, "invalid chart: type"),
        ({"chart": {"type": "bar", "x": "channel"}}, "needs x"),
        ({"chart": {"type": "pie", "x": "c", "y": ["a", "b"]}}, "exactly one y"),
        ({"chart": {"type": "number", "x": "c", "y": "v"}}, "at most one y column, no x"),
        ({"chart": {"type": "table", "colour": "red"}}, "colour: Extra inputs"),
        ({"name": 42}, "name must be text, got int"),
        ({"run_id": "run_1"}, "run_id and tool_call_id go together"),
        ({"run_id": "run_1", "tool_call_id": "c" * 129}, "tool_call_id must be 1 to 128"),
    ]
    for overrides, message in cases:
        with pytest.raises(InvalidMetricError, match=message):
            _create(store_url, **overrides)
    assert metrics.list_metrics(database_url=store_url) == []
    metric = _create(store_url)
    with pytest.raises(InvalidMetricError, match="needs x"):
        metrics.modify_metric(metric.id, chart={"type": "line"}, database_url=store_url)
    with pytest.raises(MetricNotFoundError, match="met_nope"):
        metrics.modify_metric("met_nope", name="x", database_url=store_url)
    with pytest.raises(MetricNotFoundError, match="no version 9"):
        metrics.get_metric(metric.id, version=9, database_url=store_url)
    with pytest.raises(MetricNotFoundError, match="'met_gone'"):
        metrics.get_metrics([metric.id, "met_gone"], database_url=store_url)
    assert _rows(store_url) == 1


def test_hostile_text_is_stored_as_text(store_url: str) -> None:
    name = "x'); DROP TABLE store_metric_versions; --"
    sql = "SELECT '\"; DELETE FROM orders; --' AS note, 'ünïcødé ✓' AS v"
    metric = _create(store_url, name=name, sql=sql, chart={"type": "table"})
    got = metrics.get_metric(metric.id, database_url=store_url)
    assert (got.name, got.sql) == (name, sql)
    assert _rows(store_url) == 1

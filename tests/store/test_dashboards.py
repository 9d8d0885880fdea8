"""Dashboards in the store, on SQLite and PostgreSQL: layouts checked against the grid and the metric list, versions,
and one row per tool call."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from store import dashboards, metrics
from store.dashboards import DashboardNotFoundError, InvalidDashboardError


def _metric(url: str, name: str, source: str = "src_a") -> str:
    return metrics.create_metric(
        name=name, description="", sql=f"SELECT 1 AS {name}", chart={"type": "number"}, data_source_id=source,
        database_url=url,
    ).id  # fmt: skip


def test_a_dashboard_lays_out_its_metrics_and_keeps_versions(store_url: str) -> None:
    a, b, c = (_metric(store_url, n) for n in ("a", "b", "c"))
    plain = dashboards.create_dashboard(name="Plain", metric_ids=[a, b], data_source_id="src_a", database_url=store_url)
    assert plain.id.startswith("dash_") and plain.version == 1
    assert [[(i.metric_id, i.width) for i in row] for row in plain.layout] == [[(a, 12)], [(b, 12)]]

    laid = dashboards.create_dashboard(
        name="Marketing", description="Where revenue comes from", metric_ids=[a, b, c],
        layout=[[{"metric_id": a, "width": 8}, {"metric_id": b, "width": 4}], [{"metric_id": c}]],
        data_source_id="src_a", chat_id="chat_1", database_url=store_url,
    )  # fmt: skip
    assert [[(i.metric_id, i.width) for i in row] for row in laid.layout] == [[(a, 8), (b, 4)], [(c, 12)]]

    # dropping b keeps the rest of the layout; adding d appends a full-width row
    d = _metric(store_url, "d")
    v2 = dashboards.modify_dashboard(laid.id, metric_ids=[a, c, d], database_url=store_url)
    assert v2.version == 2 and v2.name == "Marketing"
    assert [[(i.metric_id, i.width) for i in row] for row in v2.layout] == [[(a, 8)], [(c, 12)], [(d, 12)]]
    v3 = dashboards.modify_dashboard(laid.id, name="Marketing 2025", database_url=store_url)
    assert (v3.version, v3.metric_ids, v3.layout) == (3, v2.metric_ids, v2.layout)

    assert [(x.id, x.version) for x in dashboards.list_dashboards(database_url=store_url)] == [(laid.id, 3), (plain.id, 1)]
    assert [x.id for x in dashboards.list_dashboards(chat_id="chat_1", database_url=store_url)] == [laid.id]
    assert [x.version for x in dashboards.dashboard_versions_of(laid.id, database_url=store_url)] == [1, 2, 3]
    assert dashboards.get_dashboard(laid.id, version=1, database_url=store_url) == laid


def test_bad_metric_lists_and_layouts_are_refused(store_url: str) -> None:
    a, b = _metric(store_url, "a"), _metric(store_url, "b")
    foreign = _metric(store_url, "f", source="src_other")
    cases = [
        ({"metric_ids": []}, "at least one metric"),
        ({"metric_ids": [a, a]}, "more than once"),
        ({"metric_ids": [a, "met_missing"]}, "no metric with id 'met_missing'"),
        ({"metric_ids": [a, foreign]}, "belongs to another data source"),
        ({"metric_ids": [a, b], "layout": [[{"metric_id": a, "width": 8}, {"metric_id": b, "width": 8}]]}, "16 columns wide"),
        ({"metric_ids": [a, b], "layout": [[{"metric_id": a}]]}, "leaves out"),
        ({"metric_ids": [a], "layout": [[{"metric_id": a}], [{"metric_id": b}]]}, "not in metric_ids"),
        ({"metric_ids": [a], "layout": [[{"metric_id": a, "width": 6}, {"metric_id": a, "width": 6}]]}, "more than once"),
        ({"metric_ids": [a], "layout": [[{"metric_id": a, "width": 0}]]}, "invalid layout: 0.0.width"),
        ({"metric_ids": [a], "layout": [[{"metric_id": a}], []]}, "row 2 is empty"),
        ({"metric_ids": [a], "name": " "}, "name must not be empty"),
        ({"metric_ids": "a,b"}, "must be a list"),
    ]
    for overrides, message in cases:
        fields = {"name": "D", "data_source_id": "src_a", "database_url": store_url, **overrides}
        with pytest.raises(InvalidDashboardError, match=message):
            dashboards.create_dashboard(**fields)
    assert dashboards.list_dashboards(database_url=store_url) == []
    with pytest.raises(DashboardNotFoundError, match="dash_nope"):
        dashboards.modify_dashboard("dash_nope", name="x", database_url=store_url)


def test_one_dashboard_per_tool_call_even_when_raced(store_url: str) -> None:
    a = _metric(store_url, "a")
    barrier = threading.Barrier(5)

    def create(_: int) -> str:
        barrier.wait()
        return dashboards.create_dashboard(
            name="D", metric_ids=[a], data_source_id="src_a", run_id="run_1", tool_call_id="call_1", database_url=store_url
        ).id

    with ThreadPoolExecutor(5) as pool:
        ids = set(pool.map(create, range(5)))
    assert len(ids) == 1 and len(dashboards.list_dashboards(database_url=store_url)) == 1
    (dash_id,) = ids
    first = dashboards.modify_dashboard(dash_id, name="E", run_id="run_1", tool_call_id="call_2", database_url=store_url)
    again = dashboards.modify_dashboard(dash_id, name="F", run_id="run_1", tool_call_id="call_2", database_url=store_url)
    assert again == first and first.version == 2
    assert len(dashboards.dashboard_versions_of(dash_id, database_url=store_url)) == 2

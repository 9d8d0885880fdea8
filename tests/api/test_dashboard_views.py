"""What the run page computes from a run's metadata (pure functions; run.js mirrors them in the browser)."""

from __future__ import annotations

import pytest

from api.dashboard.views import progress, timeline


@pytest.mark.parametrize(
    "value, expected",
    [(0.25, 0.25), (1, 1.0), (0, 0.0), (42, 0.42), (100, 1.0), (250, 1.0), (-3, 0.0), (True, None), ("50", None), (None, None)],
)
def test_progress_reads_fractions_and_percentages(value, expected) -> None:  # type: ignore[no-untyped-def]
    assert progress({"progress": value} if value is not None else {}) == expected


def test_introspect_data_stages_done_current_pending() -> None:
    items = timeline("introspect-data", {"stage": "profiling", "progress": 0.6}, "EXECUTING")
    assert [(i["name"], i["state"]) for i in items] == [
        ("connecting", "done"), ("testing", "done"), ("introspecting", "done"), ("profiling", "current"),
        ("saving", "pending"), ("done", "pending"),
    ]


def test_a_finished_introspection_has_its_stage_done() -> None:
    items = timeline("introspect-data", {"stage": "done"}, "COMPLETED")
    assert all(i["state"] == "done" for i in items)
    failed = timeline("introspect-data", {"stage": "introspecting"}, "FAILED")
    assert [i["state"] for i in failed] == ["done", "done", "done", "pending", "pending", "pending"]


def test_agent_states_timeline_with_summaries() -> None:
    meta = {"state": "planning", "states": [
        {"name": "initialization", "started_at": 1, "finished_at": 2, "summary": "catalog loaded"},
        {"name": "searching", "started_at": 2, "finished_at": 3, "summary": "3 tables"},
        {"name": "planning", "started_at": 3, "finished_at": None, "summary": None},
        "garbage",
    ]}
    items = timeline("analyst-agent", meta, "EXECUTING")
    assert [(i["name"], i["state"], i["summary"]) for i in items] == [
        ("initialization", "done", "catalog loaded"), ("searching", "done", "3 tables"), ("planning", "current", None),
    ]


def test_an_unknown_task_shows_its_current_stage_and_nothing_without_one() -> None:
    assert timeline("other", {"stage": "warming up"}, "EXECUTING") == [
        {"name": "warming up", "state": "current", "summary": None, "started_at": None}
    ]
    assert timeline("other", {}, "EXECUTING") == []
    assert timeline("other", {"stage": 7}, "EXECUTING") == []

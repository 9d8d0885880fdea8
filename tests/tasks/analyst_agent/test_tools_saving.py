"""The saving tools on the demo warehouse with the store on SQLite and PostgreSQL: a metric's SQL runs before it is
saved, its chart must name the result's columns, failures come back as text and store nothing, and a repeated tool
call (a resumed run) returns the first call's row without running anything again."""

from __future__ import annotations

import json

import pytest

from connectors import Connector
from store import dashboards as dashboard_store
from store import metrics as metric_store
from tasks.analyst_agent.tools import (
    TOOL_ARGS,
    CreateDashboardArgs,
    CreateMetricArgs,
    ModifyDashboardArgs,
    ModifyMetricArgs,
    ToolEnv,
    create_dashboard,
    create_metric,
    execute_sql,
    modify_dashboard,
    modify_metric,
    run_tool,
    tool_definitions,
)
from tests.tasks.analyst_agent.tools_support import (  # noqa: F401 - fixtures
    demo_catalog,
    demo_connector,
    demo_env,
    demo_path,
    store_url,
)

REVENUE_SQL = (
    "SELECT c.name AS channel, sum(o.total) AS revenue FROM orders o "
    "JOIN marketing_channels c USING (channel_id) WHERE o.status NOT IN ('cancelled', 'refunded') "
    "GROUP BY c.name ORDER BY revenue DESC"
)


def _metric_args(**overrides: object) -> CreateMetricArgs:
    fields: dict = {"name": "Revenue by channel", "description": "Order totals", "sql": REVENUE_SQL,
                    "chart": {"type": "bar", "x": "channel", "y": ["revenue"]}, "time_frame": "all time"}  # fmt: skip
    return CreateMetricArgs.model_validate({**fields, **overrides})


def test_a_metric_is_saved_only_after_its_sql_ran(demo_env: ToolEnv) -> None:
    outcome = create_metric(demo_env, _metric_args(), tool_call_id="call_1")
    assert outcome.ok and outcome.metric is not None and outcome.result is not None
    channels = execute_sql(demo_env, "SELECT count(DISTINCT channel_id) FROM orders").rows[0][0]
    assert outcome.result.row_count == channels > 1 and outcome.metric.columns == ["channel", "revenue"]
    assert outcome.metric.run_id == "run_tools_1" and outcome.metric.chat_id == "chat_1"
    shown = outcome.for_model().splitlines()
    assert shown[0] == f"saved metric {outcome.metric.id} (version 1): 'Revenue by channel', chart bar"
    assert shown[1] == f"{channels} rows:" and shown[2] == "channel | revenue"
    assert shown[3].split(" | ")[0] == outcome.result.rows[0][0] and len(shown) == 3 + channels
    assert metric_store.list_metrics(database_url=demo_env.database_url) == [outcome.metric]

    failing = create_metric(demo_env, _metric_args(sql="SELECT channel FROM revenue_by_region"), tool_call_id="call_2")
    assert failing.ok is False and failing.metric is None
    assert failing.error.startswith("the metric was not saved because its SQL failed: ")
    assert "revenue_by_region" in failing.error
    refused = create_metric(demo_env, _metric_args(sql="DELETE FROM orders"), tool_call_id="call_3")
    assert refused.ok is False and "read-only guard" in refused.error
    wrong_chart = create_metric(
        demo_env, _metric_args(chart={"type": "line", "x": "month", "y": ["revenue"]}), tool_call_id="call_4"
    )
    assert wrong_chart.ok is False
    assert wrong_chart.error == (
        "the metric was not saved: the chart names 'month', but the SQL returns the columns channel, revenue"
    )
    assert len(metric_store.list_metrics(database_url=demo_env.database_url)) == 1

    # names are matched case-insensitively and stored as the result spells them
    spelt = create_metric(demo_env, _metric_args(chart={"type": "pie", "x": "CHANNEL", "y": "Revenue"}), tool_call_id="call_5")
    assert spelt.ok and (spelt.metric.chart.x, spelt.metric.chart.y) == ("channel", ["revenue"])
    empty = create_metric(
        demo_env, _metric_args(sql="SELECT name AS channel, 1 AS revenue FROM marketing_channels WHERE false"),
        tool_call_id="call_6",
    )  # fmt: skip
    assert empty.ok and "returned no rows" in empty.warning


def test_a_repeated_call_returns_the_stored_metric_without_running_again(demo_env: ToolEnv, demo_connector: Connector) -> None:
    first = create_metric(demo_env, _metric_args(), tool_call_id="call_1")
    demo_connector.close()  # a resumed run's repeat must not need the warehouse at all
    again = create_metric(demo_env, _metric_args(name="renamed on the retry"), tool_call_id="call_1")
    assert again.ok and again.replayed and again.metric == first.metric and again.result is None
    assert len(metric_store.list_metrics(database_url=demo_env.database_url)) == 1


def test_modify_metric_checks_the_new_sql_and_chart(demo_env: ToolEnv) -> None:
    metric = create_metric(demo_env, _metric_args(), tool_call_id="call_1").metric
    assert metric is not None
    renamed = modify_metric(demo_env, ModifyMetricArgs(metric_id=metric.id, name="Revenue per channel"), tool_call_id="call_2")
    assert renamed.ok and renamed.metric.version == 2 and renamed.metric.sql == metric.sql and renamed.result is None
    bad_sql = modify_metric(
        demo_env, ModifyMetricArgs(metric_id=metric.id, sql="SELECT nope FROM orders"), tool_call_id="call_3"
    )
    assert bad_sql.ok is False and bad_sql.error.startswith("the metric was not changed because its SQL failed")
    bad_chart = modify_metric(
        demo_env, ModifyMetricArgs(metric_id=metric.id, chart={"type": "number", "y": ["orders"]}), tool_call_id="call_4"
    )
    assert bad_chart.ok is False and "'orders'" in bad_chart.error
    new_sql = "SELECT count(*) AS orders FROM orders"
    changed = modify_metric(
        demo_env, ModifyMetricArgs(metric_id=metric.id, sql=new_sql, chart={"type": "number", "y": ["orders"]}),
        tool_call_id="call_5",
    )  # fmt: skip
    assert changed.ok and changed.metric.version == 3 and changed.metric.columns == ["orders"]
    assert changed.result.rows[0][0] > 20_000
    nothing = modify_metric(demo_env, ModifyMetricArgs(metric_id=metric.id), tool_call_id="call_6")
    assert nothing.ok is False and nothing.error.startswith("nothing to change")
    elsewhere = ToolEnv(**{**demo_env.__dict__, "data_source_id": "src_other"})
    foreign = modify_metric(elsewhere, ModifyMetricArgs(metric_id=metric.id, name="x"), tool_call_id="call_7")
    assert foreign.ok is False and foreign.error == f"there is no metric {metric.id!r} on this data source"
    assert [m.version for m in metric_store.metric_versions_of(metric.id, database_url=demo_env.database_url)] == [1, 2, 3]


def test_dashboards_through_the_tools(demo_env: ToolEnv) -> None:
    a = create_metric(demo_env, _metric_args(), tool_call_id="call_1").metric
    b = create_metric(
        demo_env, _metric_args(name="Orders", sql="SELECT count(*) AS n FROM orders", chart={"type": "number"}),
        tool_call_id="call_2",
    ).metric  # fmt: skip
    made = create_dashboard(demo_env, CreateDashboardArgs(name="Marketing", metric_ids=[a.id, b.id]), tool_call_id="call_3")
    assert made.ok and made.dashboard.metric_ids == [a.id, b.id]
    again = create_dashboard(demo_env, CreateDashboardArgs(name="Other", metric_ids=[a.id]), tool_call_id="call_3")
    assert again.replayed and again.dashboard == made.dashboard
    unknown = create_dashboard(demo_env, CreateDashboardArgs(name="X", metric_ids=["met_invented"]), tool_call_id="call_4")
    assert unknown.ok is False and "met_invented" in unknown.error
    changed = modify_dashboard(
        demo_env,
        ModifyDashboardArgs(dashboard_id=made.dashboard.id, layout=[[{"metric_id": a.id, "width": 6}, {"metric_id": b.id, "width": 6}]]),
        tool_call_id="call_5",
    )
    assert changed.ok and changed.dashboard.version == 2 and len(changed.dashboard.layout) == 1
    missing = modify_dashboard(demo_env, ModifyDashboardArgs(dashboard_id="dash_nope", name="x"), tool_call_id="call_6")
    assert missing.ok is False and "dash_nope" in missing.error
    assert len(dashboard_store.list_dashboards(database_url=demo_env.database_url)) == 1


def test_run_tool_answers_bad_calls_with_the_reason(demo_env: ToolEnv) -> None:
    unknown = run_tool(demo_env, "drop_database", {}, tool_call_id="c1")
    assert unknown.ok is False and "there is no tool 'drop_database'" in unknown.error and "execute_sql" in unknown.error
    not_json = run_tool(demo_env, "execute_sql", '{"sql": "SELECT 1"', tool_call_id="c2")
    assert not_json.ok is False and "not valid JSON" in not_json.error
    not_object = run_tool(demo_env, "execute_sql", '["SELECT 1"]', tool_call_id="c3")
    assert not_object.ok is False and "must be a JSON object" in not_object.error
    extra = run_tool(demo_env, "execute_sql", {"sql": "SELECT 1", "timeout": 9999}, tool_call_id="c4")
    assert extra.ok is False and "timeout: Extra inputs are not permitted" in extra.error
    bad_chart = run_tool(
        demo_env, "create_metric", {"name": "x", "sql": "SELECT 1 AS v", "chart": {"type": "bar", "y": ["v"]}}, tool_call_id="c5"
    )
    assert bad_chart.ok is False and "needs x" in bad_chart.error
    assert metric_store.list_metrics(database_url=demo_env.database_url) == []

    rows = run_tool(demo_env, "execute_sql", json.dumps({"sql": "SELECT 41 + 1 AS answer"}), tool_call_id="c6")
    assert rows.ok and rows.rows == [[42]]
    saved = run_tool(demo_env, "create_metric", _metric_args().model_dump(), tool_call_id="c7")
    assert saved.ok and saved.record()["metric_id"] == saved.metric.id
    question = run_tool(demo_env, "ask_clarifying_question", {"question": " Which quarter? ", "options": ["Q3", "Q3", " "]}, tool_call_id="c8")
    assert (question.question, question.options) == ("Which quarter?", ["Q3"])
    done = run_tool(demo_env, "done", {"answer": "Email brought the most."}, tool_call_id="c9")
    assert done.ok and done.answer == "Email brought the most."
    empty_answer = run_tool(demo_env, "done", {"answer": ""}, tool_call_id="c10")
    assert empty_answer.ok is False and "answer" in empty_answer.error


def test_tool_definitions_are_openai_functions_for_every_tool() -> None:
    definitions = tool_definitions()
    assert [d["function"]["name"] for d in definitions] == list(TOOL_ARGS)
    metric = next(d for d in definitions if d["function"]["name"] == "create_metric")["function"]
    assert metric["parameters"]["type"] == "object" and "sql" in metric["parameters"]["properties"]
    assert metric["description"].startswith("Save a query as a metric")


# -- metrics on PostgreSQL and MariaDB sources -------------------------------------------------------------------------
import connectors  # noqa: E402
from connectors.postgres import PostgresConnector  # noqa: E402
from tests.connectors.mysql_support import (  # noqa: E402,F401 - fixtures
    SLOW_MYSQL_QUERY,
    mysql_admin,
    mysql_tester,
    running_statements,
    spider_mysql,
)
from tests.connectors.postgres_fixtures import pg_credentials, spider_pg, unique_app_name  # noqa: E402,F401 - fixtures


@pytest.mark.postgres
def test_a_metric_on_a_postgres_source_keeps_mixed_case_columns(pg_credentials, spider_pg, store_url: str) -> None:  # noqa: F811
    with PostgresConnector(pg_credentials, application_name=unique_app_name("saving")) as conn:
        env = ToolEnv(connector=conn, data_source_id="src_pg", run_id="run_pg", database_url=store_url)
        sql = 'SELECT "Major", count(*) AS "Students" FROM cpg_pets_1."Student" GROUP BY "Major" ORDER BY 2 DESC'
        outcome = create_metric(
            env, _metric_args(name="Students per major", sql=sql, chart={"type": "bar", "x": "major", "y": "students"}),
            tool_call_id="call_1",
        )  # fmt: skip
        assert outcome.ok, outcome.error
        assert (outcome.metric.chart.x, outcome.metric.chart.y) == ("Major", ["Students"])
        assert sum(row[1] for row in outcome.result.rows) == 34
        refused = create_metric(env, _metric_args(sql='SELECT 1; DROP TABLE cpg_pets_1."Student"'), tool_call_id="call_2")
        assert refused.ok is False and "read-only guard" in refused.error
    assert [m.id for m in metric_store.list_metrics(data_source_id="src_pg", database_url=store_url)] == [outcome.metric.id]


@pytest.mark.mysql
def test_a_metric_on_a_mariadb_source(mysql_tester, spider_mysql, mysql_admin, store_url: str) -> None:  # noqa: F811
    with connectors.connect(mysql_tester) as conn:
        env = ToolEnv(connector=conn, data_source_id="src_my", run_id="run_my", database_url=store_url)
        sql = "SELECT PetType, avg(weight) AS avg_weight FROM cmy_pets_1.Pets GROUP BY PetType ORDER BY PetType"
        outcome = create_metric(
            env, _metric_args(name="Weight by pet type", sql=sql, chart={"type": "bar", "x": "PetType", "y": "avg_weight"}),
            tool_call_id="call_1",
        )  # fmt: skip
        assert outcome.ok, outcome.error
        assert [row[0] for row in outcome.result.rows] == ["cat", "dog"]
        timeout = create_metric(
            ToolEnv(connector=conn, data_source_id="src_my", run_id="run_my", database_url=store_url, timeout_s=1.0),
            _metric_args(sql=SLOW_MYSQL_QUERY, chart={"type": "number"}),
            tool_call_id="call_2",
        )
        assert timeout.ok is False and "the query was stopped; make it cheaper" in timeout.error
        assert running_statements(mysql_admin) == []
    assert len(metric_store.list_metrics(data_source_id="src_my", database_url=store_url)) == 1

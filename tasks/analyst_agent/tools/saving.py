"""`create_metric` / `modify_metric` / `create_dashboard` / `modify_dashboard`: save what the agent found.

A metric's SQL executes before the metric is saved, and its chart may only name columns the SQL returns; a failure
of either comes back as `ok=False` with the reason (the model fixes it), and nothing is stored. Every save carries the
run id and the tool call id, so a resumed run repeating a call gets the row the first call stored (store/metrics.py);
such a repeat does not even run the SQL again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from store import dashboards as dashboard_store
from store import metrics as metric_store
from store.dashboards import Dashboard, DashboardNotFoundError, InvalidDashboardError
from store.metrics import ChartConfig, InvalidMetricError, Metric, MetricNotFoundError
from tasks.analyst_agent.tools.args import CreateDashboardArgs, CreateMetricArgs, ModifyDashboardArgs, ModifyMetricArgs
from tasks.analyst_agent.tools.env import ToolEnv
from tasks.analyst_agent.tools.sql import SqlResult, execute_sql


#: rows of a saved metric's result shown back to the model
PREVIEW_ROWS = 10


class MetricOutcome(BaseModel):
    ok: bool
    error: str | None = None
    metric: Metric | None = None
    result: SqlResult | None = None
    replayed: bool = False
    warning: str | None = None

    def for_model(self) -> str:
        if not self.ok or self.metric is None:
            return f"ERROR: {self.error}"
        m = self.metric
        text = f"saved metric {m.id} (version {m.version}): {m.name!r}, chart {m.chart.type}"
        if self.warning:
            text += f". WARNING: {self.warning}"
        if self.result is not None and self.result.ok and self.result.rows:
            text += "\n" + self.result.for_model(preview_rows=PREVIEW_ROWS)  # the numbers the answer may state
        return text

    def record(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "metric_id": self.metric.id if self.metric else None,
            "version": self.metric.version if self.metric else None,
            "replayed": self.replayed,
        }


class DashboardOutcome(BaseModel):
    ok: bool
    error: str | None = None
    dashboard: Dashboard | None = None
    replayed: bool = False

    def for_model(self) -> str:
        if not self.ok or self.dashboard is None:
            return f"ERROR: {self.error}"
        d = self.dashboard
        return f"saved dashboard {d.id} (version {d.version}): {d.name!r} with {len(d.metric_ids)} metrics"

    def record(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "dashboard_id": self.dashboard.id if self.dashboard else None,
            "version": self.dashboard.version if self.dashboard else None,
            "replayed": self.replayed,
        }


def create_metric(env: ToolEnv, args: CreateMetricArgs, *, tool_call_id: str) -> MetricOutcome:
    """Execute the SQL, check the chart against its columns, then store the metric (version 1)."""
    stored = _stored_metric(env, tool_call_id)
    if stored is not None:
        return MetricOutcome(ok=True, metric=stored, replayed=True)
    result = execute_sql(env, args.sql)
    if not result.ok:
        return MetricOutcome(ok=False, error=f"the metric was not saved because its SQL failed: {result.error}", result=result)
    chart, problem = _chart_on_columns(args.chart, result.columns)
    if problem:
        return MetricOutcome(ok=False, error=f"the metric was not saved: {problem}", result=result)
    try:
        metric = metric_store.create_metric(
            name=args.name,
            description=args.description,
            sql=result.sql,
            chart=chart,
            time_frame=args.time_frame,
            columns=result.columns,
            data_source_id=env.data_source_id,
            chat_id=env.chat_id,
            run_id=env.run_id,
            tool_call_id=tool_call_id if env.run_id else None,
            database_url=env.database_url,
        )
    except InvalidMetricError as exc:
        return MetricOutcome(ok=False, error=f"the metric was not saved: {exc.message}", result=result)
    return MetricOutcome(ok=True, metric=metric, result=result, warning=_empty_warning(result))


def modify_metric(env: ToolEnv, args: ModifyMetricArgs, *, tool_call_id: str) -> MetricOutcome:
    """Add a version to a metric of this data source; a new SQL (or chart) is executed and checked first."""
    stored = _stored_metric(env, tool_call_id)
    if stored is not None:
        return MetricOutcome(ok=True, metric=stored, replayed=True)
    try:
        current = metric_store.get_metric(args.metric_id, database_url=env.database_url)
    except MetricNotFoundError:
        current = None
    if current is None or current.data_source_id != env.data_source_id:
        return MetricOutcome(ok=False, error=f"there is no metric {args.metric_id!r} on this data source")
    changes = args.model_fields_set - {"metric_id"}
    if not changes:
        return MetricOutcome(ok=False, error="nothing to change: give a new name, description, sql, chart or time_frame")
    result: SqlResult | None = None
    chart = args.chart or current.chart
    columns = current.columns
    if args.sql is not None or args.chart is not None or columns is None:
        result = execute_sql(env, args.sql or current.sql)
        if not result.ok:
            return MetricOutcome(ok=False, error=f"the metric was not changed because its SQL failed: {result.error}", result=result)
        columns = result.columns
    chart, problem = _chart_on_columns(chart, columns or [])
    if problem:
        return MetricOutcome(ok=False, error=f"the metric was not changed: {problem}", result=result)
    try:
        metric = metric_store.modify_metric(
            current.id,
            name=args.name,
            description=args.description,
            sql=result.sql if result is not None and args.sql is not None else None,
            chart=chart,
            time_frame=args.time_frame,
            columns=columns,
            run_id=env.run_id,
            tool_call_id=tool_call_id if env.run_id else None,
            database_url=env.database_url,
        )
    except (InvalidMetricError, MetricNotFoundError) as exc:
        return MetricOutcome(ok=False, error=f"the metric was not changed: {exc.message}", result=result)
    return MetricOutcome(ok=True, metric=metric, result=result, warning=_empty_warning(result) if result else None)


def create_dashboard(env: ToolEnv, args: CreateDashboardArgs, *, tool_call_id: str) -> DashboardOutcome:
    stored = _stored_dashboard(env, tool_call_id)
    if stored is not None:
        return DashboardOutcome(ok=True, dashboard=stored, replayed=True)
    try:
        dashboard = dashboard_store.create_dashboard(
            name=args.name,
            description=args.description,
            metric_ids=args.metric_ids,
            layout=args.layout,
            data_source_id=env.data_source_id,
            chat_id=env.chat_id,
            run_id=env.run_id,
            tool_call_id=tool_call_id if env.run_id else None,
            database_url=env.database_url,
        )
    except InvalidDashboardError as exc:
        return DashboardOutcome(ok=False, error=f"the dashboard was not saved: {exc.message}")
    return DashboardOutcome(ok=True, dashboard=dashboard)


def modify_dashboard(env: ToolEnv, args: ModifyDashboardArgs, *, tool_call_id: str) -> DashboardOutcome:
    stored = _stored_dashboard(env, tool_call_id)
    if stored is not None:
        return DashboardOutcome(ok=True, dashboard=stored, replayed=True)
    try:
        current = dashboard_store.get_dashboard(args.dashboard_id, database_url=env.database_url)
    except DashboardNotFoundError:
        current = None
    if current is None or current.data_source_id != env.data_source_id:
        return DashboardOutcome(ok=False, error=f"there is no dashboard {args.dashboard_id!r} on this data source")
    if not args.model_fields_set - {"dashboard_id"}:
        return DashboardOutcome(ok=False, error="nothing to change: give a new name, description, metric_ids or layout")
    try:
        dashboard = dashboard_store.modify_dashboard(
            current.id,
            name=args.name,
            description=args.description,
            metric_ids=args.metric_ids,
            layout=args.layout,
            run_id=env.run_id,
            tool_call_id=tool_call_id if env.run_id else None,
            database_url=env.database_url,
        )
    except (InvalidDashboardError, DashboardNotFoundError) as exc:
        return DashboardOutcome(ok=False, error=f"the dashboard was not changed: {exc.message}")
    return DashboardOutcome(ok=True, dashboard=dashboard)


# -- internals ---------------------------------------------------------------------------------------------------------
def _stored_metric(env: ToolEnv, tool_call_id: str) -> Metric | None:
    if not env.run_id:
        return None
    return metric_store.find_by_call(env.run_id, tool_call_id, database_url=env.database_url)


def _stored_dashboard(env: ToolEnv, tool_call_id: str) -> Dashboard | None:
    if not env.run_id:
        return None
    return dashboard_store.find_by_call(env.run_id, tool_call_id, database_url=env.database_url)


def _chart_on_columns(chart: ChartConfig, columns: list[str]) -> tuple[ChartConfig, str | None]:
    """The chart with its column names spelt as the result spells them (case-insensitive match), or the reason it
    names a column the result does not have. A number chart without y shows the first column."""
    by_lower = {c.lower(): c for c in columns}

    def spelt(name: str | None) -> str | None:
        if name is None:
            return None
        return name if name in columns else by_lower.get(name.lower())

    missing = [c for c in chart.columns() if spelt(c) is None]
    if missing:
        return chart, (
            f"the chart names {', '.join(repr(c) for c in missing)}, but the SQL returns the columns "
            f"{', '.join(columns) or '(none)'}"
        )
    fixed = chart.model_copy(update={"x": spelt(chart.x), "y": [spelt(c) for c in chart.y], "series": spelt(chart.series)})
    return fixed, None


def _empty_warning(result: SqlResult | None) -> str | None:
    if result is not None and result.ok and result.row_count == 0:
        return "the query returned no rows; check the filters, or say in the answer why there is no data"
    return None

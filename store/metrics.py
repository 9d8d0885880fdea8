"""Metrics the analyst agent (or a user) saved: a named SQL query with a chart, versioned.

    from store import metrics
    m = metrics.create_metric(name="Revenue by channel", description="...", sql="SELECT ...",
                              chart={"type": "bar", "x": "channel", "y": ["revenue"]},
                              data_source_id=source.id, run_id=ctx.run_id, tool_call_id="call_1")
    metrics.modify_metric(m.id, chart={"type": "pie", "x": "channel", "y": ["revenue"]}, run_id=..., tool_call_id=...)
    metrics.list_metrics(data_source_id=source.id)   # each metric at its latest version

Every modify adds a version (the old ones stay readable with `metric_versions`). Creating or modifying with a
`(run_id, tool_call_id)` already stored returns that row instead of writing another (see agent_tables.py). This
module checks the shape (names, lengths, chart fields); whether the SQL runs is the agent's tool's job, before it
calls here.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from store.agent_tables import agent_engine, check_tool_call, checked_text, insert_unless_present, metric_versions
from store.errors import StoreError

ID_PREFIX = "met_"
MAX_NAME = 200
MAX_DESCRIPTION = 4000
MAX_SQL = 100_000
MAX_TIME_FRAME = 200
#: how often a modify retries after another writer took the version number it computed
VERSION_RACE_RETRIES = 20

ChartType = Literal["bar", "line", "pie", "table", "number"]


class MetricNotFoundError(StoreError, LookupError):
    """No metric has this id (or this version)."""


class InvalidMetricError(StoreError, ValueError):
    """A metric's name, description, SQL, chart or time frame is malformed; the message names the field."""


class ChartConfig(BaseModel):
    """How the UI draws a metric's result: `x` is the category/time column, `y` the value column(s), `series` an
    optional column that splits values into several lines or bar groups. A `table` shows the rows as they are; a
    `number` shows one value (`y`, or the first column)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ChartType = "table"
    x: str | None = Field(None, max_length=200)
    y: list[str] = Field(default_factory=list, max_length=20)
    series: str | None = Field(None, max_length=200)

    @field_validator("y", mode="before")
    @classmethod
    def _one_y_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("x", "series", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _fields_fit_the_type(self) -> "ChartConfig":
        if self.type in ("bar", "line", "pie") and (not self.x or not self.y):
            raise ValueError(f"a {self.type} chart needs x (a column) and y (one or more columns)")
        if self.type == "pie" and (len(self.y) != 1 or self.series):
            raise ValueError("a pie chart takes exactly one y column and no series")
        if self.type == "number" and (len(self.y) > 1 or self.x or self.series):
            raise ValueError("a number chart shows one value: at most one y column, no x, no series")
        if any(not column.strip() for column in self.y):
            raise ValueError("y holds an empty column name")
        return self

    def columns(self) -> list[str]:
        """Every result column the chart draws from."""
        return [c for c in [self.x, *self.y, self.series] if c]


class Metric(BaseModel):
    """One version of a metric (listings show the latest)."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    name: str
    description: str
    sql: str
    chart: ChartConfig
    time_frame: str | None = None
    columns: list[str] | None = Field(None, description="the result's column names when the SQL was checked")
    data_source_id: str
    chat_id: str | None = None
    run_id: str | None = None
    tool_call_id: str | None = None
    created_at: datetime


def create_metric(
    *,
    name: str,
    description: str,
    sql: str,
    chart: ChartConfig | dict[str, Any] | None = None,
    time_frame: str | None = None,
    columns: list[str] | None = None,
    data_source_id: str,
    chat_id: str | None = None,
    run_id: str | None = None,
    tool_call_id: str | None = None,
    database_url: str | None = None,
) -> Metric:
    """Store a new metric at version 1; with a `(run_id, tool_call_id)` already stored, return that row instead.
    Raises InvalidMetricError naming a malformed field."""
    fields = _checked(name=name, description=description, sql=sql, chart=chart, time_frame=time_frame)
    engine = agent_engine(database_url)
    row = {
        "metric_id": f"{ID_PREFIX}{uuid.uuid4().hex[:20]}",
        "version": 1,
        **fields,
        "columns": list(columns) if columns is not None else None,
        "data_source_id": _required_text(data_source_id, "data_source_id", 200),
        "chat_id": chat_id,
        "run_id": run_id,
        "tool_call_id": tool_call_id,
        "created_at": time.time(),
    }
    _check_call(run_id, tool_call_id)
    with engine.begin() as conn:
        if run_id is not None and tool_call_id is not None:
            existing = _by_call(conn, run_id, tool_call_id)
            if existing is not None:
                return existing
        if insert_unless_present(conn, metric_versions, row) or run_id is None or tool_call_id is None:
            return _metric(row)
        existing = _by_call(conn, run_id, tool_call_id)  # a racing call with the same id wrote it first
    if existing is None:  # pragma: no cover - a fresh uuid cannot collide
        raise StoreError("the metric could not be stored")
    return existing


def modify_metric(
    metric_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    sql: str | None = None,
    chart: ChartConfig | dict[str, Any] | None = None,
    time_frame: str | None = None,
    columns: list[str] | None = None,
    run_id: str | None = None,
    tool_call_id: str | None = None,
    database_url: str | None = None,
) -> Metric:
    """Add the next version of a metric: the given fields replace the latest version's, the others stay. With a
    `(run_id, tool_call_id)` already stored, return that row instead. Raises MetricNotFoundError, InvalidMetricError."""
    _check_call(run_id, tool_call_id)
    engine = agent_engine(database_url)
    for _ in range(VERSION_RACE_RETRIES):
        with engine.begin() as conn:
            if run_id is not None and tool_call_id is not None:
                existing = _by_call(conn, run_id, tool_call_id)
                if existing is not None:
                    return existing
            latest = _latest(conn, metric_id)
            merged = {
                "name": latest.name if name is None else name,
                "description": latest.description if description is None else description,
                "sql": latest.sql if sql is None else sql,
                "chart": latest.chart if chart is None else chart,
                "time_frame": latest.time_frame if time_frame is None else time_frame,
            }
            row = {
                "metric_id": latest.id,
                "version": latest.version + 1,
                **_checked(**merged),
                "columns": list(columns) if columns is not None else (latest.columns if sql is None else None),
                "data_source_id": latest.data_source_id,
                "chat_id": latest.chat_id,
                "run_id": run_id,
                "tool_call_id": tool_call_id,
                "created_at": time.time(),
            }
            if insert_unless_present(conn, metric_versions, row):
                return _metric(row)
        # another writer took this version number (or wrote this very call): look again
    raise StoreError(f"metric {metric_id!r} is being modified by too many writers at once; try again")


def get_metric(metric_id: str, *, version: int | None = None, database_url: str | None = None) -> Metric:
    """The metric at its latest version, or at `version`; MetricNotFoundError when there is none."""
    with agent_engine(database_url).connect() as conn:
        if version is None:
            return _latest(conn, metric_id)
        row = conn.execute(
            sa.select(metric_versions).where(
                metric_versions.c.metric_id == metric_id, metric_versions.c.version == version
            )
        ).first()
    if row is None:
        raise MetricNotFoundError(f"metric {metric_id!r} has no version {version}")
    return _metric(dict(row._mapping))


def get_metrics(metric_ids: list[str], *, database_url: str | None = None) -> list[Metric]:
    """These metrics at their latest versions, in the order given; MetricNotFoundError naming every missing id."""
    found = {m.id: m for m in _latest_rows(metric_versions.c.metric_id.in_(list(dict.fromkeys(metric_ids))), database_url)}
    missing = [m for m in dict.fromkeys(metric_ids) if m not in found]
    if missing:
        raise MetricNotFoundError(f"no metric with id {', '.join(repr(m) for m in missing)}")
    return [found[m] for m in metric_ids]


def list_metrics(
    *,
    data_source_id: str | None = None,
    chat_id: str | None = None,
    run_id: str | None = None,
    limit: int = 100,
    database_url: str | None = None,
) -> list[Metric]:
    """Metrics at their latest versions, newest first, optionally of one source, chat or run (the run that created
    or last changed them)."""
    condition: sa.ColumnElement[bool] = sa.true()
    if data_source_id is not None:
        condition = sa.and_(condition, metric_versions.c.data_source_id == data_source_id)
    if chat_id is not None:
        condition = sa.and_(condition, metric_versions.c.chat_id == chat_id)
    if run_id is not None:
        condition = sa.and_(condition, metric_versions.c.run_id == run_id)
    return _latest_rows(condition, database_url, limit=limit)


def metric_versions_of(metric_id: str, *, database_url: str | None = None) -> list[Metric]:
    """Every version of a metric, oldest first; MetricNotFoundError when there is none."""
    with agent_engine(database_url).connect() as conn:
        rows = conn.execute(
            sa.select(metric_versions).where(metric_versions.c.metric_id == metric_id).order_by(metric_versions.c.version)
        ).all()
    if not rows:
        raise MetricNotFoundError(f"no metric with id {metric_id!r}")
    return [_metric(dict(r._mapping)) for r in rows]


def find_by_call(run_id: str, tool_call_id: str, *, database_url: str | None = None) -> Metric | None:
    """The metric version a run's tool call stored, if it did."""
    with agent_engine(database_url).connect() as conn:
        return _by_call(conn, run_id, tool_call_id)


# -- internals ---------------------------------------------------------------------------------------------------------
def _checked(
    *, name: str, description: str, sql: str, chart: ChartConfig | dict[str, Any] | None, time_frame: str | None
) -> dict[str, Any]:
    try:
        chart_model = chart if isinstance(chart, ChartConfig) else ChartConfig.model_validate(chart or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'chart'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise InvalidMetricError(f"invalid chart: {problems}") from None
    return {
        "name": _required_text(name, "name", MAX_NAME),
        "description": _text(description, "description", MAX_DESCRIPTION),
        "sql": _required_text(sql, "sql", MAX_SQL),
        "chart": chart_model.model_dump(mode="json"),
        "time_frame": _text(time_frame, "time_frame", MAX_TIME_FRAME) or None if time_frame is not None else None,
    }


def _required_text(value: Any, field: str, limit: int) -> str:
    return checked_text(value, field, limit, InvalidMetricError, required=True)


def _text(value: Any, field: str, limit: int) -> str:
    return checked_text(value, field, limit, InvalidMetricError)


def _check_call(run_id: str | None, tool_call_id: str | None) -> None:
    check_tool_call(run_id, tool_call_id, InvalidMetricError)


def _by_call(conn: sa.Connection, run_id: str, tool_call_id: str) -> Metric | None:
    row = conn.execute(
        sa.select(metric_versions).where(
            metric_versions.c.run_id == run_id, metric_versions.c.tool_call_id == tool_call_id
        )
    ).first()
    return _metric(dict(row._mapping)) if row is not None else None


def _latest(conn: sa.Connection, metric_id: str) -> Metric:
    row = conn.execute(
        sa.select(metric_versions)
        .where(metric_versions.c.metric_id == metric_id)
        .order_by(metric_versions.c.version.desc())
        .limit(1)
    ).first()
    if row is None:
        raise MetricNotFoundError(f"no metric with id {metric_id!r}")
    return _metric(dict(row._mapping))


def _latest_rows(condition: sa.ColumnElement[bool], database_url: str | None, *, limit: int | None = None) -> list[Metric]:
    t = metric_versions
    newest = (
        sa.select(t.c.metric_id, sa.func.max(t.c.version).label("version")).group_by(t.c.metric_id).subquery("newest")
    )
    query = (
        sa.select(t)
        .join(newest, sa.and_(t.c.metric_id == newest.c.metric_id, t.c.version == newest.c.version))
        .where(condition)
        .order_by(t.c.created_at.desc(), t.c.metric_id)
    )
    if limit is not None:
        query = query.limit(limit)
    with agent_engine(database_url).connect() as conn:
        return [_metric(dict(r._mapping)) for r in conn.execute(query).all()]


def _metric(row: dict[str, Any]) -> Metric:
    return Metric(
        id=row["metric_id"],
        version=row["version"],
        name=row["name"],
        description=row["description"],
        sql=row["sql"],
        chart=ChartConfig.model_validate(row["chart"]),
        time_frame=row["time_frame"],
        columns=row["columns"],
        data_source_id=row["data_source_id"],
        chat_id=row["chat_id"],
        run_id=row["run_id"],
        tool_call_id=row["tool_call_id"],
        created_at=datetime.fromtimestamp(row["created_at"], timezone.utc),
    )

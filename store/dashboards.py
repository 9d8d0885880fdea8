"""Dashboards: a named set of metrics laid out in rows, versioned like metrics.

    from store import dashboards
    d = dashboards.create_dashboard(name="Marketing", description="...", metric_ids=[m1.id, m2.id],
                                    layout=[[{"metric_id": m1.id, "width": 8}, {"metric_id": m2.id, "width": 4}]],
                                    data_source_id=source.id, run_id=ctx.run_id, tool_call_id="call_4")
    dashboards.modify_dashboard(d.id, metric_ids=[m2.id], run_id=..., tool_call_id=...)

The layout is a list of rows on a 12-column grid; each item places one metric with a width. Without a layout every
metric gets a row of its own at full width (what a dashboard shows before anyone arranges it). Every metric id must
exist and belong to the dashboard's data source; every metric appears in the layout exactly once. Idempotent per
`(run_id, tool_call_id)` (see agent_tables.py).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from store.agent_tables import agent_engine, check_tool_call, checked_text, dashboard_versions, insert_unless_present
from store.errors import StoreError
from store.metrics import MetricNotFoundError, get_metrics

ID_PREFIX = "dash_"
GRID_COLUMNS = 12
MAX_METRICS = 50
MAX_NAME = 200
MAX_DESCRIPTION = 4000
VERSION_RACE_RETRIES = 20


class DashboardNotFoundError(StoreError, LookupError):
    """No dashboard has this id (or this version)."""


class InvalidDashboardError(StoreError, ValueError):
    """A dashboard's name, metrics or layout is malformed, or names a metric that does not exist."""


class LayoutItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    metric_id: str = Field(min_length=1, max_length=64)
    width: int = Field(GRID_COLUMNS, ge=1, le=GRID_COLUMNS, description="columns of the 12-column grid")


Layout = list[list[LayoutItem]]
_layout_adapter: TypeAdapter[Layout] = TypeAdapter(Layout)


class Dashboard(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    name: str
    description: str
    metric_ids: list[str]
    layout: Layout
    data_source_id: str
    chat_id: str | None = None
    run_id: str | None = None
    tool_call_id: str | None = None
    created_at: datetime


def create_dashboard(
    *,
    name: str,
    description: str = "",
    metric_ids: list[str],
    layout: Layout | list[list[dict[str, Any]]] | None = None,
    data_source_id: str,
    chat_id: str | None = None,
    run_id: str | None = None,
    tool_call_id: str | None = None,
    database_url: str | None = None,
) -> Dashboard:
    """Store a new dashboard at version 1 (or return the row this `(run_id, tool_call_id)` stored already).
    Raises InvalidDashboardError naming what is wrong."""
    _check_call(run_id, tool_call_id)
    engine = agent_engine(database_url)
    if run_id is not None and tool_call_id is not None:
        with engine.connect() as conn:
            existing = _by_call(conn, run_id, tool_call_id)
        if existing is not None:
            return existing
    ids, rows = _checked_metrics(metric_ids, layout, data_source_id, database_url)
    row = {
        "dashboard_id": f"{ID_PREFIX}{uuid.uuid4().hex[:20]}",
        "version": 1,
        "name": _text(name, "name", MAX_NAME, required=True),
        "description": _text(description, "description", MAX_DESCRIPTION),
        "metric_ids": ids,
        "layout": rows,
        "data_source_id": data_source_id,
        "chat_id": chat_id,
        "run_id": run_id,
        "tool_call_id": tool_call_id,
        "created_at": time.time(),
    }
    with engine.begin() as conn:
        if insert_unless_present(conn, dashboard_versions, row) or run_id is None or tool_call_id is None:
            return _dashboard(row)
        existing = _by_call(conn, run_id, tool_call_id)
    if existing is None:  # pragma: no cover - a fresh uuid cannot collide
        raise StoreError("the dashboard could not be stored")
    return existing


def modify_dashboard(
    dashboard_id: str,
    *,
    name: str | None = None,
    description: str | None = None,
    metric_ids: list[str] | None = None,
    layout: Layout | list[list[dict[str, Any]]] | None = None,
    run_id: str | None = None,
    tool_call_id: str | None = None,
    database_url: str | None = None,
) -> Dashboard:
    """Add the next version: given fields replace the latest version's. New `metric_ids` without a layout keep the
    old layout's items for metrics still there and add the new metrics as full-width rows."""
    _check_call(run_id, tool_call_id)
    engine = agent_engine(database_url)
    for _ in range(VERSION_RACE_RETRIES):
        with engine.connect() as conn:
            if run_id is not None and tool_call_id is not None:
                existing = _by_call(conn, run_id, tool_call_id)
                if existing is not None:
                    return existing
            latest = _latest(conn, dashboard_id)
        new_ids = latest.metric_ids if metric_ids is None else metric_ids
        new_layout: Any = layout
        if layout is None:
            new_layout = _kept_layout(latest.layout, new_ids)
        ids, rows = _checked_metrics(new_ids, new_layout, latest.data_source_id, database_url)
        row = {
            "dashboard_id": latest.id,
            "version": latest.version + 1,
            "name": _text(latest.name if name is None else name, "name", MAX_NAME, required=True),
            "description": _text(latest.description if description is None else description, "description", MAX_DESCRIPTION),
            "metric_ids": ids,
            "layout": rows,
            "data_source_id": latest.data_source_id,
            "chat_id": latest.chat_id,
            "run_id": run_id,
            "tool_call_id": tool_call_id,
            "created_at": time.time(),
        }
        with engine.begin() as conn:
            if insert_unless_present(conn, dashboard_versions, row):
                return _dashboard(row)
    raise StoreError(f"dashboard {dashboard_id!r} is being modified by too many writers at once; try again")


def get_dashboard(dashboard_id: str, *, version: int | None = None, database_url: str | None = None) -> Dashboard:
    with agent_engine(database_url).connect() as conn:
        if version is None:
            return _latest(conn, dashboard_id)
        row = conn.execute(
            sa.select(dashboard_versions).where(
                dashboard_versions.c.dashboard_id == dashboard_id, dashboard_versions.c.version == version
            )
        ).first()
    if row is None:
        raise DashboardNotFoundError(f"dashboard {dashboard_id!r} has no version {version}")
    return _dashboard(dict(row._mapping))


def dashboard_versions_of(dashboard_id: str, *, database_url: str | None = None) -> list[Dashboard]:
    with agent_engine(database_url).connect() as conn:
        rows = conn.execute(
            sa.select(dashboard_versions)
            .where(dashboard_versions.c.dashboard_id == dashboard_id)
            .order_by(dashboard_versions.c.version)
        ).all()
    if not rows:
        raise DashboardNotFoundError(f"no dashboard with id {dashboard_id!r}")
    return [_dashboard(dict(r._mapping)) for r in rows]


def list_dashboards(
    *,
    data_source_id: str | None = None,
    chat_id: str | None = None,
    limit: int = 100,
    database_url: str | None = None,
) -> list[Dashboard]:
    """Dashboards at their latest versions, newest first."""
    t = dashboard_versions
    newest = sa.select(t.c.dashboard_id, sa.func.max(t.c.version).label("version")).group_by(t.c.dashboard_id).subquery()
    query = sa.select(t).join(newest, sa.and_(t.c.dashboard_id == newest.c.dashboard_id, t.c.version == newest.c.version))
    if data_source_id is not None:
        query = query.where(t.c.data_source_id == data_source_id)
    if chat_id is not None:
        query = query.where(t.c.chat_id == chat_id)
    query = query.order_by(t.c.created_at.desc(), t.c.dashboard_id).limit(limit)
    with agent_engine(database_url).connect() as conn:
        return [_dashboard(dict(r._mapping)) for r in conn.execute(query).all()]


def find_by_call(run_id: str, tool_call_id: str, *, database_url: str | None = None) -> Dashboard | None:
    """The dashboard version a run's tool call stored, if it did."""
    with agent_engine(database_url).connect() as conn:
        return _by_call(conn, run_id, tool_call_id)


# -- internals ---------------------------------------------------------------------------------------------------------
def default_layout(metric_ids: list[str]) -> Layout:
    """One full-width row per metric."""
    return [[LayoutItem(metric_id=m)] for m in metric_ids]


def _kept_layout(layout: Layout, metric_ids: list[str]) -> Layout:
    wanted = set(metric_ids)
    kept = [[item for item in row if item.metric_id in wanted] for row in layout]
    rows = [row for row in kept if row]
    placed = {item.metric_id for row in rows for item in row}
    return rows + default_layout([m for m in metric_ids if m not in placed])


def _checked_metrics(
    metric_ids: Any, layout: Any, data_source_id: str, database_url: str | None
) -> tuple[list[str], list[list[dict[str, Any]]]]:
    if not isinstance(metric_ids, list) or not all(isinstance(m, str) for m in metric_ids):
        raise InvalidDashboardError("metric_ids must be a list of metric ids")
    if not metric_ids:
        raise InvalidDashboardError("a dashboard needs at least one metric")
    if len(metric_ids) > MAX_METRICS:
        raise InvalidDashboardError(f"a dashboard holds at most {MAX_METRICS} metrics, got {len(metric_ids)}")
    duplicates = sorted({m for m in metric_ids if metric_ids.count(m) > 1})
    if duplicates:
        raise InvalidDashboardError(f"metric_ids lists {', '.join(duplicates)} more than once")
    try:
        found = get_metrics(metric_ids, database_url=database_url)
    except MetricNotFoundError as exc:
        raise InvalidDashboardError(exc.message) from None
    foreign = [m.id for m in found if m.data_source_id != data_source_id]
    if foreign:
        raise InvalidDashboardError(f"metric {', '.join(foreign)} belongs to another data source")
    if layout is None or layout == []:
        rows = default_layout(metric_ids)
    else:
        try:
            rows = _layout_adapter.validate_python(layout)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise InvalidDashboardError(f"invalid layout: {problems}") from None
    placed = [item.metric_id for row in rows for item in row]
    for number, row in enumerate(rows, 1):
        if not row:
            raise InvalidDashboardError(f"layout row {number} is empty")
        width = sum(item.width for item in row)
        if width > GRID_COLUMNS:
            raise InvalidDashboardError(f"layout row {number} is {width} columns wide; the grid has {GRID_COLUMNS}")
    unknown = [m for m in placed if m not in metric_ids]
    if unknown:
        raise InvalidDashboardError(f"the layout places {', '.join(unknown)}, which is not in metric_ids")
    twice = sorted({m for m in placed if placed.count(m) > 1})
    if twice:
        raise InvalidDashboardError(f"the layout places {', '.join(twice)} more than once")
    missing = [m for m in metric_ids if m not in placed]
    if missing:
        raise InvalidDashboardError(f"the layout leaves out {', '.join(missing)}")
    return list(metric_ids), [[item.model_dump() for item in row] for row in rows]


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    return checked_text(value, field, limit, InvalidDashboardError, required=required)


def _check_call(run_id: str | None, tool_call_id: str | None) -> None:
    check_tool_call(run_id, tool_call_id, InvalidDashboardError)


def _by_call(conn: sa.Connection, run_id: str, tool_call_id: str) -> Dashboard | None:
    row = conn.execute(
        sa.select(dashboard_versions).where(
            dashboard_versions.c.run_id == run_id, dashboard_versions.c.tool_call_id == tool_call_id
        )
    ).first()
    return _dashboard(dict(row._mapping)) if row is not None else None


def _latest(conn: sa.Connection, dashboard_id: str) -> Dashboard:
    row = conn.execute(
        sa.select(dashboard_versions)
        .where(dashboard_versions.c.dashboard_id == dashboard_id)
        .order_by(dashboard_versions.c.version.desc())
        .limit(1)
    ).first()
    if row is None:
        raise DashboardNotFoundError(f"no dashboard with id {dashboard_id!r}")
    return _dashboard(dict(row._mapping))


def _dashboard(row: dict[str, Any]) -> Dashboard:
    return Dashboard(
        id=row["dashboard_id"],
        version=row["version"],
        name=row["name"],
        description=row["description"],
        metric_ids=list(row["metric_ids"]),
        layout=_layout_adapter.validate_python(row["layout"]),
        data_source_id=row["data_source_id"],
        chat_id=row["chat_id"],
        run_id=row["run_id"],
        tool_call_id=row["tool_call_id"],
        created_at=datetime.fromtimestamp(row["created_at"], timezone.utc),
    )

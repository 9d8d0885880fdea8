"""The arguments of each tool, as pydantic models: what a tool call's JSON is validated against.

A model that sends bad arguments gets the validation error back as the tool's result (`run_tool`), naming the field,
so it can correct the call; nothing is raised for it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from store.dashboards import LayoutItem
from store.metrics import ChartConfig


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ExecuteSqlArgs(_Args):
    """Run one read-only SELECT on the warehouse and see its rows, or the error."""

    sql: str = Field(min_length=1, max_length=100_000, description="one SELECT statement in the source's dialect")


class CreateMetricArgs(_Args):
    """Save a query as a metric with a chart. The SQL runs first; a failing one is not saved."""

    name: str = Field(min_length=1, max_length=200, description="short title, e.g. 'Revenue by channel, 2025 Q3'")
    description: str = Field("", max_length=4000, description="one sentence: what the numbers are")
    sql: str = Field(min_length=1, max_length=100_000)
    chart: ChartConfig = Field(default_factory=ChartConfig)
    time_frame: str | None = Field(None, max_length=200, description="e.g. '2025-07-01 to 2025-09-30'")


class ModifyMetricArgs(_Args):
    """Change a metric (adds a version): only the fields given change."""

    metric_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    sql: str | None = Field(None, min_length=1, max_length=100_000)
    chart: ChartConfig | None = None
    time_frame: str | None = Field(None, max_length=200)


class CreateDashboardArgs(_Args):
    """Put metrics on one dashboard; without a layout each metric gets a full-width row."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    metric_ids: list[str] = Field(min_length=1, max_length=50)
    layout: list[list[LayoutItem]] | None = Field(None, description="rows of {metric_id, width} on a 12-column grid")


class ModifyDashboardArgs(_Args):
    dashboard_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    metric_ids: list[str] | None = Field(None, min_length=1, max_length=50)
    layout: list[list[LayoutItem]] | None = None


class AskClarifyingQuestionArgs(_Args):
    """Ask the user one question when the data cannot answer as asked (ambiguous term, missing period)."""

    question: str = Field(min_length=1, max_length=1000)
    options: list[str] = Field(default_factory=list, max_length=10, description="suggested answers, if any")


class DoneArgs(_Args):
    """Finish with the answer to the user's question, stating the numbers the queries returned."""

    answer: str = Field(min_length=1, max_length=20_000)


TOOL_ARGS: dict[str, type[_Args]] = {
    "execute_sql": ExecuteSqlArgs,
    "create_metric": CreateMetricArgs,
    "modify_metric": ModifyMetricArgs,
    "create_dashboard": CreateDashboardArgs,
    "modify_dashboard": ModifyDashboardArgs,
    "ask_clarifying_question": AskClarifyingQuestionArgs,
    "done": DoneArgs,
}


def tool_definitions(names: list[str] | None = None) -> list[dict[str, Any]]:
    """The OpenAI `tools` list for these tools (all by default), strict JSON-schema functions."""
    import openai

    chosen = names if names is not None else list(TOOL_ARGS)
    return [openai.pydantic_function_tool(TOOL_ARGS[n], name=n, description=TOOL_ARGS[n].__doc__) for n in chosen]

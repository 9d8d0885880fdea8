"""What the analyzing loop lets the model do, as pydantic models: one action per turn.

Two ways to ask for an action, one set of models:
- **structured** (`AgentTurn`, the response_format): the model answers one JSON object whose `action` is a
  `Literal` discriminator, compiled into a grammar by llama-cpp-python, so even the 1.5B model always writes a
  well-formed action. Measured on the offline model: tool_choice auto/required gave 0/3 tool calls, a Literal action
  object 3/3 (tasks/analyst_agent/llm/README.md).
- **tools**: the endpoint's own tool calling with the tools' own argument models (`tools.tool_definitions()`), for
  remote endpoints that do it well.
Either way the action ends up as (tool name, arguments) for `tools.run_tool`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


ChartType = Literal["bar", "line", "pie", "table", "number"]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def arguments(self) -> dict[str, Any]:
        """The action's fields without the discriminator: what gets recorded as the tool call's arguments."""
        return self.model_dump(exclude={"action"})


class ExecuteSql(_Action):
    """Run one read-only SELECT on the warehouse and see its rows (or the error)."""

    action: Literal["execute_sql"] = "execute_sql"
    sql: str = Field(description="one SELECT statement")


class CreateMetric(_Action):
    """Save a query as a metric with a chart. The SQL runs first; a failing one is not saved."""

    action: Literal["create_metric"] = "create_metric"
    name: str = Field(description="short title, e.g. 'Revenue by channel, 2025 Q2'")
    description: str = Field(description="one sentence: what the numbers are")
    sql: str | None = Field(description="the metric's SELECT; null: the last query that returned rows")
    chart_type: ChartType
    x: str | None = Field(description="result column on the x axis (bar/line), the label column (pie)")
    y: list[str] = Field(description="result column(s) with the values")
    time_frame: str | None = Field(description="e.g. '2025-04-01 to 2025-06-30'; null when none")


class ModifyMetric(_Action):
    """Change a metric this run created (adds a version): a new SQL, name, description or chart."""

    action: Literal["modify_metric"] = "modify_metric"
    metric_id: str
    name: str | None
    description: str | None
    sql: str | None
    chart_type: ChartType | None
    x: str | None
    y: list[str] | None
    time_frame: str | None


class CreateDashboard(_Action):
    """Put several metrics on one dashboard."""

    action: Literal["create_dashboard"] = "create_dashboard"
    name: str
    description: str
    metric_ids: list[str]


class ModifyDashboard(_Action):
    action: Literal["modify_dashboard"] = "modify_dashboard"
    dashboard_id: str
    name: str | None
    description: str | None
    metric_ids: list[str] | None


class AskClarifyingQuestion(_Action):
    """The question cannot be answered without the user saying more (which of two meanings, which period)."""

    action: Literal["ask_clarifying_question"] = "ask_clarifying_question"
    question: str


class Done(_Action):
    """The final answer, stating the numbers the queries returned."""

    action: Literal["done"] = "done"
    answer: str


Action = Annotated[
    Union[ExecuteSql, CreateMetric, ModifyMetric, CreateDashboard, ModifyDashboard, AskClarifyingQuestion, Done],
    Field(discriminator="action"),
]
ACTION_CLASSES: dict[str, type[_Action]] = {
    cls.model_fields["action"].default: cls
    for cls in (ExecuteSql, CreateMetric, ModifyMetric, CreateDashboard, ModifyDashboard, AskClarifyingQuestion, Done)
}
ACTION_NAMES = tuple(ACTION_CLASSES)


class AgentTurn(BaseModel):
    """The structured-output reply of one analyzing turn: exactly one action."""

    model_config = ConfigDict(extra="forbid")

    step: Action


class FinalAnswer(BaseModel):
    """The structured reply when the loop must stop (the step limit): the answer and nothing else."""

    model_config = ConfigDict(extra="forbid")

    step: Done


def tool_arguments(action: _Action, last_good_sql: str | None) -> dict[str, Any]:
    """The structured action as the arguments of the tool of the same name (tools/args.py): the flat chart fields
    folded into a `chart` object, a metric without SQL given the last query that returned rows."""
    data = action.arguments()
    if isinstance(action, (CreateMetric, ModifyMetric)):
        chart_type, x, y = data.pop("chart_type"), data.pop("x"), data.pop("y")
        if chart_type is not None:
            chart: dict[str, Any] = {"type": chart_type, "y": list(y or [])}
            if chart_type not in ("number", "table") and x:
                chart["x"] = x
            data["chart"] = chart
        if isinstance(action, CreateMetric) and not data.get("sql"):
            data["sql"] = last_good_sql or ""
    if isinstance(action, (ModifyMetric, ModifyDashboard)):
        data = {k: v for k, v in data.items() if v is not None}
    elif isinstance(action, CreateMetric) and data.get("time_frame") is None:
        data.pop("time_frame", None)
    return data

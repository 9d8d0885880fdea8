"""What `analyst-agent` takes and returns.

The input is validated when the run is triggered (`schema_task`): a question that is empty or too long, an unknown
option, a `max_steps` of 0 are refused with an error naming the field, before any model or warehouse is touched.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: the states a run goes through, in order (`metadata["state"]`); `completed` / `failed` end it
STATES = ("initializing", "searching", "planning", "analyzing", "reviewing")
FINAL_STATES = ("completed", "failed")

ToolMode = Literal["auto", "structured", "tools"]


class AgentOptions(BaseModel):
    """Knobs of one run. Defaults suit the offline 1.5B model; a remote endpoint may take more steps and rows."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        None, max_length=200, description="model name on the endpoint; None: TASKPACK_MODEL or the endpoint's default"
    )
    max_rows: int = Field(100, ge=1, le=5_000, description="rows one query may return to the agent (pushed to the source)")
    max_steps: int = Field(8, ge=1, le=50, description="actions the analyzing loop may take before it must answer")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    sql_timeout: float = Field(60.0, gt=0, le=3_600, description="seconds one warehouse query may take")
    max_sql_repairs: int = Field(
        2, ge=0, le=10, description="rounds a failing query goes back to the model with the error, per query"
    )
    tool_mode: ToolMode = Field(
        "auto",
        description="how the analyzing loop asks for actions: `structured` (one JSON action object per turn, "
        "schema-constrained: what small local models get right), `tools` (the endpoint's tool calling), `auto` "
        "(structured for the offline model, tools for a remote endpoint)",
    )
    today: date | None = Field(
        None,
        description="the date relative periods ('last quarter') count from; None: today, or the day after the data "
        "ends when the data stops before today (a demo or a stale copy)",
    )
    max_seconds_per_model_call: float = Field(300.0, gt=0, le=3_600)


class ChatTurn(BaseModel):
    """One earlier question and what the agent answered (or asked back)."""

    model_config = ConfigDict(extra="ignore")

    question: str = Field(max_length=4_000)
    answer: str | None = Field(None, max_length=20_000)
    clarifying_question: str | None = Field(None, max_length=4_000)
    sql: str | None = Field(None, max_length=20_000)


class AnalystInput(BaseModel):
    """One question about one data source, in a chat."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    question: str = Field(min_length=1, max_length=4_000)
    data_source_id: str = Field(min_length=1, max_length=200, description="a registered source's id (`src_...`)")
    chat_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        description="the conversation; also the run's concurrency key (one run per chat at a time)",
    )
    history: list[ChatTurn] | None = Field(
        None, max_length=50, description="previous turns; None: loaded from the store by chat_id"
    )
    instructions: str | None = Field(
        None, max_length=8_000, description="the organisation's instructions for this run (added to the stored ones)"
    )
    options: AgentOptions = Field(default_factory=AgentOptions)

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is blank")
        return value.strip()


# -- what the states produce ----------------------------------------------------------------------------------------
class StateRecord(BaseModel):
    """One entry of the timeline (`metadata["states"]`)."""

    name: str
    started_at: str
    finished_at: str | None = None
    summary: str | None = None


class TodoItem(BaseModel):
    text: str
    done: bool = False


class SqlQueryRecord(BaseModel):
    """A query the agent ran on the warehouse, with what came back (or the error the model was shown)."""

    sql: str
    ok: bool
    row_count: int = 0
    columns: list[str] = Field(default_factory=list)
    truncated: bool = False
    error: str | None = None
    purpose: str = Field("explore", description="main (the verified answer query), explore, metric, review")
    seconds: float | None = None


class ChartConfig(BaseModel):
    type: Literal["bar", "line", "pie", "table", "number"] = "table"
    x: str | None = None
    y: list[str] = Field(default_factory=list)
    series: str | None = None


class MetricResult(BaseModel):
    id: str
    version: int = 1
    name: str
    description: str = ""
    sql: str
    chart: ChartConfig = Field(default_factory=ChartConfig)
    time_frame: str | None = None
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list, description="a preview (at most 20 rows)")
    row_count: int = 0


class DashboardResult(BaseModel):
    id: str
    version: int = 1
    name: str
    description: str = ""
    metric_ids: list[str] = Field(default_factory=list)


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_calls: int = 0
    seconds_in_model: float = 0.0


class AnalystResult(BaseModel):
    """The run's output: the answer and everything it rests on."""

    answer: str
    metrics: list[MetricResult] = Field(default_factory=list)
    dashboards: list[DashboardResult] = Field(default_factory=list)
    sql_queries: list[SqlQueryRecord] = Field(default_factory=list)
    states: list[StateRecord] = Field(default_factory=list)
    clarifying_question: str | None = None
    usage: Usage = Field(default_factory=Usage)
    chat_id: str | None = None
    review: dict[str, Any] = Field(default_factory=dict, description="what reviewing found and whether it repaired")
    tables: list[str] = Field(default_factory=list, description="the tables searching chose")

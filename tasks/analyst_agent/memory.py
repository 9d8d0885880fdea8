"""What one run knows, carried from state to state: every durable step takes it and returns the next one.

A step's result is recorded by the runtime, so after a crash a finished state hands its recorded memory to the next
state instead of running again; the memory is therefore everything later states need that cannot be cheaply rebuilt
(the chosen tables, the schema text, the conversation, what was stored), and nothing that cannot be pickled (the
connector, the catalog index, the model client are rebuilt per attempt).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from tasks.analyst_agent.interfaces import (
    ChatTurn,
    DashboardResult,
    MetricResult,
    SqlQueryRecord,
    StateRecord,
    TodoItem,
    Usage,
)
from tasks.analyst_agent.llm.usage import ModelUsage

#: characters of a SQL statement or argument kept in the tool-call log (metadata is capped at 256 KB)
MAX_LOGGED_CHARS = 2_000


class ToolCallRecord(BaseModel):
    """One action the analyzing loop took, as the UI lists it (`metadata["tool_calls"]`)."""

    id: str
    name: str
    arguments: dict[str, Any]
    ok: bool
    summary: str
    seconds: float = 0.0
    round: str = "analyzing"


class ChosenTable(BaseModel):
    name: str = Field(description="as the model writes it")
    qualified: str
    score: float
    reasons: list[str] = Field(default_factory=list)


class RunMemory(BaseModel):
    run_id: str
    question: str
    data_source_id: str
    chat_id: str | None = None
    source_name: str = ""
    source_type: str = ""
    dialect: str = ""
    snapshot_id: str | None = None
    history: list[ChatTurn] = Field(default_factory=list)
    instructions: str = ""
    tables: list[ChosenTable] = Field(default_factory=list)
    schema_text: str = ""
    value_hints: list[str] = Field(default_factory=list)
    dates: dict[str, Any] = Field(default_factory=dict)
    date_text: str = ""
    plan: list[TodoItem] = Field(default_factory=list)
    main_sql: str | None = None
    main_columns: list[str] = Field(default_factory=list)
    main_rows: list[list[Any]] = Field(default_factory=list)
    main_error: str | None = None
    conversation: list[dict[str, Any]] = Field(default_factory=list, description="analyzing turns after the prompt")
    steps_taken: int = 0
    step_limit_reached: bool = False
    failing_sql_streak: int = 0
    last_good_sql: str | None = None
    last_good_columns: list[str] = Field(default_factory=list)
    queries: list[SqlQueryRecord] = Field(default_factory=list)
    results: list[dict[str, Any]] = Field(default_factory=list, description="columns+rows of good queries (review)")
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    metrics: list[MetricResult] = Field(default_factory=list)
    dashboards: list[DashboardResult] = Field(default_factory=list)
    answer: str | None = None
    clarifying_question: str | None = None
    review: dict[str, Any] = Field(default_factory=dict)
    repaired: bool = False
    states: list[StateRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)

    # -- the timeline ----------------------------------------------------------------------------------------------
    def enter(self, state: str) -> "RunMemory":
        now = _now()
        if self.states and self.states[-1].finished_at is None:
            self.states[-1].finished_at = now
        self.states.append(StateRecord(name=state, started_at=now))
        return self

    def finish(self, summary: str) -> "RunMemory":
        if self.states and self.states[-1].finished_at is None:
            self.states[-1].finished_at = _now()
            self.states[-1].summary = summary
        return self

    @property
    def state(self) -> str:
        return self.states[-1].name if self.states else "queued"

    def add_usage(self, usage: ModelUsage) -> None:
        got = usage.snapshot()
        self.usage = Usage(
            prompt_tokens=self.usage.prompt_tokens + int(got["prompt_tokens"]),
            completion_tokens=self.usage.completion_tokens + int(got["completion_tokens"]),
            model_calls=self.usage.model_calls + int(got["model_calls"]),
            seconds_in_model=round(self.usage.seconds_in_model + float(got["seconds_in_model"]), 3),
        )

    def metric(self, metric_id: str) -> MetricResult | None:
        return next((m for m in self.metrics if m.id == metric_id), None)

    def put_metric(self, metric: MetricResult) -> None:
        self.metrics = [m for m in self.metrics if m.id != metric.id] + [metric]

    def put_dashboard(self, dashboard: DashboardResult) -> None:
        self.dashboards = [d for d in self.dashboards if d.id != dashboard.id] + [dashboard]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def clipped(text: str | None, limit: int = MAX_LOGGED_CHARS) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def live(key: str, value: Any) -> None:
    """`metadata.set` for the UI; a no-op outside a run (a state called directly by a test or a bench)."""
    from runtime import OutsideRunError, metadata

    try:
        metadata.set(key, value)
    except OutsideRunError:
        pass

"""What the SQL writer takes and gives back: `SqlContext` in, `SqlOutcome` out, `ExecResult` from the caller's executor.

The writer never opens a connection itself: the caller passes `execute(sql) -> ExecResult` (the agent: engineer T's
guarded `execute_sql`; the eval: a read-only SQLite executor), so the same function is what the agent runs and what
the benchmark measures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Sequence

from pydantic import BaseModel, Field

from tasks.analyst_agent.llm.usage import ModelUsage


@dataclass(frozen=True)
class Example:
    """A verified question -> SQL pair (from the example store), shown to the model as a worked example."""

    question: str
    sql: str
    source: str = ""  # the data source (or Spider database) the pair was verified on


@dataclass(frozen=True)
class ExecResult:
    """What executing one query gave: rows (a preview, `truncated` when cut), or the error text shown to the model.

    `error` is the warehouse's (or the guard's) message verbatim: the model fixes its SQL from it."""

    columns: Sequence[str] = ()
    rows: Sequence[Sequence[Any]] = ()
    row_count: int = 0
    truncated: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def empty(self) -> bool:
        return self.error is None and self.row_count == 0


Executor = Callable[[str], ExecResult]


@dataclass(frozen=True)
class SqlContext:
    """Everything one question's SQL is written from. Build it with `build_context` (search hits -> pruned schema).

    `schema_text` is `render_schema(...)` output (the compact pruned schema the model sees); `tables` (table as the
    model writes it -> its columns) and `values` (stored values of low-cardinality text columns) let the writer compute
    repair hints ("column X is in table Y", "'Europe' is stored as 'europe'") without another round trip."""

    question: str
    dialect: str
    schema_text: str
    examples: Sequence[Example] = ()
    history: Sequence[str] = ()
    max_rows: int = 100
    tables: Mapping[str, Sequence[str]] = field(default_factory=dict)
    values: Mapping[tuple[str, str], Sequence[str]] = field(default_factory=dict)  # (table, column) -> stored values
    value_hints: Sequence[str] = ()  # question literals linked to stored values, one line each


AttemptKind = Literal["first", "repair", "redraw", "fix", "vote"]  # fix: a mechanical rewrite, no model call


@dataclass(frozen=True)
class Attempt:
    """One SQL the model wrote (or a mechanical fix of it) and what executing it gave."""

    kind: AttemptKind
    sql: str
    error: str | None
    row_count: int
    hints: tuple[str, ...] = ()


@dataclass
class SqlOutcome:
    """The SQL chosen for a question, its result preview, and how it was reached.

    `sql` is None only when the model never produced a query that executed (then `error` says the last failure).
    `usage` counts this call's model work only (tokens, calls, seconds in the model)."""

    sql: str | None
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    row_count: int = 0
    error: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    candidates: list[Attempt] = field(default_factory=list)  # the voting round's samples, when one ran
    voted: bool = False
    usage: ModelUsage = field(default_factory=ModelUsage)

    @property
    def model_calls(self) -> int:
        return self.usage.model_calls

    @property
    def ok(self) -> bool:
        return self.sql is not None and self.error is None


class SqlAnswer(BaseModel):
    """The structured answer asked of the model: one query, nothing else (no reasoning: it hurts models this small)."""

    sql: str = Field(description="one SELECT statement answering the question")


class SqlGenError(ValueError):
    """Input the SQL writer cannot work from (an empty question, an unknown table in `build_context`)."""

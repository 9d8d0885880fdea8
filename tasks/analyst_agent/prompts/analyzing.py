"""analyzing: the action loop's opening and the texts that report an action's outcome back to the model."""

from __future__ import annotations

import json
from typing import Any, Sequence

from tasks.analyst_agent.memory import RunMemory
from tasks.analyst_agent.prompts.context import data_context, question_text

#: rows of a result the model sees (the rest is counted, not shown: prompt tokens are the cost)
SHOWN_ROWS = 20
MAX_CELL_CHARS = 60

STRUCTURED_RULES = """You are a data analyst answering with numbers you queried. Each turn reply with ONE JSON object {"step": {...}} holding one action:
- {"action": "execute_sql", "sql": "SELECT ..."}: run a read-only query; you see its rows or its error.
- {"action": "create_metric", "name", "description", "sql", "chart_type", "x", "y", "time_frame"}: save a query (sql null = the last one that returned rows) as a chart (bar, line, pie, table, number).
- {"action": "modify_metric", "metric_id", ...}: change a metric you created (null = keep).
- {"action": "create_dashboard", "name", "description", "metric_ids"} / {"action": "modify_dashboard", ...}.
- {"action": "ask_clarifying_question", "question"}: only when the question cannot be answered as asked.
- {"action": "done", "answer"}: the final answer in one to three sentences, with the numbers from the results.
Save the query that answers the question as a metric, then answer with done."""

TOOL_RULES = """You are a data analyst answering with numbers you queried. Use the tools: execute_sql to query (you see rows or the error), create_metric to save the query that answers the question as a chart, create_dashboard for several metrics, ask_clarifying_question only when the question cannot be answered as asked, and done with the final answer (one to three sentences, the numbers from the results)."""


def analyzing_messages(memory: RunMemory, *, structured: bool) -> list[dict[str, Any]]:
    """The fixed opening of the loop; the turns so far (`memory.conversation`) follow it."""
    rules = STRUCTURED_RULES if structured else TOOL_RULES
    opening = question_text(memory)
    if memory.plan:
        opening += "\nPlan:\n" + "\n".join(f"- {item.text}" for item in memory.plan)
    if memory.main_sql:
        opening += (
            f"\n\nThis query answers the question (checked on the database):\n{memory.main_sql}\n"
            f"{result_text(memory.main_columns, memory.main_rows, len(memory.main_rows))}"
        )
    elif memory.main_error:
        opening += f"\n\nA first query failed: {memory.main_error}\nWrite a query with execute_sql."
    return [
        {"role": "system", "content": f"{data_context(memory)}\n\n{rules}"},
        {"role": "user", "content": opening},
    ]


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def result_text(columns: Sequence[str], rows: Sequence[Sequence[Any]], row_count: int, truncated: bool = False) -> str:
    """A result as a small pipe table: what the model reads and what reviewing compares numbers against."""
    if row_count == 0:
        return f"Result: no rows (columns: {', '.join(columns)})."
    lines = [" | ".join(columns)] + [" | ".join(_cell(v) for v in row) for row in rows[:SHOWN_ROWS]]
    more = row_count - min(len(rows), SHOWN_ROWS)
    tail = f"\n({more} more rows not shown)" if more > 0 else ""
    if truncated:
        tail += "\n(the result was cut at the row limit)"
    return f"Result ({row_count} row{'s' if row_count != 1 else ''}):\n" + "\n".join(lines) + tail


def action_json(action: Any) -> str:
    """How an action is shown as the assistant's previous turn in structured mode."""
    return json.dumps({"step": action.model_dump(mode="json")}, ensure_ascii=False)


def step_limit_text(max_steps: int) -> str:
    return f"You have used all {max_steps} steps. Answer now with done, using the results you have."


def sql_attempts_exhausted_text(attempts: int) -> str:
    return (
        f"{attempts} queries in a row failed. Do not query again: answer with done, saying what could not be "
        "computed, or ask a clarifying question."
    )


def review_problems_text(problems: Sequence[str]) -> str:
    listed = "\n".join(f"- {p}" for p in problems)
    return (
        "A review of your work found problems:\n"
        f"{listed}\nFix them (modify_metric with a corrected SQL, or a corrected answer) and finish with done."
    )

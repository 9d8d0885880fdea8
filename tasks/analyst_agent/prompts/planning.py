"""planning: a short todo list the UI shows and later states tick off."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tasks.analyst_agent.memory import RunMemory
from tasks.analyst_agent.prompts.context import data_context, question_text

MAX_TODOS = 4


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    todo: list[str] = Field(description="2 to 4 short steps, each a few words")


SYSTEM = (
    "You are a data analyst. Plan how to answer the question with the database below: 2 to 4 short steps "
    "(which tables, what to compute, what to save as a metric). Reply with JSON: {\"todo\": [\"...\"]}."
)


def planning_messages(memory: RunMemory) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": f"{data_context(memory)}\n\n{SYSTEM}"},
        {"role": "user", "content": question_text(memory)},
    ]

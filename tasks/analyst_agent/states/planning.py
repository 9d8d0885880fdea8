"""planning: the model writes a short todo list (structured output), which the UI shows and later states tick off."""

from __future__ import annotations

from runtime import logger
from tasks.analyst_agent.interfaces import TodoItem
from tasks.analyst_agent.llm import InvalidModelOutputError, ModelClient
from tasks.analyst_agent.memory import RunMemory
from tasks.analyst_agent.prompts.planning import MAX_TODOS, Plan, planning_messages

MAX_PLAN_TOKENS = 160
MAX_TODO_CHARS = 160
#: what the UI shows when the model's plan was unusable: the loop's own steps
FALLBACK_PLAN = ("Query the chosen tables", "Save the result as a metric", "Answer with the numbers")


def plan(memory: RunMemory, model: ModelClient, temperature: float) -> RunMemory:
    try:
        reply = model.chat(planning_messages(memory), response_format=Plan, temperature=temperature,
                           max_tokens=MAX_PLAN_TOKENS, seed=7)
        items = [t.strip()[:MAX_TODO_CHARS] for t in reply.parsed.todo if t.strip()][:MAX_TODOS]
    except InvalidModelOutputError as error:
        logger.warn("plan unusable, using the default steps", reason=error.details.get("reason"))
        items = []
    memory.plan = [TodoItem(text=t) for t in (items or FALLBACK_PLAN)]
    return memory


def tick(memory: RunMemory, action: str) -> None:
    """Mark the plan's next open item done when an action completes a piece of work (a query that returned rows, a
    saved metric, the answer): the UI's checklist follows the loop without another model call."""
    if action == "done":
        for item in memory.plan:
            item.done = True
        return
    for item in memory.plan:
        if not item.done:
            item.done = True
            return

"""reviewing: before the answer goes out, check the work the way a colleague would.

Every metric is read back from the store and executed again (it must return rows, unless the answer says why there
are none; its chart must name result columns); every table and column its SQL uses must exist in the catalog; every
number the answer states must appear in a result the run queried (review_checks.py). A problem sends the run back to
analyzing for ONE bounded repair round (task.py), then the review runs again and whatever remains is reported with the
answer, never hidden.
"""

from __future__ import annotations

from typing import Any

from runtime import logger
from store import metrics as metric_store
from tasks.analyst_agent import review_checks
from tasks.analyst_agent.memory import RunMemory
from tasks.analyst_agent.tools import ToolEnv

#: words with which an answer explains an empty result, so a metric without rows is not a problem
EMPTY_EXPLAINED = ("no rows", "no data", "no orders", "nothing", "zero", "no result", "empty", "none")


def review(memory: RunMemory, env: ToolEnv) -> RunMemory:
    answer = memory.answer or ""
    explained = any(word in answer.lower() for word in EMPTY_EXPLAINED)
    problems: list[str] = []
    checked: list[dict[str, Any]] = []
    results: list[Any] = [r["rows"] for r in memory.results]
    for metric in memory.metrics:
        stored = metric_store.get_metric(metric.id)
        outcome = review_checks.recheck_metric(env, stored, empty_is_explained=explained)
        checked.append(outcome.record())
        problems += outcome.problems
        if outcome.result is not None and outcome.result.ok:
            results.append(outcome.result)
    context = [memory.question, memory.date_text] + [q.sql for q in memory.queries]
    answer_problems = review_checks.answer_problems(answer, results, context) if answer else []
    problems += answer_problems
    round_name = "final" if memory.repaired else "first"
    memory.review = {
        **memory.review,
        round_name: {"metrics": checked, "answer": answer_problems, "problems": problems},
        "problems": problems,
    }
    logger.info("review done", round=round_name, problems=len(problems), metrics=len(memory.metrics))
    return memory

"""The analyst agent's tools: plain functions of a `ToolEnv` (the run's connector, limits, ids) and typed arguments,
so the task calls each inside `ctx.step` and tests call them on real databases.

    env = ToolEnv.for_context(ctx, connector, data_source_id=source.id, catalog=catalog, chat_id=chat_id, max_rows=100)
    result = execute_sql(env, "SELECT channel, sum(revenue) FROM revenue_by_channel GROUP BY 1")
    result.ok, result.columns, result.rows, result.truncated, result.error   # error: shown to the model verbatim
    outcome = run_tool(env, "create_metric", '{"name": ..., "sql": ..., "chart": {...}}', tool_call_id="call_1")
    outcome.ok, outcome.for_model(), outcome.record()

| tool | returns |
| --- | --- |
| `execute_sql(env, sql)` | `SqlResult`: rows (row limit, timeout) or the guard's / warehouse's error |
| `create_metric` / `modify_metric(env, args, tool_call_id=)` | `MetricOutcome`: SQL executed first, chart checked against its columns, stored versioned |
| `create_dashboard` / `modify_dashboard(env, args, tool_call_id=)` | `DashboardOutcome` |
| `ask_clarifying_question(env, args)` / `done(env, args)` | `ClarifyingQuestion` / `Done` |
| `run_tool(env, name, arguments, tool_call_id=)` | any of the above, or `ToolFailure` (unknown tool, invalid arguments) |

`tool_definitions()` gives the OpenAI `tools` list built from the same argument models.
"""

from tasks.analyst_agent.tools.args import (
    TOOL_ARGS,
    AskClarifyingQuestionArgs,
    CreateDashboardArgs,
    CreateMetricArgs,
    DoneArgs,
    ExecuteSqlArgs,
    ModifyDashboardArgs,
    ModifyMetricArgs,
    tool_definitions,
)
from tasks.analyst_agent.tools.conversation import ClarifyingQuestion, Done, ask_clarifying_question, done
from tasks.analyst_agent.tools.dispatch import ToolFailure, ToolOutcome, parse_arguments, run_tool
from tasks.analyst_agent.tools.env import ToolEnv
from tasks.analyst_agent.tools.saving import (
    DashboardOutcome,
    MetricOutcome,
    create_dashboard,
    create_metric,
    modify_dashboard,
    modify_metric,
)
from tasks.analyst_agent.tools.sql import SqlResult, clean_sql, execute_sql, json_safe

__all__ = [
    "TOOL_ARGS",
    "AskClarifyingQuestionArgs",
    "ClarifyingQuestion",
    "CreateDashboardArgs",
    "CreateMetricArgs",
    "DashboardOutcome",
    "Done",
    "DoneArgs",
    "ExecuteSqlArgs",
    "MetricOutcome",
    "ModifyDashboardArgs",
    "ModifyMetricArgs",
    "SqlResult",
    "ToolEnv",
    "ToolFailure",
    "ToolOutcome",
    "ask_clarifying_question",
    "clean_sql",
    "create_dashboard",
    "create_metric",
    "done",
    "execute_sql",
    "json_safe",
    "modify_dashboard",
    "modify_metric",
    "parse_arguments",
    "run_tool",
    "tool_definitions",
]

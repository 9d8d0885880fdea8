"""analyzing: first the verified main query (the SQL writer, execution-guided), then a bounded action loop in which
the model saves metrics and dashboards, may query more, may ask the user back, and finishes with its answer.

Every model turn is one durable step in task.py (`analyzing.<n>`): after a crash the finished turns are not asked
again. A turn's tool call is stored under a tool call id made from the run and the turn's number, never the
model's own id, so a turn that is re-run after a crash hits the row its first run stored (store/metrics.py).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

from connectors import Catalog, TableProfile
from runtime import logger
from tasks.analyst_agent.actions import AgentTurn, Done, FinalAnswer, tool_arguments
from tasks.analyst_agent.interfaces import AgentOptions, DashboardResult, MetricResult, SqlQueryRecord
from tasks.analyst_agent.llm import ModelClient, ModelReply
from tasks.analyst_agent.memory import RunMemory, ToolCallRecord, clipped, live
from tasks.analyst_agent.prompts.analyzing import (
    action_json,
    analyzing_messages,
    sql_attempts_exhausted_text,
    step_limit_text,
)
from tasks.analyst_agent.sqlgen import ExecResult, write_sql
from tasks.analyst_agent.states.planning import tick
from tasks.analyst_agent.states.searching import sql_context, table_keys
from tasks.analyst_agent.tools import (
    ClarifyingQuestion,
    DashboardOutcome,
    MetricOutcome,
    SqlResult,
    ToolEnv,
    ToolFailure,
    execute_sql,
    run_tool,
    tool_definitions,
)
from tasks.analyst_agent.tools import Done as DoneOutcome

MAX_ACTION_TOKENS = 400
#: rows of a metric kept in the result (the store keeps the SQL; the UI re-runs it for the full result)
PREVIEW_ROWS = 20


# -- the main query -------------------------------------------------------------------------------------------------
def write_main_sql(memory: RunMemory, env: ToolEnv, model: ModelClient, catalog: Catalog,
                   profiles: Sequence[TableProfile], options: AgentOptions) -> RunMemory:
    """The SQL writer's answer to the question, executed through the guarded `execute_sql`; every attempt recorded."""
    context = sql_context(memory, catalog, profiles, table_keys(memory), max_rows=options.max_rows)
    if memory.date_text or memory.instructions:
        extra = "\n\n".join(x for x in (memory.date_text, memory.instructions) if x)
        context = dataclasses.replace(context, schema_text=f"{context.schema_text}\n\n{extra}")

    def execute(sql: str) -> ExecResult:
        result = execute_sql(env, sql)
        record_query(memory, result, "main")
        return ExecResult(columns=result.columns, rows=result.rows, row_count=result.row_count,
                          truncated=result.truncated, error=None if result.ok else result.for_model())

    outcome = write_sql(model, context, execute, max_repairs=options.max_sql_repairs, seed=7)
    memory.main_sql = outcome.sql
    memory.main_columns = list(outcome.columns)
    memory.main_rows = [list(r) for r in outcome.rows[:PREVIEW_ROWS]]
    memory.main_error = outcome.error if outcome.sql is None else None
    if outcome.sql is not None and outcome.error is None:
        memory.last_good_sql, memory.last_good_columns = outcome.sql, list(outcome.columns)
        tick(memory, "execute_sql")
    logger.info("main query written", ok=outcome.ok, attempts=len(outcome.attempts), voted=outcome.voted,
                model_calls=outcome.model_calls, row_count=outcome.row_count)
    return memory


# -- one turn of the loop -------------------------------------------------------------------------------------------
def uses_tools(options: AgentOptions, local: bool) -> bool:
    """Tool calling for a remote endpoint, structured actions for the offline model (free tool choice produced no tool
    call there in 0 of 3 tries, a Literal action object 3 of 3: tasks/analyst_agent/llm/README.md)."""
    if options.tool_mode == "auto":
        return not local
    return options.tool_mode == "tools"


def take_turn(memory: RunMemory, env: ToolEnv, model: ModelClient, options: AgentOptions, *, tools: bool,
              round_name: str = "analyzing", final_reason: str | None = None) -> RunMemory:
    """Ask the model for its next action (only `done` when `final_reason` says the loop must stop), run it, and
    append both to the conversation."""
    messages = analyzing_messages(memory, structured=not tools) + memory.conversation
    if final_reason is not None:
        messages.append({"role": "user", "content": final_reason})
    memory.steps_taken += 1
    call_id = f"{round_name}-{memory.steps_taken}"
    if tools:
        reply = _ask_with_tools(model, messages, options, final=final_reason is not None)
        calls = [(c.id, c.name, c.parsed) for c in reply.tool_calls]
        if not calls:  # a plain answer ends the loop, as in the OpenAI agents SDK
            memory.conversation.append(reply.assistant_message())
            calls = [("", "done", {"answer": (reply.content or "").strip() or "(no answer)"})]
        else:
            memory.conversation.append(reply.assistant_message())
        for index, (model_id, name, arguments) in enumerate(calls):
            outcome = _run(memory, env, name, arguments, f"{call_id}.{index}" if index else call_id, round_name)
            if model_id:
                memory.conversation.append({"role": "tool", "tool_call_id": model_id, "content": outcome.for_model()})
            if memory.answer is not None or memory.clarifying_question is not None:
                break
        return memory
    schema = FinalAnswer if final_reason is not None else AgentTurn
    reply = model.chat(messages, response_format=schema, temperature=options.temperature,
                       max_tokens=MAX_ACTION_TOKENS, seed=7 + memory.steps_taken)
    action = reply.parsed.step
    memory.conversation.append({"role": "assistant", "content": action_json(action)})
    name = action.action
    outcome = _run(memory, env, name, tool_arguments(action, memory.last_good_sql), call_id, round_name)
    if memory.answer is None and memory.clarifying_question is None:
        memory.conversation.append({"role": "user", "content": f"{name} result:\n{outcome.for_model()}"})
    return memory


def _ask_with_tools(model: ModelClient, messages: list[dict[str, Any]], options: AgentOptions, *,
                    final: bool) -> ModelReply:
    if final:
        return model.chat(messages, tools=tool_definitions(["done"]),
                          tool_choice={"type": "function", "function": {"name": "done"}},
                          temperature=options.temperature, max_tokens=MAX_ACTION_TOKENS)
    return model.chat(messages, tools=tool_definitions(), tool_choice="auto", temperature=options.temperature,
                      max_tokens=MAX_ACTION_TOKENS)


def must_stop(memory: RunMemory, options: AgentOptions) -> str | None:
    """Why the loop must answer now (the step limit, or too many failing queries in a row), or None."""
    if memory.failing_sql_streak > options.max_sql_repairs:
        return sql_attempts_exhausted_text(memory.failing_sql_streak)
    if memory.steps_taken >= options.max_steps:
        memory.step_limit_reached = True
        return step_limit_text(options.max_steps)
    return None


def finished(memory: RunMemory) -> bool:
    return memory.answer is not None or memory.clarifying_question is not None


# -- running a tool ------------------------------------------------------------------------------------------------
def _run(memory: RunMemory, env: ToolEnv, name: str, arguments: Any, call_id: str, round_name: str) -> Any:
    started = time.perf_counter()
    repeated = _failed_before(memory, name, arguments)
    if repeated is not None:  # at temperature 0 a small model repeats a failing query word for word (sqlgen/README)
        memory.failing_sql_streak += 1
        outcome: Any = ToolFailure(tool=name, error=f"this exact query already failed ({repeated}); write a different "
                                   "one, using only the tables and columns of the schema")
    else:
        outcome = run_tool(env, name, arguments, tool_call_id=call_id)
    seconds = round(time.perf_counter() - started, 3)
    summary = _absorb(memory, name, outcome)
    args = arguments.model_dump(mode="json") if hasattr(arguments, "model_dump") else dict(arguments or {})
    memory.tool_calls.append(ToolCallRecord(
        id=call_id, name=name, arguments={k: clipped(v) if isinstance(v, str) else v for k, v in args.items()},
        ok=bool(outcome.ok), summary=clipped(summary, 500) or "", seconds=seconds, round=round_name,
    ))
    live("tool_calls", [t.model_dump(mode="json") for t in memory.tool_calls[-50:]])
    logger.info("tool called", tool=name, ok=bool(outcome.ok), call_id=call_id, seconds=seconds)
    return outcome


def _normalized(sql: str) -> str:
    return " ".join(sql.replace(";", " ").split()).lower()


def _failed_before(memory: RunMemory, name: str, arguments: Any) -> str | None:
    """The error of an identical query that already failed in this run, when the model sends it again."""
    if name != "execute_sql":
        return None
    sql = getattr(arguments, "sql", None) if not isinstance(arguments, dict) else arguments.get("sql")
    if not isinstance(sql, str):
        return None
    wanted = _normalized(sql)
    for query in memory.queries:
        if not query.ok and _normalized(query.sql) == wanted:
            return query.error or "error"
    return None


def _absorb(memory: RunMemory, name: str, outcome: Any) -> str:
    """Fold a tool's outcome into the memory; a one-line summary for the tool-call log."""
    if isinstance(outcome, ToolFailure):
        return outcome.error[:500]
    if isinstance(outcome, SqlResult):
        record_query(memory, outcome, "explore")
        if outcome.ok:
            memory.failing_sql_streak = 0
            memory.last_good_sql, memory.last_good_columns = outcome.sql, outcome.columns
            tick(memory, name)
            return f"{outcome.row_count} rows"
        memory.failing_sql_streak += 1
        return outcome.for_model()
    if isinstance(outcome, MetricOutcome):
        if outcome.result is not None and not outcome.replayed:
            record_query(memory, outcome.result, "metric")
        if not outcome.ok or outcome.metric is None:
            if outcome.result is not None and not outcome.result.ok:
                memory.failing_sql_streak += 1
            return outcome.error or "not saved"
        memory.failing_sql_streak = 0
        memory.put_metric(metric_result(outcome))
        tick(memory, name)
        return f"metric {outcome.metric.id} v{outcome.metric.version}"
    if isinstance(outcome, DashboardOutcome):
        if not outcome.ok or outcome.dashboard is None:
            return outcome.error or "not saved"
        d = outcome.dashboard
        memory.put_dashboard(DashboardResult(id=d.id, version=d.version, name=d.name, description=d.description,
                                             metric_ids=list(d.metric_ids)))
        return f"dashboard {d.id} v{d.version}"
    if isinstance(outcome, ClarifyingQuestion):
        memory.clarifying_question = outcome.question
        if outcome.options:
            memory.clarifying_question += " (" + " / ".join(outcome.options) + ")"
        return outcome.question
    if isinstance(outcome, DoneOutcome):
        memory.answer = outcome.answer
        tick(memory, "done")
        return clipped(outcome.answer, 200) or ""
    raise TypeError(f"unexpected outcome of {name}: {type(outcome).__name__}")


def metric_result(outcome: MetricOutcome) -> MetricResult:
    m = outcome.metric
    assert m is not None
    rows = outcome.result.rows[:PREVIEW_ROWS] if outcome.result is not None and outcome.result.ok else []
    return MetricResult(
        id=m.id, version=m.version, name=m.name, description=m.description, sql=m.sql,
        chart=m.chart.model_dump(mode="json"), time_frame=m.time_frame, columns=list(m.columns or []),
        rows=[list(r) for r in rows], row_count=outcome.result.row_count if outcome.result is not None else 0,
    )


def record_query(memory: RunMemory, result: SqlResult, purpose: str) -> None:
    memory.queries.append(SqlQueryRecord(
        sql=result.sql, ok=result.ok, row_count=result.row_count, columns=list(result.columns),
        truncated=result.truncated, error=result.error, purpose=purpose,
        seconds=round(result.elapsed_ms / 1000, 3) if result.elapsed_ms is not None else None,
    ))
    if result.ok:
        memory.results.append({"sql": result.sql, "columns": list(result.columns),
                               "rows": [list(r) for r in result.rows[:100]]})
    live("sql_queries", [q.model_dump(mode="json", exclude={"columns"}) for q in memory.queries[-30:]])


__all__ = ["Done", "finished", "must_stop", "take_turn", "uses_tools", "write_main_sql"]

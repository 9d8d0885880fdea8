"""`analyst-agent`: answer a question about a data source with numbers the agent actually queried.

    initializing -> searching -> planning -> analyzing -> reviewing (-> analyzing, one repair round) -> completed

Each state is a durable step (`ctx.step`; analyzing is one step per model turn), so a worker killed mid-run resumes
at the state, and the turn, it was in. `metadata["state"]` and the timeline `metadata["states"]` let the UI follow
the run; `metadata["plan"]`, `["tables"]`, `["tool_calls"]`, `["sql_queries"]` and `["usage"]` grow as it goes.

Task-level retry is off (a rerun would repeat the model's work); transient model failures are retried inside the
model client, transient warehouse failures inside `execute_sql`. A failure ends the run `failed` with a typed error
whose message is fit to show the user (`AgentError`, `ModelError`, `ConnectorError`).
"""

from __future__ import annotations

import uuid
from typing import Any, Callable

import connectors
from runtime import Queue, RetryConfig, RunHandle, TaskContext, logger, metadata, schema_task, tasks
from store import snapshots
from tasks.analyst_agent.errors import AgentError, NoCatalogError, NoTablesError
from tasks.analyst_agent.interfaces import AnalystInput, AnalystResult
from tasks.analyst_agent.llm.usage import ModelUsage
from tasks.analyst_agent.memory import RunMemory
from tasks.analyst_agent.prompts.analyzing import review_problems_text
from tasks.analyst_agent.services import AttemptServices, close_attempt
from tasks.analyst_agent.states import analyzing, initializing, planning, reviewing, searching
from tasks.introspect_data.connections import register_secrets, registered_source
from tasks.introspect_data.task import introspect_data  # noqa: F401 - a source without a snapshot is introspected

TASK_ID = "analyst-agent"
QUEUE = Queue(name="analyst-agent", concurrency_limit=1, concurrency_key_from="chat_id")  # one run per chat at a time
#: model turns the one repair round after a review may take
REPAIR_STEPS = 3
#: how long initializing waits for the introspection of a source that has no snapshot yet
INTROSPECTION_TIMEOUT_S = 900


@schema_task(
    id=TASK_ID,
    schema=AnalystInput,
    max_duration=1800,
    retry=RetryConfig(max_attempts=1),
    queue=QUEUE,
    cleanup=close_attempt,
)
def analyst_agent(payload: AnalystInput, ctx: TaskContext) -> dict[str, Any]:
    """Answer a question about a data source: search, plan, query, save metrics, review, answer."""
    services = AttemptServices.open(ctx, payload.options)
    memory = RunMemory(run_id=ctx.run_id, question=payload.question, data_source_id=payload.data_source_id,
                       chat_id=payload.chat_id)
    metadata.set("question", payload.question).set("data_source_id", payload.data_source_id)
    try:
        memory = run_states(payload, ctx, services, memory)
    except BaseException as error:
        _failed(memory, error)
        raise
    return result_of(memory).model_dump(mode="json")


def run_states(payload: AnalystInput, ctx: TaskContext, services: AttemptServices, memory: RunMemory) -> RunMemory:
    options = payload.options

    # 1. initializing
    memory = _state_step(ctx, "initializing", memory, lambda m: initializing.initialize(m.enter("initializing"), payload))
    if memory.snapshot_id is None:
        memory = _introspect_first(ctx, memory)
    memory = _state_step(ctx, "initializing.done", memory, lambda m: m.finish(
        f"{m.source_name} ({m.source_type}), snapshot {m.snapshot_id}, {len(m.history)} earlier turns"))
    _open_source(services, memory)
    env = services.tool_env(memory.data_source_id, memory.chat_id)

    # 2. searching
    def search(m: RunMemory) -> RunMemory:
        m.enter("searching")
        _publish(m)
        m = searching.search(m, services.catalog, services.profiles, env, payload)  # type: ignore[arg-type]
        if not m.tables:
            raise NoTablesError("The data source has no tables to answer from.", details={"snapshot_id": m.snapshot_id})
        return m.finish(f"{len(m.tables)} tables: " + ", ".join(t.name for t in m.tables))

    memory = _state_step(ctx, "searching", memory, search)
    metadata.set("tables", [t.model_dump(mode="json") for t in memory.tables]).set("dates", memory.dates)

    # 3. planning
    def plan(m: RunMemory) -> RunMemory:
        m.enter("planning")
        _publish(m)
        usage = ModelUsage()
        with services.model(usage) as model:
            m = planning.plan(m, model, options.temperature)
        m.add_usage(usage)
        return m.finish(f"{len(m.plan)} steps")

    memory = _state_step(ctx, "planning", memory, plan)

    # 4. analyzing: the main query, then the action loop
    def main_sql(m: RunMemory) -> RunMemory:
        m.enter("analyzing")
        _publish(m)
        usage = ModelUsage()
        with services.model(usage) as model:
            m = analyzing.write_main_sql(m, env, model, services.catalog, services.profiles, options)  # type: ignore[arg-type]
        m.add_usage(usage)
        return m

    memory = _state_step(ctx, "analyzing.sql", memory, main_sql)
    memory = _loop(ctx, services, memory, env, options, round_name="analyzing", budget=options.max_steps)

    # 5. reviewing (and one repair round when it finds a problem)
    if memory.clarifying_question is None:
        memory = _state_step(ctx, "reviewing", memory, lambda m: _review(m.finish(_analyzing_summary(m))
                                                                          .enter("reviewing"), env, services))
        if memory.review.get("problems"):
            memory = _state_step(ctx, "repair.start", memory, lambda m: _start_repair(m))
            memory = _loop(ctx, services, memory, env, options, round_name="repair",
                           budget=memory.steps_taken + REPAIR_STEPS)
            memory = _state_step(ctx, "reviewing.final", memory, lambda m: _review(
                m.finish(_analyzing_summary(m)).enter("reviewing"), env, services))
        memory = _state_step(ctx, "answer", memory, _final_answer)
    else:
        memory = _state_step(ctx, "clarifying", memory, lambda m: m.finish("asked the user a clarifying question"))
    memory = _state_step(ctx, "saving", memory, _save_turn)
    memory.enter("completed").finish("answered" if memory.clarifying_question is None else "waiting for the user")
    _publish(memory)
    return memory


# -- steps -------------------------------------------------------------------------------------------------------
def _state_step(ctx: TaskContext, name: str, memory: RunMemory, fn: Callable[[RunMemory], RunMemory]) -> RunMemory:
    """One durable step; the memory it returns is published to metadata (also when a replay returns it recorded)."""
    memory = ctx.step(name, fn, memory)
    _publish(memory)
    return memory


def _publish(memory: RunMemory) -> None:
    metadata.set("state", memory.state)
    metadata.set("states", [s.model_dump(mode="json") for s in memory.states])
    metadata.set("plan", [t.model_dump(mode="json") for t in memory.plan])
    metadata.set("usage", memory.usage.model_dump(mode="json"))
    metadata.set("steps_taken", memory.steps_taken)
    if memory.step_limit_reached:
        metadata.set("step_limit_reached", True)


def _loop(ctx: TaskContext, services: AttemptServices, memory: RunMemory, env: Any, options: Any, *,
          round_name: str, budget: int) -> RunMemory:
    """Model turns until an answer or a clarifying question; at the budget (or after too many failing queries in a
    row) one last turn that may only answer."""
    tools = analyzing.uses_tools(options, services.endpoint().local)

    def turn(m: RunMemory, final_reason: str | None) -> RunMemory:
        usage = ModelUsage()
        with services.model(usage) as model:
            m = analyzing.take_turn(m, env, model, options, tools=tools, round_name=round_name,
                                    final_reason=final_reason)
        m.add_usage(usage)
        return m

    while not analyzing.finished(memory):
        limited = options.model_copy(update={"max_steps": budget})
        reason = analyzing.must_stop(memory, limited)
        number = memory.steps_taken + 1
        memory = _state_step(ctx, f"{round_name}.{number}", memory, lambda m, r=reason: turn(m, r))
        if reason is not None and not analyzing.finished(memory):
            memory = _state_step(ctx, f"{round_name}.{number}.fallback", memory, _fallback_answer)
    return memory


def _fallback_answer(memory: RunMemory) -> RunMemory:
    """When even the forced last turn gave no answer: say what the queries found, never an empty answer."""
    memory.answer = "I could not finish the analysis within the allowed steps." + (
        f" The last query that worked was: {memory.last_good_sql}" if memory.last_good_sql else "")
    return memory


def _review(memory: RunMemory, env: Any, services: AttemptServices) -> RunMemory:
    _publish(memory)
    memory = reviewing.review(memory, env)
    problems = memory.review.get("problems") or []
    return memory.finish(f"{len(problems)} problem(s)" if problems else "all checks passed")


def _start_repair(memory: RunMemory) -> RunMemory:
    """Back to analyzing with the review's findings; the earlier answer is withdrawn until the model gives another."""
    memory.repaired = True
    memory.enter("analyzing")
    memory.conversation.append({"role": "user", "content": review_problems_text(memory.review["problems"])})
    memory.review["previous_answer"] = memory.answer
    memory.answer = None
    return memory


def _final_answer(memory: RunMemory) -> RunMemory:
    problems = memory.review.get("problems") or []
    if problems and memory.answer is not None and memory.repaired:
        memory.answer += "\n\nNote: the review still found: " + "; ".join(problems)
    return memory


def _save_turn(memory: RunMemory) -> RunMemory:
    if memory.chat_id is None:
        return memory
    from store import chats

    chats.add_turn(
        memory.chat_id,
        run_id=memory.run_id,
        question=memory.question,
        answer=memory.answer,
        clarifying_question=memory.clarifying_question,
        sql_queries=[q.sql for q in memory.queries if q.ok][-5:],
        metric_ids=[m.id for m in memory.metrics],
        dashboard_ids=[d.id for d in memory.dashboards],
    )
    return memory


def _analyzing_summary(memory: RunMemory) -> str:
    return (f"{memory.steps_taken} steps, {sum(q.ok for q in memory.queries)} queries ok, "
            f"{len(memory.metrics)} metrics" + (" (step limit reached)" if memory.step_limit_reached else ""))


# -- initializing's helpers ----------------------------------------------------------------------------------------
def _introspect_first(ctx: TaskContext, memory: RunMemory) -> RunMemory:
    """The source has never been introspected: run introspect-data (with profiles) and wait for it, durably."""
    logger.info("no snapshot yet: introspecting the source first", data_source_id=memory.data_source_id)
    metadata.set("introspection", "running")
    result = introspect_data.trigger_and_wait({"data_source_id": memory.data_source_id, "profile": True},
                                              timeout=INTROSPECTION_TIMEOUT_S,
                                              tags=[f"data_source:{memory.data_source_id}"[:128]])
    metadata.set("introspection", {"run_id": result.id, "status": result.status.value})
    if not result.ok:
        raise NoCatalogError(
            "The data source could not be introspected, so there is no catalog to search"
            + (f": {result.error.message}" if result.error else "."),
            details={"introspection_run_id": result.id, "status": result.status.value},
        )

    def found(m: RunMemory) -> RunMemory:
        m.snapshot_id = initializing.latest_snapshot_id(m.data_source_id)
        if m.snapshot_id is None:
            raise NoCatalogError("The introspection finished but saved no snapshot.")
        return m

    return _state_step(ctx, "initializing.snapshot", memory, found)


def _open_source(services: AttemptServices, memory: RunMemory) -> None:
    """This attempt's connector (lazy) and the snapshot's catalog and profiles (not step results: rebuilt per
    attempt from the store, which keeps them)."""
    source = registered_source(memory.data_source_id)
    register_secrets(source.credentials, services.ctx)
    services.connector = connectors.connect(source.credentials)
    snapshot = snapshots.get_snapshot(memory.snapshot_id) if memory.snapshot_id else None
    if snapshot is None:
        raise NoCatalogError("The catalog snapshot this run started from is gone (pruned?); ask again.",
                             details={"snapshot_id": memory.snapshot_id})
    services.catalog = snapshot.catalog
    services.profiles = list(snapshot.profiles)


# -- the result ----------------------------------------------------------------------------------------------------
def result_of(memory: RunMemory) -> AnalystResult:
    answer = memory.answer if memory.answer is not None else (memory.clarifying_question or "")
    return AnalystResult(
        answer=answer,
        metrics=memory.metrics,
        dashboards=memory.dashboards,
        sql_queries=memory.queries,
        states=memory.states,
        clarifying_question=memory.clarifying_question,
        usage=memory.usage,
        chat_id=memory.chat_id,
        review={k: v for k, v in memory.review.items()},
        tables=[t.name for t in memory.tables],
        examples_used=memory.examples_used,
    )


def _failed(memory: RunMemory, error: BaseException) -> None:
    """The timeline ends `failed` with the error's user-fit message (the runtime stores the typed error itself)."""
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    try:
        memory.enter("failed").finish(f"{type(error).__name__}: {message}"[:500])
        _publish(memory)
        metadata.set("error", {"type": type(error).__name__, "code": getattr(error, "code", None),
                               "message": str(message)[:1000]})
    except Exception:  # outside a run (a unit test calling the function) there is no metadata to write
        pass


# -- triggering ------------------------------------------------------------------------------------------------------
def ask(question: str, data_source_id: str, *, chat_id: str | None = None, options: dict[str, Any] | None = None,
        history: list[dict[str, Any]] | None = None, database_url: str | None = None, **trigger_options: Any) -> RunHandle:
    """Trigger a run for a question in a chat (a new chat when `chat_id` is None); the chat id is the run's
    concurrency key, so two questions in one chat run one after the other, never at once."""
    chat_id = chat_id or f"chat_{uuid.uuid4().hex[:20]}"
    payload: dict[str, Any] = {"question": question, "data_source_id": data_source_id, "chat_id": chat_id,
                               "options": options or {}}
    if history is not None:
        payload["history"] = history
    tags = [f"chat:{chat_id}"[:128], f"data_source:{data_source_id}"[:128]]
    return tasks.trigger(TASK_ID, payload, concurrency_key=chat_id, tags=tags, database_url=database_url,
                         **trigger_options)


__all__ = ["AgentError", "TASK_ID", "analyst_agent", "ask", "result_of"]

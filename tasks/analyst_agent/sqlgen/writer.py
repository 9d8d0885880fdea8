"""`write_sql`: from a question and its pruned schema to a query that executed, in as few model calls as it takes.

The pipeline is the one that measured best with the offline 1.5B model (see README.md): one greedy answer as a
schema-constrained JSON object; when its error names a thing the query's own tables place in exactly one spot (a
column read through the wrong alias, an invented lookup table), the mechanical rewrite of fixes.py, executed without a
model call; when it still fails (an error, or no rows while a literal it filters on is not in the data), a fresh prompt with the failed query and hints computed from the schema and the data, bounded rounds, and a
redraw at a higher temperature when the model only repeats itself. A vote over a few sampled queries' results when the
answer still looks doubtful is available (`vote_when_doubtful=True`) but off: on 100 spider-dev questions it fired 11
times, cost 33 model calls and fixed none (README.md).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable, Sequence

from tasks.analyst_agent.llm.client import ModelClient
from tasks.analyst_agent.llm.errors import InvalidModelOutputError
from tasks.analyst_agent.sqlgen.compare import result_key
from tasks.analyst_agent.sqlgen.fixes import fix_for_error
from tasks.analyst_agent.sqlgen.hints import empty_result_hints, error_hints, normalized_sql, probe_with
from tasks.analyst_agent.sqlgen.interfaces import Attempt, AttemptKind, ExecResult, SqlAnswer, SqlContext, SqlOutcome
from tasks.analyst_agent.sqlgen.prompts import first_messages, repair_messages

MAX_SQL_TOKENS = 320
REDRAW_TEMPERATURE = 0.8
VOTE_TEMPERATURE = 0.7
DEFAULT_VOTE_SAMPLES = 3
#: mechanical fixes chained after one failed query (each error names one thing: a query with two wrong aliases
#: needs two)
MAX_FIXES = 3
_FENCE = re.compile(r"^```\w*\s*|\s*```$")


def clean_sql(text: str) -> str:
    """The query as the model wrote it, without Markdown fences or a trailing semicolon."""
    return _FENCE.sub("", text.strip()).strip().rstrip(";").strip()


class _Run:
    """One `write_sql` call's state: every attempt, the best result so far, the model usage."""

    def __init__(self, model: ModelClient, ctx: SqlContext, execute: Callable[[str], ExecResult], seed: int) -> None:
        self.model, self.ctx, self.execute, self.seed = model, ctx, execute, seed
        self.outcome = SqlOutcome(sql=None)
        self.results: dict[str, ExecResult] = {}
        self.probe = probe_with(execute, ctx.dialect)

    def ask(self, messages: list[dict[str, Any]], temperature: float, seed: int) -> str | None:
        try:
            reply = self.model.chat(
                messages,
                response_format=SqlAnswer,
                temperature=temperature,
                max_tokens=MAX_SQL_TOKENS,
                seed=seed,
            )
        except InvalidModelOutputError as error:  # the model's reply broke the schema even after a re-ask
            self.outcome.usage.add(**{k: v for k, v in error.details.get("usage", {}).items() if k in _USAGE_KEYS})
            return None
        self.outcome.usage.merge(reply.usage)
        return clean_sql(reply.parsed.sql)

    def run(self, kind: AttemptKind, sql: str, hints: Sequence[str] = ()) -> tuple[Attempt, ExecResult]:
        result = self.results.get(sql)
        if result is None:
            # The executor returns what the model can fix (a refusal, the warehouse's error) as ExecResult.error and
            # raises what it cannot (the run canceled, credentials refused, the warehouse unreachable after its own
            # retries): that ends the writing here instead of spending repair rounds on SQL that was never the problem.
            result = self.execute(sql)
            self.results[sql] = result
        attempt = Attempt(kind=kind, sql=sql, error=result.error, row_count=result.row_count, hints=tuple(hints))
        return attempt, result

    def fixed(self, sql: str, result: ExecResult) -> tuple[str, ExecResult]:
        """The query after the mechanical fixes its errors allow (see fixes.py), each executed and recorded as a
        "fix" attempt; the query itself when its error leaves more than one reading."""
        for _ in range(MAX_FIXES):
            if result.error is None:
                break
            rewritten = fix_for_error(sql, result.error, self.ctx.tables, self.ctx.dialect)
            if rewritten is None or rewritten in self.results:
                break
            attempt, result = self.run("fix", rewritten)
            self.outcome.attempts.append(attempt)
            sql = rewritten
        return sql, result

    def doubts(self, sql: str, result: ExecResult) -> list[str] | None:
        """None when the result is trustworthy; else the hints for a repair (maybe none for an error)."""
        if result.error is not None:
            return error_hints(result.error, self.ctx.tables, sql, self.ctx.dialect)
        if result.row_count == 0:
            hints = empty_result_hints(sql, self.ctx, self.probe)
            return hints or None
        return None


_USAGE_KEYS = {"prompt_tokens", "completion_tokens", "model_calls", "seconds_in_model"}


def _rank(result: ExecResult, doubtful: bool) -> int:
    if result.error is not None:
        return 0
    return 1 if doubtful else 2


def write_sql(
    model: ModelClient,
    ctx: SqlContext,
    execute: Callable[[str], ExecResult],
    *,
    max_repairs: int = 2,
    vote_when_doubtful: bool = False,
    vote_samples: int = DEFAULT_VOTE_SAMPLES,
    seed: int = 0,
) -> SqlOutcome:
    """The SQL answering `ctx.question`, executed through `execute` (the caller's guarded executor).

    Model errors other than an invalid reply (cancelled, unavailable, auth) propagate: the caller's durable step owns
    retrying them. SQL errors never raise: they are repaired, and the outcome says what was tried."""
    if max_repairs < 0 or vote_samples < 0:
        raise ValueError("max_repairs and vote_samples must not be negative")
    state = _Run(model, ctx, execute, seed)
    out = state.outcome
    best: tuple[int, str, ExecResult] | None = None
    base = first_messages(ctx)

    sql = state.ask(base, 0.0, seed)
    hints: list[str] | None = None
    last_sql, last_result = None, None
    if sql:
        attempt, result = state.run("first", sql)
        out.attempts.append(attempt)
        sql, result = state.fixed(sql, result)
        hints = state.doubts(sql, result)
        best = (_rank(result, hints is not None), sql, result)
        last_sql, last_result = sql, result

    repairs = 0
    while repairs < max_repairs and (best is None or best[0] < 2) and last_sql is not None:
        assert last_result is not None
        if last_result.ok and not hints:
            break  # empty, but every literal occurs: the empty answer may be right
        repairs += 1
        messages = repair_messages(ctx, last_sql, last_result.error, hints or ())
        sql = state.ask(messages, 0.0, seed)
        kind: AttemptKind = "repair"
        tried = {normalized_sql(a.sql) for a in out.attempts}
        if sql is not None and normalized_sql(sql) in tried:
            sql = state.ask(messages, REDRAW_TEMPERATURE, seed + repairs)
            kind = "redraw"
        if not sql:
            continue
        attempt, result = state.run(kind, sql, hints or ())
        out.attempts.append(attempt)
        sql, result = state.fixed(sql, result)
        new_hints = state.doubts(sql, result)
        rank = _rank(result, new_hints is not None)
        if best is None or rank >= best[0]:  # the later of equals: it saw more feedback
            best = (rank, sql, result)
        last_sql, last_result, hints = sql, result, new_hints

    if vote_when_doubtful and vote_samples and (best is None or best[0] < 2):
        out.voted = True
        messages = base if last_sql is None or last_result is None else repair_messages(
            ctx, last_sql, last_result.error, hints or ()
        )
        groups: Counter[Any] = Counter()
        first_of: dict[Any, tuple[str, ExecResult]] = {}
        if best is not None and best[0] >= 1 and best[2].row_count > 0:
            key = result_key(best[2].rows)
            groups[key] += 1
            first_of[key] = (best[1], best[2])
        for i in range(vote_samples):
            sample = state.ask(messages, VOTE_TEMPERATURE, seed + 100 + i)
            if not sample:
                continue
            attempt, result = state.run("vote", sample)
            out.candidates.append(attempt)
            if result.ok and result.row_count > 0:
                key = result_key(result.rows)
                groups[key] += 1
                first_of.setdefault(key, (sample, result))
        if groups:
            winner = max(groups, key=lambda k: groups[k])  # Counter keeps insertion order: ties go to the earliest
            sql, result = first_of[winner]
            best = (2, sql, result)

    if best is None:
        out.error = out.attempts[-1].error if out.attempts else "the model wrote no query"
        return out
    _, sql, result = best
    if result.error is not None:
        out.error = result.error  # no query executed: the attempts keep what was tried
        return out
    out.sql = sql
    out.columns = list(result.columns)
    out.rows = [tuple(r) for r in list(result.rows)[: ctx.max_rows]]
    out.row_count = result.row_count
    return out

"""The analyst agent's SQL evaluated on a Spider-layout dataset: execution accuracy against the gold queries.

For each question the agent's own pipeline runs, as its searching and analyzing states run it: the catalog search over
the question's database (one index per database, built once like the agent's per-snapshot index), the pruned schema
with linked values (`sqlgen.build_context`), optional few-shot examples from the OTHER databases, and
`sqlgen.write_sql` executing through a read-only, guarded SQLite executor. In the same run and with the same model,
the single-prompt baseline: the whole schema as CREATE TABLE statements, one answer, no execution feedback.

Execution accuracy (EX): the predicted query's full result equals the gold query's (`sqlgen.same_result`: multisets,
numbers rounded, a list only when the gold query orders at its top level, columns in any order). Questions run grouped
by database, the baseline's before the agent's, so the model server's prefix cache serves the shared schema text.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from bench.agent_eval_data import Dataset, Question
from connectors.catalog import Catalog
from tasks.analyst_agent.llm.client import ModelClient
from tasks.analyst_agent.search import CatalogIndex
from tasks.analyst_agent.search.dense import Embedder
from tasks.analyst_agent.states.searching import choose_tables
from tasks.analyst_agent.sqlgen import (
    Example,
    ExampleIndex,
    ExecResult,
    SqlAnswer,
    SqlContext,
    build_context,
    question_skeleton,
    same_result,
    write_sql,
)
from tasks.analyst_agent.sqlgen.prompts import first_messages
from tasks.analyst_agent.sqlgen.writer import MAX_SQL_TOKENS, clean_sql

QUERY_TIMEOUT_S = 15.0
_SCORED_KEYS = {"kind", "db", "question", "sql", "correct", "seconds", "model_seconds", "calls", "prompt_tokens",
                "completion_tokens", "error"}  # fmt: skip
MAX_RESULT_ROWS = 100_000


# -- executing on a SQLite file ---------------------------------------------------------------------------------------
#: what a read-only query may do in SQLite (sqlite3 authorizer action codes); everything else is refused
READ_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE})
_ACTIONS = (
    "CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER CREATE_TEMP_VIEW CREATE_TRIGGER "
    "CREATE_VIEW DELETE DROP_INDEX DROP_TABLE DROP_TEMP_INDEX DROP_TEMP_TABLE DROP_TEMP_TRIGGER DROP_TEMP_VIEW "
    "DROP_TRIGGER DROP_VIEW INSERT PRAGMA TRANSACTION UPDATE ATTACH DETACH ALTER_TABLE REINDEX ANALYZE CREATE_VTABLE "
    "DROP_VTABLE SAVEPOINT"
)
ACTION_NAMES = {getattr(sqlite3, f"SQLITE_{n}"): n.replace("_", " ") for n in _ACTIONS.split() if hasattr(sqlite3, f"SQLITE_{n}")}


def sqlite_executor(path: Path, *, max_rows: int = MAX_RESULT_ROWS, timeout: float = QUERY_TIMEOUT_S) -> Callable[[str], ExecResult]:
    """`execute(sql)` on a SQLite file opened read-only, as the agent's `execute_sql` behaves: one statement, reads
    only (SQLite's own authorizer refuses anything else, naming it: the project's SQL guard has no SQLite rules), a
    time bound (a progress handler aborts the statement), a row bound, errors returned as text for the model."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.text_factory = lambda b: b.decode("utf-8", errors="replace")
    refused: list[str] = []

    def authorize(action: int, *_: object) -> int:
        if action in READ_ACTIONS:
            return sqlite3.SQLITE_OK
        refused.append(ACTION_NAMES.get(action, str(action)))
        return sqlite3.SQLITE_DENY

    conn.set_authorizer(authorize)

    def execute(sql: str) -> ExecResult:
        refused.clear()
        deadline = time.monotonic() + timeout
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cursor = conn.execute(sql)
            rows = cursor.fetchmany(max_rows + 1)
            columns = [d[0] for d in cursor.description or ()]
        except sqlite3.Error as error:
            if refused:
                names = ", ".join(dict.fromkeys(refused))
                return ExecResult(error=f"refused: only read-only queries may run (not allowed: {names})")
            message = "query timed out" if str(error) == "interrupted" else str(error)
            return ExecResult(error=message)
        finally:
            conn.set_progress_handler(None, 0)
        truncated = len(rows) > max_rows
        rows = rows[:max_rows]
        return ExecResult(columns=columns, rows=rows, row_count=len(rows), truncated=truncated)

    return execute


def gold_orders(sql: str) -> bool:
    """Whether the gold query orders its result at the top level (then row order counts)."""
    try:
        tree = sqlglot.parse_one(sql, read="mysql")
    except SqlglotError:
        return "order by" in sql.lower()
    return bool(tree.args.get("order")) if isinstance(tree, (exp.Select, exp.SetOperation)) else False


def whole_schema_ddl(path: Path) -> str:
    """The baseline's schema: every CREATE TABLE statement of the SQLite file, as stored."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL").fetchall()
    finally:
        conn.close()
    return "\n".join(r[0].strip() + ";" for r in rows)


# -- per question ---------------------------------------------------------------------------------------------------
@dataclass
class Scored:
    database: str
    question: str
    sql: str | None
    correct: bool
    seconds: float
    model_seconds: float
    model_calls: int
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def overhead_ms(self) -> float:
        return max(self.seconds - self.model_seconds, 0.0) * 1000


@dataclass
class Summary:
    name: str
    rows: list[Scored]

    def mean(self, attr: str) -> float:
        return statistics.fmean(getattr(r, attr) for r in self.rows) if self.rows else 0.0

    @property
    def ex(self) -> float:
        return self.mean("correct")


@dataclass
class ModelSettings:
    k: int = 5  # tables the search keeps for the prompt
    examples: int = 0  # few-shot examples from other databases
    samples: int = 2  # sample values per text column in the schema
    link_values: bool = True
    max_repairs: int = 2
    vote: bool = True
    vote_samples: int = 4
    baseline: bool = True
    seed: int = 0
    prune: str = "agent"  # "agent": the searching state's choose_tables over the top k; "topk": all top k


def _correct(execute: Callable[[str], ExecResult], sql: str | None, gold: ExecResult, ordered: bool) -> tuple[bool, str | None]:
    if not sql:
        return False, "no query"
    result = execute(sql)
    if not result.ok:
        return False, result.error
    return same_result(result.rows, gold.rows, ordered=ordered), None


@dataclass
class SqlEvaluation:
    """EX of the agent's SQL pipeline and of the single-prompt baseline, on one model, over a question set."""

    model: ModelClient
    embedder: Embedder | None
    settings: ModelSettings = field(default_factory=ModelSettings)
    progress: TextIO | None = None
    details: TextIO | None = None
    agent: list[Scored] = field(default_factory=list)
    first: list[Scored] = field(default_factory=list)
    baseline: list[Scored] = field(default_factory=list)
    recall5: list[float] = field(default_factory=list)
    index_build_s: float = 0.0

    def run(self, dataset: Dataset, questions: list[Question]) -> dict[str, float]:
        by_db: dict[str, list[Question]] = {}
        for q in questions:
            by_db.setdefault(q.database, []).append(q)
        examples = self._example_index(dataset) if self.settings.examples else None
        done, total = 0, len(questions)
        for name, qs in by_db.items():
            path = dataset.sqlite_files[name]
            execute = sqlite_executor(path)
            gold = {q: execute(q.sql) for q in qs}
            for q, result in gold.items():
                if not result.ok:
                    raise RuntimeError(f"gold SQL fails on {name}: {q.sql!r}: {result.error}")
            if self.settings.baseline:
                ddl = whole_schema_ddl(path)
                for q in qs:
                    self.baseline.append(self._baseline(q, ddl, execute, gold[q]))
            catalog = Catalog(source_type=dataset.catalog.source_type, databases=[dataset.catalog.database(name)])
            profiles = [p for p in dataset.profiles if p.database == name]
            values = [v for v in dataset.values if v.table.database == name]
            index = CatalogIndex.build(catalog, profiles, values, embedder=self.embedder)
            self.index_build_s += index.build_seconds
            names = [t.name for _, _, t in catalog.iter_tables()] + [
                c.name for _, _, t in catalog.iter_tables() for c in t.columns
            ]
            for q in qs:
                self._agent(q, catalog, index, profiles, values, examples, names, execute, gold[q])
                done += 1
                if self.progress:
                    b = self.baseline[-1].correct if self.settings.baseline else None
                    print(
                        f"[{done}/{total}] {name}: agent {'ok ' if self.agent[-1].correct else 'bad'} "
                        f"(calls {self.agent[-1].model_calls}, {self.agent[-1].seconds:.1f}s) running EX "
                        f"{Summary('a', self.agent).ex:.3f} baseline {Summary('b', self.baseline).ex:.3f}",
                        file=self.progress,
                        flush=True,
                    )
        return self.bench()

    def _example_index(self, dataset: Dataset) -> ExampleIndex:
        """Verified pairs from every dataset question; `similar(..., exclude_source=db)` keeps the question's own
        database out, so no example can leak its answer."""
        names_by_db: dict[str, list[str]] = {}
        for db, _, table in dataset.catalog.iter_tables():
            names_by_db.setdefault(db.name, []).extend([table.name, *(c.name for c in table.columns)])
        pairs = [Example(question=q.question, sql=q.sql, source=q.database) for q in dataset.questions]
        skeletons = [question_skeleton(q.question, names_by_db.get(q.database, ())) for q in dataset.questions]
        return ExampleIndex.build(pairs, skeletons)

    def _baseline(self, q: Question, ddl: str, execute: Callable[[str], ExecResult], gold: ExecResult) -> Scored:
        ctx = SqlContext(question=q.question, dialect="sqlite", schema_text=ddl)
        started = time.perf_counter()
        reply = self.model.chat(
            first_messages(ctx), response_format=SqlAnswer, temperature=0.0, max_tokens=MAX_SQL_TOKENS, seed=self.settings.seed
        )
        seconds = time.perf_counter() - started
        sql = clean_sql(reply.parsed.sql)
        correct, error = _correct(execute, sql, gold, gold_orders(q.sql))
        scored = Scored(
            q.database, q.question, sql, correct, seconds, reply.usage.seconds_in_model, reply.usage.model_calls,
            reply.usage.prompt_tokens, reply.usage.completion_tokens, error,
        )  # fmt: skip
        self._log("baseline", scored)
        return scored

    def _agent(
        self,
        q: Question,
        catalog: Catalog,
        index: CatalogIndex,
        profiles: list,
        values: list,
        examples: ExampleIndex | None,
        names: list[str],
        execute: Callable[[str], ExecResult],
        gold: ExecResult,
    ) -> None:
        s = self.settings
        started = time.perf_counter()
        hits = index.search(q.question, s.k, embedder=self.embedder)
        found = {h.table.lower() for h in hits}
        if s.prune == "agent":
            hits = choose_tables(hits)
        shots = (
            examples.similar(question_skeleton(q.question, names), s.examples, exclude_source=q.database)
            if examples
            else ()
        )
        ctx = build_context(
            q.question, "sqlite", catalog, [h.key for h in hits], profiles, values if s.link_values else (),
            examples=shots, samples=s.samples, link=s.link_values,
        )  # fmt: skip
        outcome = write_sql(
            self.model, ctx, execute, max_repairs=s.max_repairs, vote_when_doubtful=s.vote,
            vote_samples=s.vote_samples, seed=s.seed,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        self.recall5.append(len(q.gold & found) / len(q.gold))
        kept = {h.table.lower() for h in hits}
        ordered = gold_orders(q.sql)
        correct, error = _correct(execute, outcome.sql, gold, ordered)
        u = outcome.usage
        scored = Scored(
            q.database, q.question, outcome.sql, correct, seconds, u.seconds_in_model, u.model_calls,
            u.prompt_tokens, u.completion_tokens, error or outcome.error,
            extra={
                "attempts": [(a.kind, a.sql, a.error, a.row_count, list(a.hints)) for a in outcome.attempts],
                "voted": outcome.voted,
                "candidates": [(a.sql, a.error, a.row_count) for a in outcome.candidates],
                "tables": [h.table for h in hits],
                "value_hints": list(ctx.value_hints),
                "gold": q.sql,
            },
        )  # fmt: skip
        self.agent.append(scored)
        first_sql = outcome.attempts[0].sql if outcome.attempts else None
        first_ok, first_error = _correct(execute, first_sql, gold, ordered)
        self.first.append(
            Scored(q.database, q.question, first_sql, first_ok, 0.0, 0.0, 1, 0, 0, first_error)
        )
        scored.extra.update(first_correct=first_ok, recall=self.recall5[-1], kept_recall=len(q.gold & kept) / len(q.gold))
        self._log("agent", scored)

    def _log(self, kind: str, s: Scored) -> None:
        if self.details:
            row = {"kind": kind, "db": s.database, "question": s.question, "sql": s.sql, "correct": s.correct,
                   "seconds": round(s.seconds, 3), "model_seconds": round(s.model_seconds, 3),
                   "calls": s.model_calls, "prompt_tokens": s.prompt_tokens,
                   "completion_tokens": s.completion_tokens, "error": s.error, **s.extra}  # fmt: skip
            self.details.write(json.dumps(row, default=str) + "\n")
            self.details.flush()

    # -- reporting ----------------------------------------------------------------------------------------------------
    def load_details(self, rows: list[dict[str, Any]]) -> None:
        """The figures of earlier runs from their `--details` lines (runs split over databases, merged here): every
        question answered by the agent counts, with its baseline answer when one was logged."""
        seen: set[tuple[str, str, str]] = set()
        for row in rows:
            key = (row["kind"], row["db"], row["question"])
            if key in seen:
                continue  # a question answered by two runs counts once
            seen.add(key)
            extra = {k: v for k, v in row.items() if k not in _SCORED_KEYS}
            scored = Scored(
                row["db"], row["question"], row["sql"], bool(row["correct"]), float(row["seconds"]),
                float(row["model_seconds"]), int(row["calls"]), int(row.get("prompt_tokens", 0)),
                int(row.get("completion_tokens", 0)), row.get("error"), extra,
            )  # fmt: skip
            if row["kind"] == "baseline":
                self.baseline.append(scored)
                continue
            self.agent.append(scored)
            self.recall5.append(float(row["recall"]))
            first = Scored(row["db"], row["question"], None, bool(row["first_correct"]), 0.0, 0.0, 1, 0, 0)
            self.first.append(first)

    def bench(self) -> dict[str, float]:
        agent, base = Summary("agent", self.agent), Summary("baseline", self.baseline)
        return {
            "ex": round(agent.ex, 4),
            "baseline_ex": round(base.ex, 4),
            "recall_at_5": round(statistics.fmean(self.recall5), 4) if self.recall5 else 0.0,
            "model_calls_per_question": round(agent.mean("model_calls"), 3),
            "s_per_question": round(agent.mean("seconds"), 3),
            "baseline_s_per_question": round(base.mean("seconds"), 3),
            "overhead_ms_per_question": round(agent.mean("overhead_ms"), 2),
            "first_answer_ex": round(Summary("first", self.first).ex, 4),
            "questions": len(self.agent),
            "prompt_tokens_per_question": round(agent.mean("prompt_tokens"), 1),
            "completion_tokens_per_question": round(agent.mean("completion_tokens"), 1),
            "baseline_prompt_tokens_per_question": round(base.mean("prompt_tokens"), 1),
        }

    def table(self) -> str:
        agent, base, first = Summary("agent", self.agent), Summary("baseline", self.baseline), Summary("f", self.first)
        head = f"{'configuration':<58} {'EX':>6} {'s/q':>6} {'calls/q':>7} {'prompt tok/q':>12} {'compl tok/q':>11}"
        lines = [head]
        if self.baseline:
            lines.append(
                f"{'baseline: whole schema as CREATE TABLE, one answer':<58} {base.ex:>6.3f} {base.mean('seconds'):>6.2f} "
                f"{base.mean('model_calls'):>7.2f} {base.mean('prompt_tokens'):>12.0f} {base.mean('completion_tokens'):>11.0f}"
            )
        s = self.settings
        lines.append(
            f"{'agent first answer (search top-%d%s, compact schema%s)' % (s.k, ' cut' if s.prune == 'agent' else '', ', values' if s.link_values else ''):<58} "
            f"{first.ex:>6.3f} {'-':>6} {1.0:>7.2f} {'-':>12} {'-':>11}"
        )
        label = f"agent: + repair (<= {s.max_repairs})" + (" + vote when doubtful" if s.vote else "")
        if s.examples:
            label += f", {s.examples} examples"
        lines.append(
            f"{label:<58} {agent.ex:>6.3f} {agent.mean('seconds'):>6.2f} {agent.mean('model_calls'):>7.2f} "
            f"{agent.mean('prompt_tokens'):>12.0f} {agent.mean('completion_tokens'):>11.0f}"
        )
        overheads = sorted(r.overhead_ms for r in self.agent)
        if overheads:
            lines.append(
                f"agent overhead per question, model time excluded: mean {statistics.fmean(overheads):.1f} ms, "
                f"p50 {overheads[len(overheads) // 2]:.1f} ms, max {overheads[-1]:.1f} ms; "
                f"search recall@{s.k} {statistics.fmean(self.recall5):.3f}; index builds {self.index_build_s:.2f} s"
            )
            repaired = sum(1 for r in self.agent if len(r.extra.get("attempts", ())) > 1)
            voted = sum(1 for r in self.agent if r.extra.get("voted"))
            lines.append(f"questions repaired: {repaired}, voted: {voted}, of {len(self.agent)}")
        return "\n".join(lines)


def open_details(path: Path | None) -> TextIO | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")


__all__ = ["ModelSettings", "SqlEvaluation", "gold_orders", "open_details", "sqlite_executor", "whole_schema_ddl"]

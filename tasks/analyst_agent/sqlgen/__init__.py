"""The analyst agent's SQL writer: question + pruned schema -> a query that executed, repaired when it failed.

    ctx = build_context(question, "duckdb", catalog, [hit.key for hit in hits], profiles, values, examples=examples)
    outcome = write_sql(model, ctx, execute)          # execute(sql) -> ExecResult, the caller's guarded executor
    outcome.sql, outcome.columns, outcome.rows, outcome.error, outcome.attempts, outcome.model_calls

See README.md beside this file for the pipeline and what each part measured on spider-dev.
"""

from tasks.analyst_agent.sqlgen.compare import result_key, same_result
from tasks.analyst_agent.sqlgen.examples import ExampleIndex, question_skeleton, verified_examples
from tasks.analyst_agent.sqlgen.interfaces import (
    Attempt,
    Example,
    ExecResult,
    Executor,
    SqlAnswer,
    SqlContext,
    SqlGenError,
    SqlOutcome,
)
from tasks.analyst_agent.sqlgen.schema_text import build_context, link_values, render_schema
from tasks.analyst_agent.sqlgen.writer import write_sql

__all__ = [
    "Attempt",
    "Example",
    "ExampleIndex",
    "ExecResult",
    "Executor",
    "SqlAnswer",
    "SqlContext",
    "SqlGenError",
    "SqlOutcome",
    "build_context",
    "link_values",
    "question_skeleton",
    "render_schema",
    "result_key",
    "same_result",
    "verified_examples",
    "write_sql",
]

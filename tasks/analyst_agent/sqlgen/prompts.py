"""The prompts of the SQL writer: one fresh single-turn prompt per attempt, the stable part (instructions, schema)
first so the model server reuses its cached prefix, no request to reason step by step (it hurts models this small)."""

from __future__ import annotations

from typing import Any, Sequence

from tasks.analyst_agent.sqlgen.interfaces import SqlContext

DIALECT_NAMES = {
    "sqlite": "SQLite",
    "duckdb": "DuckDB",
    "postgres": "PostgreSQL",
    "postgresql": "PostgreSQL",
    "mysql": "MySQL",
    "mariadb": "MariaDB",
    "snowflake": "Snowflake",
    "bigquery": "BigQuery",
    "redshift": "Amazon Redshift",
    "databricks": "Databricks SQL",
    "sqlserver": "SQL Server",
    "tsql": "SQL Server",
}
MAX_SHOWN_ERROR = 500


def dialect_name(dialect: str) -> str:
    return DIALECT_NAMES.get(dialect.lower(), dialect)


def system_prompt(dialect: str) -> str:
    name = dialect_name(dialect)
    return (
        f"You write {name} SQL for a data analyst. Reply with a JSON object {{\"sql\": \"...\"}} holding one {name} "
        "SELECT statement that answers the question. Use only the tables and columns listed in the schema. "
        "Select only the columns the question asks for."
    )


def _context_block(ctx: SqlContext) -> str:
    parts = [f"Schema:\n{ctx.schema_text}"]
    if ctx.value_hints:
        parts.append("Values named in the question:\n" + "\n".join(f"- {line}" for line in ctx.value_hints))
    if ctx.examples:
        shown = "\n\n".join(f"Question: {e.question}\nSQL: {e.sql}" for e in ctx.examples)
        parts.append(f"Examples of questions and their SQL:\n{shown}")
    if ctx.history:
        parts.append("Earlier in this conversation:\n" + "\n".join(f"- {turn}" for turn in ctx.history))
    parts.append(f"Question: {ctx.question}")
    return "\n\n".join(parts)


def first_messages(ctx: SqlContext) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": system_prompt(ctx.dialect)},
        {"role": "user", "content": _context_block(ctx)},
    ]


def repair_messages(ctx: SqlContext, sql: str, error: str | None, hints: Sequence[str]) -> list[dict[str, Any]]:
    """A fresh prompt showing the failed attempt, what went wrong and the hints (not a chat continuation: at
    temperature 0 the small model answers a continued chat with the same query)."""
    problem = f"It failed with this error: {error[:MAX_SHOWN_ERROR]}" if error else "It returned no rows."
    lines = [_context_block(ctx), f"This query was wrong:\n{sql}", problem]
    if hints:
        lines.append("Hints:\n" + "\n".join(f"- {h}" for h in hints))
    lines.append("Write the corrected query.")
    return [
        {"role": "system", "content": system_prompt(ctx.dialect)},
        {"role": "user", "content": "\n\n".join(lines)},
    ]

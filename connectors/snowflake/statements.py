"""SQL the Snowflake connector rewrites besides the catalog: the pushed-down row limit and named parameters."""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from connectors.errors import QueryError


def with_row_limit(sql: str, max_rows: int, dialect: str = "snowflake") -> str:
    """Append `LIMIT max_rows+1` to a query that has no LIMIT/FETCH/TOP of its own, so the warehouse stops early.

    The +1 row tells the caller whether the result was truncated. SHOW/DESCRIBE/EXPLAIN and anything sqlglot cannot
    parse are returned unchanged (the cursor's fetchmany still bounds what is read). The user's text is kept byte for
    byte (only a trailing semicolon is cut) rather than regenerated from sqlglot's tree.
    """
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return sql
    if not isinstance(tree, exp.Query):
        return sql
    if tree.args.get("limit") or tree.args.get("fetch"):  # TOP n and FETCH FIRST parse into `limit` too
        return sql
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    if tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        sql = sql[: tokens[-1].start]
    return f"{sql}\nLIMIT {max_rows + 1}"


def bind_named_parameters(sql: str, params: dict[str, Any], dialect: str = "snowflake") -> tuple[str, list[Any]]:
    """`:name` placeholders + a dict -> `:1, :2, ...` + a list, for Snowflake's server-side binding.

    The connector binds on the server (paramstyle qmark: `?` or `:1` with a sequence), so values never become SQL
    text. Named parameters are turned into numbered ones through sqlglot's tree (a name used twice gets one number);
    `payload:field` variant paths are not placeholders in the tree and stay untouched.
    """
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError as exc:
        raise QueryError(f"cannot bind named parameters: the statement does not parse ({exc})", code="invalid_argument") from None
    numbers: dict[str, int] = {}
    missing: list[str] = []

    def renumber(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder):
            name = node.name
            if not name or name.isdigit():
                raise QueryError("do not mix positional placeholders with a dict of parameters", code="invalid_argument")
            if name not in params:
                missing.append(name)
                return node
            numbers.setdefault(name, len(numbers) + 1)
            return exp.Placeholder(this=str(numbers[name]))
        return node

    rewritten = tree.transform(renumber)
    if missing:
        raise QueryError(f"no value for parameter(s) {', '.join(sorted(set(missing)))}", code="invalid_argument")
    return rewritten.sql(dialect=dialect), [params[name] for name in numbers]

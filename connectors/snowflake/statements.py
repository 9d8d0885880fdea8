"""SQL the Snowflake connector rewrites or sends besides the catalog: the pushed-down row limit."""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType


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

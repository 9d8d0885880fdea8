"""Pushing the row limit into a guarded T-SQL statement.

SQL Server has no `LIMIT`; the limit goes in as `TOP (n)` after `SELECT [DISTINCT|ALL]` of the outermost query, or as
`OFFSET 0 ROWS FETCH NEXT n ROWS ONLY` after the final `ORDER BY` of a UNION/INTERSECT/EXCEPT. Wrapping the query in
`SELECT TOP (n) * FROM (...)` would break on CTEs, `ORDER BY` in a derived table and unnamed columns, and
re-generating the text from sqlglot's tree could change a query sqlglot does not round-trip exactly, so sqlglot's
AST only decides *where* the clause goes and the user's text is kept byte for byte around it.

Where neither form is safe (a set operation without ORDER BY, a parenthesised query, SHOW-like statements) the text
is left alone: the connector still fetches only `max_rows + 1` rows from the cursor and then cancels the statement,
so the server stops sending the rest.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

DIALECT = "tsql"


def push_row_limit(sql: str, max_rows: int) -> str:
    """`sql` (already accepted by the guard, so a single statement with no trailing comment) limited to max_rows+1."""
    limit = max_rows + 1
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except SqlglotError:
        return sql
    if isinstance(tree, exp.Select):
        if tree.args.get("limit") or tree.args.get("for_"):
            return sql  # TOP/FETCH of its own; FOR XML/JSON returns one document
        if tree.args.get("offset"):  # ORDER BY ... OFFSET n ROWS: TOP is not allowed with OFFSET
            return f"{sql}\nFETCH NEXT {limit} ROWS ONLY"
        position = _top_position(sql)
        if position is None:
            return sql
        return f"{sql[:position]} TOP ({limit}){sql[position:]}"
    if isinstance(tree, exp.SetOperation) and tree.args.get("order"):
        if tree.args.get("limit") or tree.args.get("offset"):
            return sql
        return f"{sql}\nOFFSET 0 ROWS FETCH NEXT {limit} ROWS ONLY"
    return sql


def _top_position(sql: str) -> int | None:
    """Character offset just after `SELECT [DISTINCT|ALL]` of the outermost query (CTE bodies sit in parentheses)."""
    tokens = sqlglot.Dialect.get_or_raise(DIALECT).tokenize(sql)
    depth = 0
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif token.token_type == TokenType.SELECT and depth == 0:
            end = token.end
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is not None and nxt.token_type in (TokenType.DISTINCT, TokenType.ALL):
                end = nxt.end
            return end + 1
    return None

"""What the Databricks connector sends besides the user's statement: the pushed LIMIT and the timeout setting.

The LIMIT follows the PostgreSQL connector's rule: sqlglot's AST (Databricks dialect) decides whether the statement is
a query without a LIMIT of its own, and `LIMIT max_rows+1` is appended to the user's text, which stays byte for byte
(Spark SQL takes a trailing LIMIT after ORDER BY and after a UNION, where it limits the whole result). SHOW and
DESCRIBE get no LIMIT; the cursor still fetches only max_rows+1 rows.
"""

from __future__ import annotations

import math

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

DIALECT = "databricks"
#: Databricks SQL accepts 0..172800 seconds (0 = no timeout)
MAX_STATEMENT_TIMEOUT_S = 172_800


def push_row_limit(sql: str, max_rows: int) -> str:
    """`sql` (accepted by the guard: one statement, no trailing comment) with `LIMIT max_rows+1` when it has none."""
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except SqlglotError:
        return sql
    if not isinstance(tree, exp.Query) or isinstance(tree, exp.Subquery):
        return sql
    if tree.args.get("limit") or tree.args.get("fetch"):
        return sql
    return f"{sql}\nLIMIT {max_rows + 1}"


def statement_timeout_seconds(timeout: float) -> int:
    return min(MAX_STATEMENT_TIMEOUT_S, max(1, math.ceil(timeout)))


def statement_timeout_sql(seconds: int) -> str:
    """The session setting that makes a SQL warehouse stop a statement after `seconds` (server side)."""
    return f"SET STATEMENT_TIMEOUT = {int(seconds)}"

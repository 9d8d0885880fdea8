"""What the DuckDB connector sends besides the user's statement: the pushed LIMIT and the source's own setup.

The LIMIT follows the PostgreSQL connector's rule: sqlglot's AST (DuckDB dialect) decides whether the statement is a
query without a LIMIT of its own, and `LIMIT max_rows+1` is appended to the user's text, which stays byte for byte
(DuckDB takes a trailing LIMIT after ORDER BY, after a UNION, and after its FROM-first `FROM t` form). DESCRIBE, SHOW
and EXPLAIN get no LIMIT; the result is streamed and only max_rows+1 rows are fetched.

The setup statements build the read-only sandbox the connection runs in (see `connection.py` for the order): they
name files, so every path and name is written as a sqlglot literal or quoted identifier, never pasted.
"""

from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

DIALECT = "duckdb"


def push_row_limit(sql: str, max_rows: int) -> str:
    """`sql` (accepted by the guard: one statement, no trailing semicolon or comment) with `LIMIT max_rows+1` when it
    is a query without LIMIT/FETCH of its own."""
    try:
        tree = sqlglot.parse_one(sql, read=DIALECT)
    except SqlglotError:
        return sql
    if not isinstance(tree, exp.Query) or isinstance(tree, exp.Subquery):
        return sql
    if tree.args.get("limit") or tree.args.get("fetch"):
        return sql
    return f"{sql}\nLIMIT {max_rows + 1}"


def literal(text: str) -> str:
    return exp.Literal.string(text).sql(dialect=DIALECT)


def identifier(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=DIALECT)


def attach_sql(path: Path, alias: str) -> str:
    return f"ATTACH {literal(str(path))} AS {identifier(alias)} (READ_ONLY)"


def file_view_sql(view: str, path: Path, reader: str) -> str:
    """A temporary view over one file, e.g. `CREATE TEMP VIEW "orders" AS SELECT * FROM read_parquet('/x.parquet')`."""
    return f"CREATE TEMP VIEW {identifier(view)} AS SELECT * FROM {reader}({literal(str(path))})"


def allowed_paths_sql(paths: list[Path]) -> str:
    return f"SET allowed_paths = [{', '.join(literal(str(p)) for p in paths)}]"


__all__ = ["allowed_paths_sql", "attach_sql", "file_view_sql", "identifier", "literal", "push_row_limit"]

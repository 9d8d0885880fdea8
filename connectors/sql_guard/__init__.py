"""The read-only SQL guard: every query a connector runs passes `check_read_only` first.

Why an AST and not regexes: a keyword inside a string literal or a comment is harmless, and a DELETE hidden in a CTE
is not; only a real parser for the source's dialect tells them apart. The guard parses with sqlglot and accepts a
statement only when all of this holds:

- it is exactly one statement by the dialect's own batch grammar: trailing semicolons and comments are fine; in T-SQL,
  where statements need no separator, a statement keyword is never a name (`SELECT 1 DELETE FROM t COMMIT`);
- it is a query (SELECT, WITH ... SELECT, set operations of queries, VALUES), SHOW, DESCRIBE, or EXPLAIN of a statement
  the guard itself accepts (EXPLAIN ANALYZE runs the statement, so EXPLAIN never excuses a write);
- nothing in its tree writes or has side effects: no DDL/DML anywhere (a data-modifying CTE is a DELETE all the same),
  no `SELECT ... INTO`, no row locks or lock hints, no session variable assigned, no sequence advanced, no staged or
  path-named file read, no statement sqlglot could only keep as an opaque `Command`;
- every function it calls is ALLOWED BY LIST for its dialect (`typed_functions`: the sqlglot classes reviewed as reads;
  `builtins`: each dialect's read-only built-ins by name), compared by the name the server resolves: escapes decoded
  (`U&"pg\\005fsleep"`), case folded as the dialect folds, qualifiers other than the built-ins' schema refused. Anything
  else (a user-defined function, a model call, a file reader) is refused naming it, unless the source lists it in its
  settings (`allowed_functions`).

Decisions worth knowing:

- SQL sqlglot cannot parse is never let through. When its leading keyword or a telltale token shows a write
  (`LOAD DATA`, `SELECT ... INTO OUTFILE`, `FROM (DELETE ...`), the refusal is a `ReadOnlyViolation` naming it;
  otherwise it is a `QueryError` with code `unparseable_sql`, because a typo is not an attack.
- A sleep (`pg_sleep`, MySQL `SLEEP`, Snowflake `SYSTEM$WAIT`) needs a constant number, may only stand in a statement
  that reads no table and calls nothing else (elsewhere it runs once per row), and all sleeps together must fit in the
  `timeout` the connector passes (`Connector.guard`).
- Where the server's reading of the text depends on a setting or is not documented beyond doubt (backslashes in
  strings, block-comment nesting, Redshift's `U&`), the statement must be read-only in every reading.
- MySQL executes `/*! ... */` comments: they are refused for the mysql dialect.
- The returned SQL is the caller's own text with trailing semicolons and trailing comments cut, so a connector can wrap
  it (`SELECT * FROM (<sql>) LIMIT n`) without re-generating it; nothing else is changed.
"""

from connectors.sql_guard.checker import check_read_only
from connectors.sql_guard.policy import resolve_dialect
from connectors.sql_guard.dialects import SUPPORTED_DIALECTS

__all__ = ["check_read_only", "resolve_dialect", "SUPPORTED_DIALECTS"]

"""The read-only SQL guard: every query a connector runs passes `check_read_only` first.

Why an AST and not regexes: a keyword inside a string literal or a comment is harmless, and a DELETE hidden in a
CTE is not; only a real parser for the source's dialect tells them apart. The guard parses with sqlglot and accepts a
statement only when all of this holds:

- it is exactly one statement (trailing semicolons and comments are fine);
- it is a query (SELECT, WITH ... SELECT, UNION/INTERSECT/EXCEPT of queries, VALUES), SHOW, DESCRIBE, or EXPLAIN of
  a statement the guard itself accepts (EXPLAIN ANALYZE runs the statement, so EXPLAIN never excuses a write);
- nothing in its tree writes or has side effects: no DML/DDL anywhere (a data-modifying CTE is a DELETE all the
  same), no `SELECT ... INTO`, no `FOR UPDATE/SHARE` row locks or SQL Server lock hints, no COPY, EXEC, SET, USE, no
  statement sqlglot could only keep as an opaque `Command`, and no function from the deny-list in
  `sql_guard_rules` (server control, sequences, advisory locks, files, remote SQL, unbounded sleeps).

Decisions worth knowing:

- SQL sqlglot cannot parse is never let through. When its leading keyword or a telltale token shows a write
  (`LOAD DATA`, `HANDLER`, `SELECT ... INTO OUTFILE`, `FROM (DELETE ...`), the refusal is a `ReadOnlyViolation`
  naming it; otherwise it is a `QueryError` with code `unparseable_sql`, because a typo is not an attack and the
  agent should fix its SQL rather than think it tried to write.
- A sleep (`pg_sleep`, MySQL `SLEEP`, Snowflake `SYSTEM$WAIT`) needs a constant argument; when a `timeout` is
  given it must also fit in it. Without a timeout the connector's server-side statement timeout bounds it.
- Where the server's string-escaping mode decides where a literal ends (PostgreSQL `standard_conforming_strings`,
  Redshift, MySQL `NO_BACKSLASH_ESCAPES`) and the SQL contains a backslash, the statement must also be read-only
  when tokenized the other way, so `'a\\'; DROP TABLE x; --'` cannot mean one thing here and another on the server.
- MySQL executes `/*! ... */` comments: they are refused for the mysql dialect.
- The returned SQL is the caller's own text with trailing semicolons and trailing comments cut, so a connector can
  wrap it (`SELECT * FROM (<sql>) LIMIT n`) without re-generating it; nothing else is changed.
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache
from typing import Iterable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, Tokenizer, TokenType

from connectors.errors import QueryError, ReadOnlyViolation, UnsupportedError
from connectors.sql_guard_rules import (
    DENIED_FUNCTION_PREFIXES,
    DENIED_FUNCTIONS,
    DENIED_NODE_TYPES,
    DENIED_NODES,
    DESCRIBE_ONLY_READS,
    DIALECT_ALIASES,
    EXPLAIN_OPTION_WORDS,
    MULTIWORD_STATEMENTS,
    NESTED_WRITE_KEYWORDS,
    READ_LEADERS,
    READ_ONLY_COMMANDS,
    READ_STATEMENT_TYPES,
    SLEEP_FUNCTIONS,
    SLEEP_UNITS_S,
    SNOWFLAKE_READ_ONLY_SYSTEM_PREFIXES,
    TSQL_LOCK_HINTS,
)

__all__ = ["check_read_only", "resolve_dialect", "SUPPORTED_DIALECTS"]

SUPPORTED_DIALECTS = frozenset(DIALECT_ALIASES.values())

# The other escaping mode, per dialect, whose reading must also be read-only when the SQL has a backslash.
_ALTERNATIVE_STRING_ESCAPES: dict[str, list[str]] = {
    "postgres": ["'", "\\"],  # standard_conforming_strings = off
    "redshift": ["'"],  # standard strings (and the PostgreSQL stand-in the Redshift tests use)
    "mysql": ["'", '"'],  # sql_mode NO_BACKSLASH_ESCAPES
}
_MYSQL_EXECUTABLE_COMMENT = re.compile(r"/\*M?!")


def resolve_dialect(dialect: str) -> str:
    """The sqlglot dialect name for a dialect or one of our source types ('sqlserver' -> 'tsql')."""
    name = DIALECT_ALIASES.get(str(dialect).strip().lower())
    if name is None:
        raise UnsupportedError(
            f"the SQL guard has no rules for dialect {dialect!r}; supported: {', '.join(sorted(DIALECT_ALIASES))}",
            details={"dialect": str(dialect)},
        )
    return name


def check_read_only(sql: str, dialect: str, *, timeout: float | None = None) -> str:
    """The SQL to run if it is a single read-only statement, else raise.

    Raises `ReadOnlyViolation` (with `.construct`, e.g. "DELETE", "SELECT INTO", "pg_terminate_backend") when the
    statement could change data or have side effects, `QueryError` (code `unparseable_sql` / `empty_sql`) when it
    cannot be verified, `UnsupportedError` for an unknown dialect.
    """
    if not isinstance(sql, str):
        raise QueryError(f"SQL must be a string, got {type(sql).__name__}", code="invalid_sql")
    if timeout is not None and not timeout > 0:
        raise ValueError("timeout must be a positive number of seconds or None")
    name = resolve_dialect(dialect)
    runnable = _Check(name, timeout, _tokenizer(name, None)).statement(sql)
    alternative = _ALTERNATIVE_STRING_ESCAPES.get(name)
    if alternative is not None and "\\" in sql:
        try:
            _Check(name, timeout, _tokenizer(name, tuple(alternative))).statement(sql)
        except ReadOnlyViolation as exc:
            raise ReadOnlyViolation(
                f"{exc.message} (when backslashes in string literals are read the other way, which depends on "
                "the server's string-escaping setting)",
                construct=exc.construct,
                details={**exc.details, "ambiguous_escaping": True},
            ) from None
        except QueryError:
            pass  # that reading does not even parse: the server would reject it too, nothing would run
    return runnable


@lru_cache(maxsize=None)
def _dialect(name: str) -> Dialect:
    return Dialect.get_or_raise(name)


@lru_cache(maxsize=None)
def _tokenizer_class(name: str, string_escapes: tuple[str, ...] | None) -> type[Tokenizer]:
    base = _dialect(name).tokenizer_class
    if string_escapes is None:
        return base
    # A subclass re-derives the tokenizer's escape tables from STRING_ESCAPES (sqlglot's tokenizer metaclass).
    return type(f"{base.__name__}GuardEscapes", (base,), {"STRING_ESCAPES": list(string_escapes)})


def _tokenizer(name: str, string_escapes: tuple[str, ...] | None) -> Tokenizer:
    # Tokenizers keep per-call state, so a fresh one per check keeps the guard thread-safe.
    return _tokenizer_class(name, string_escapes)(dialect=_dialect(name))


def _violation(construct: str, what: str, **details: object) -> ReadOnlyViolation:
    return ReadOnlyViolation(f"read-only violation: {what}", construct=construct, details=dict(details))


def _unparseable(dialect: str, reason: str) -> QueryError:
    return QueryError(
        f"the SQL guard could not parse this statement as {dialect} SQL, so it was not run: {reason}",
        code="unparseable_sql",
        details={"dialect": dialect},
    )


def _word(token: Token) -> str:
    return token.text.upper()


def _statement_name(tokens: list[Token]) -> str:
    """'DELETE', 'LOAD DATA', ... from a statement's leading keywords."""
    if not tokens:
        return "empty statement"
    first = _word(tokens[0])
    if len(tokens) > 1 and (first, _word(tokens[1])) in MULTIWORD_STATEMENTS:
        return f"{first} {_word(tokens[1])}"
    return first


class _Check:
    """One pass over one SQL text with one tokenizer."""

    def __init__(self, dialect: str, timeout: float | None, tokenizer: Tokenizer) -> None:
        self.dialect = dialect
        self.timeout = timeout
        self.tokenizer = tokenizer

    # -- text and tokens -------------------------------------------------------------------------------------------
    def statement(self, sql: str) -> str:
        try:
            tokens = self.tokenizer.tokenize(sql)
        except TokenError as exc:
            raise _unparseable(self.dialect, str(exc).splitlines()[0]) from None
        start, end = 0, len(tokens)
        while start < end and tokens[start].token_type == TokenType.SEMICOLON:
            start += 1
        while end > start and tokens[end - 1].token_type == TokenType.SEMICOLON:
            end -= 1
        body = tokens[start:end]
        if not body:
            raise QueryError("there is no SQL statement to run (empty or only comments)", code="empty_sql")
        if self.dialect == "mysql":
            self._refuse_executable_comments(sql, tokens)
        self._refuse_multiple_statements(body)
        self._check_tree(self._parse(sql, body), body, sql)
        text_start = tokens[start - 1].end + 1 if start else 0
        return sql[text_start : body[-1].end + 1]

    @staticmethod
    def _refuse_executable_comments(sql: str, tokens: list[Token]) -> None:
        # MySQL runs the text of /*! ... */ (and MariaDB /*M! ... */) comments; a hidden FOR UPDATE or a second
        # statement there is invisible to any parser. Only matches outside string literals and identifiers count.
        starts = [t.start for t in tokens]
        for match in _MYSQL_EXECUTABLE_COMMENT.finditer(sql):
            i = bisect.bisect_right(starts, match.start()) - 1
            if i >= 0 and tokens[i].start <= match.start() <= tokens[i].end:
                continue
            raise _violation(
                "executable comment",
                "MySQL executable comment (/*! ... */): the server runs its contents, the guard cannot see them",
            )

    @staticmethod
    def _refuse_multiple_statements(body: list[Token]) -> None:
        chunks: list[list[Token]] = [[]]
        for token in body:
            if token.token_type == TokenType.SEMICOLON:
                chunks.append([])
            else:
                chunks[-1].append(token)
        chunks = [c for c in chunks if c]
        if len(chunks) > 1:
            names = "; ".join(_statement_name(c) for c in chunks)
            raise _violation(
                "multiple statements",
                f"{len(chunks)} statements ({names}); only one statement may run",
                statements=len(chunks),
            )

    def _parse(self, sql: str, body: list[Token]) -> exp.Expression:
        try:
            parsed = [e for e in _dialect(self.dialect).parser().parse(body, sql) if e is not None]
        except ParseError as exc:
            if self.dialect in DESCRIBE_ONLY_READS and _word(body[0]) in ("DESCRIBE", "DESC"):
                return exp.Command(this="DESCRIBE")  # metadata only in this dialect (e.g. DESCRIBE DETAIL t)
            raise self._classify_unparseable(body, exc) from None
        if len(parsed) != 1:  # the tokens had no inner semicolon, so sqlglot should see one statement
            raise _violation("multiple statements", f"{len(parsed)} statements; only one statement may run")
        return parsed[0]

    def _classify_unparseable(self, body: list[Token], exc: ParseError) -> Exception:
        """A refusal for SQL sqlglot could not parse: a violation when it shows a write, else a QueryError."""
        leader = _word(body[0])
        if leader not in READ_LEADERS:
            name = _statement_name(body)
            return _violation(name, f"{name} is not a read-only statement (sqlglot could not parse it either)")
        words = [_word(t) for t in body]
        for i, word in enumerate(words):
            if word == "INTO":
                target = words[i + 1] if i + 1 < len(words) else ""
                construct = f"SELECT INTO {target}" if target in ("OUTFILE", "DUMPFILE") else "SELECT INTO"
                return _violation(construct, f"{construct} writes its result somewhere")
            if word in NESTED_WRITE_KEYWORDS and i > 0 and words[i - 1] == "(":
                return _violation(word, f"{word} inside a subquery")
        errors = getattr(exc, "errors", None) or []
        reason = errors[0].get("description", str(exc)) if errors else str(exc).splitlines()[0]
        return _unparseable(self.dialect, reason)

    # -- the tree ----------------------------------------------------------------------------------------------------
    def _check_tree(self, tree: exp.Expression, body: list[Token], sql: str) -> None:
        if isinstance(tree, exp.Command):
            keyword = str(tree.this or "").upper()
            if keyword in READ_ONLY_COMMANDS:
                return
            if keyword == "EXPLAIN":
                self._check_explain(body, sql)
                return
            name = _statement_name(body)
            raise _violation(name, f"{name} is not a read-only statement")
        if not isinstance(tree, READ_STATEMENT_TYPES):
            if isinstance(tree, DENIED_NODE_TYPES):
                self._refuse_node(tree)
            name = _statement_name(body)
            raise _violation(
                name, f"{name} is not a read-only statement (allowed: SELECT, WITH, VALUES, SHOW, DESCRIBE, EXPLAIN)"
            )
        for node in tree.walk():
            if isinstance(node, DENIED_NODE_TYPES):
                self._refuse_node(node)
            elif isinstance(node, exp.Func):
                self._check_function(node)
            elif isinstance(node, exp.WithTableHint):
                self._check_table_hints(node)
            elif isinstance(node, exp.Column) and self.dialect == "snowflake":
                self._check_snowflake_sequence(node)

    def _check_explain(self, body: list[Token], sql: str) -> None:
        # sqlglot keeps everything after EXPLAIN as one raw string token: tokenize it to skip the options, then
        # check the explained statement as a statement of its own.
        rest = sql[body[0].end + 1 : body[-1].end + 1]
        try:
            tokens = self.tokenizer.tokenize(rest)
        except TokenError as exc:
            raise _unparseable(self.dialect, str(exc).splitlines()[0]) from None
        i, analyze = 0, False
        while i < len(tokens):
            word = _word(tokens[i])
            if word == "(" and i == 0:  # PostgreSQL: EXPLAIN (ANALYZE, BUFFERS) ...
                depth = 0
                for j in range(i, len(tokens)):
                    depth += {"(": 1, ")": -1}.get(tokens[j].text, 0)
                    analyze = analyze or _word(tokens[j]) in ("ANALYZE", "ANALYSE")
                    if depth == 0:
                        i = j + 1
                        break
                else:
                    raise _unparseable(self.dialect, "unbalanced parentheses after EXPLAIN")
                continue
            if word not in EXPLAIN_OPTION_WORDS:
                break
            analyze = analyze or word in ("ANALYZE", "ANALYSE")
            i += 1
        if i >= len(tokens):
            raise _unparseable(self.dialect, "EXPLAIN without a statement")
        label = "EXPLAIN ANALYZE" if analyze else "EXPLAIN"
        try:
            _Check(self.dialect, self.timeout, self.tokenizer).statement(rest[tokens[i].start :])
        except ReadOnlyViolation as exc:
            why = "EXPLAIN ANALYZE runs the statement" if analyze else "only read-only statements may be explained"
            detail = exc.message.removeprefix("read-only violation: ").removesuffix(" is not a read-only statement")
            raise _violation(exc.construct, f"{detail} inside {label} ({why})", explain=label) from None

    def _refuse_node(self, node: exp.Expression) -> None:
        construct = self._construct(node)
        context = self._context(node)
        what = {
            "SELECT INTO": "SELECT ... INTO writes its result into a table, file or variable",
            "FOR UPDATE": "FOR UPDATE takes row locks",
            "FOR SHARE": "FOR SHARE / LOCK IN SHARE MODE takes row locks",
            "NEXT VALUE FOR": "NEXT VALUE FOR advances a sequence",
        }.get(construct)
        if what is None and isinstance(node, exp.Execute):
            what = f"EXECUTE {node.this.sql(self.dialect) if isinstance(node.this, exp.Expression) else ''}".rstrip()
            what += " runs a stored procedure or dynamic SQL"
        if what is None:
            what = construct if context else f"{construct} is not a read-only statement"
        raise _violation(construct, f"{what}{context}")

    @staticmethod
    def _construct(node: exp.Expression) -> str:
        if isinstance(node, exp.Command):
            return str(node.this or "COMMAND").upper()
        if isinstance(node, exp.Lock) and not node.args.get("update"):
            return "FOR SHARE"
        if isinstance(node, exp.Into):
            return "SELECT INTO"
        return DENIED_NODES.get(type(node).__name__) or next(
            (DENIED_NODES[c.__name__] for c in type(node).__mro__ if c.__name__ in DENIED_NODES),
            type(node).__name__.upper(),
        )

    def _context(self, node: exp.Expression) -> str:
        """' inside a CTE (WITH d AS (DELETE …))' for a nested construct, '' at the top."""
        construct = self._construct(node)
        parent = node.parent
        while parent is not None:
            if isinstance(parent, exp.CTE):
                return f" inside a CTE (WITH {parent.alias or '…'} AS ({construct} …))"
            if isinstance(parent, exp.Subquery):
                return " inside a subquery"
            if isinstance(parent, exp.Describe):
                if str(parent.args.get("style") or "").upper() == "ANALYZE":
                    return " inside EXPLAIN ANALYZE (EXPLAIN ANALYZE runs the statement)"
                return " inside EXPLAIN/DESCRIBE"
            parent = parent.parent
        return ""

    # -- functions and hints -------------------------------------------------------------------------------------------
    def _check_function(self, node: exp.Func) -> None:
        name = _function_name(node)
        if not name:
            return
        if name in SLEEP_FUNCTIONS:
            self._check_sleep(node, name)
            return
        reason = DENIED_FUNCTIONS.get(name)
        if reason is None:
            reason = next((r for p, r in DENIED_FUNCTION_PREFIXES.items() if name.startswith(p)), None)
        if reason is None and name.startswith("system$"):
            if not name.startswith(SNOWFLAKE_READ_ONLY_SYSTEM_PREFIXES):
                reason = "Snowflake system function with side effects (only known read-only SYSTEM$ functions run)"
        if reason is not None:
            raise _violation(name, f"{name}() {reason}{self._context_of_function(node)}", function=name)

    @staticmethod
    def _context_of_function(node: exp.Expression) -> str:
        """' (inside the CTE s)' for a call in a CTE body, '' elsewhere."""
        cte = node.find_ancestor(exp.CTE)
        if cte is None:
            return ""
        return f" (inside the CTE {cte.alias})" if cte.alias else " (inside a CTE)"

    def _check_sleep(self, node: exp.Func, name: str) -> None:
        amount_index, unit_index = SLEEP_FUNCTIONS[name]
        args = _function_args(node)
        seconds = _constant_number(args[amount_index]) if len(args) > amount_index else None
        if seconds is not None and unit_index is not None and len(args) > unit_index:
            unit = _constant_string(args[unit_index])
            factor = SLEEP_UNITS_S.get((unit or "").upper())
            seconds = seconds * factor if factor is not None else None
        if seconds is None:
            raise _violation(name, f"{name}() with a non-constant argument cannot be bounded", function=name)
        if self.timeout is not None and seconds > self.timeout:
            raise _violation(
                name,
                f"{name}({seconds:g}) sleeps beyond the {self.timeout:g} s timeout",
                function=name,
                seconds=seconds,
                timeout=self.timeout,
            )

    @staticmethod
    def _check_table_hints(node: exp.WithTableHint) -> None:
        for hint in node.expressions:
            word = hint.name.upper() if isinstance(hint, (exp.Var, exp.Identifier, exp.Column)) else ""
            if word in TSQL_LOCK_HINTS:
                raise _violation(word, f"table hint WITH ({word}) takes locks")

    @staticmethod
    def _check_snowflake_sequence(node: exp.Column) -> None:
        # Snowflake reads a sequence as `seq.NEXTVAL`, which advances it.
        ident = node.this
        if node.table and isinstance(ident, exp.Identifier) and not ident.quoted and ident.name.upper() == "NEXTVAL":
            raise _violation("NEXTVAL", f"{node.table}.NEXTVAL advances a sequence")


# -- helpers on function nodes ----------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _typed_function_names(cls: type[exp.Func]) -> tuple[str, ...]:
    return tuple(n.lower() for n in cls.sql_names())


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        this = node.this
        return (this.name if isinstance(this, exp.Identifier) else str(this)).lower()
    names = _typed_function_names(type(node))
    # A typed function (sqlglot knows it) is checked by each of its names, so a future `exp.Sleep` stays caught.
    for n in names:
        if n in SLEEP_FUNCTIONS or n in DENIED_FUNCTIONS:
            return n
    return names[0] if names else ""


def _function_args(node: exp.Func) -> list[exp.Expression]:
    if isinstance(node, exp.Anonymous):
        return list(node.expressions)
    args: Iterable[object] = (node.args.get(k) for k in node.arg_types)
    return [a for a in args if isinstance(a, exp.Expression)]


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, (exp.Cast, exp.Paren)):
        node = node.this
    return node


def _constant_number(node: exp.Expression) -> float | None:
    node = _unwrap(node)
    sign = 1.0
    if isinstance(node, exp.Neg):
        sign, node = -1.0, _unwrap(node.this)
    if not isinstance(node, exp.Literal):
        return None
    try:
        return sign * float(node.this)
    except (TypeError, ValueError):
        return None


def _constant_string(node: exp.Expression) -> str | None:
    node = _unwrap(node)
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    if isinstance(node, (exp.Var, exp.Identifier, exp.Column)):
        return node.name
    return None

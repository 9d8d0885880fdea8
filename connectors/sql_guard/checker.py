"""The walk: one SQL text, one reading of it, every node of its tree held against the policy."""

from __future__ import annotations

import bisect
import math
import re
from typing import Iterable

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, Tokenizer, TokenType

from connectors.errors import QueryError, ReadOnlyViolation
from connectors.sql_guard.calls import CallChecks
from connectors.sql_guard.dialects import RULES
from connectors.sql_guard.names import BadEscape, has_unicode_escapes, name_key, rewrite_unicode_escapes
from connectors.sql_guard.policy import (
    resolve_dialect,
    sqlglot_dialect,
    tokenizer,
    unparseable,
    user_allowed,
    violation,
)
from connectors.sql_guard.statements import (
    DENIED_NODE_TYPES,
    DENIED_NODES,
    EXPLAIN_OPTION_WORDS,
    MULTIWORD_STATEMENTS,
    NESTED_WRITE_KEYWORDS,
    READ_LEADERS,
    READ_ONLY_COMMANDS,
    READ_STATEMENT_TYPES,
    TSQL_LOCK_HINTS,
    TSQL_STATEMENT_KEYWORDS,
)

_MYSQL_EXECUTABLE_COMMENT = re.compile(r"/\*M?!")
_QUOTED_TOKENS = frozenset(
    {
        TokenType.IDENTIFIER,
        TokenType.STRING,
        TokenType.NATIONAL_STRING,
        TokenType.RAW_STRING,
        TokenType.HEREDOC_STRING,
        TokenType.UNICODE_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.BYTE_STRING,
    }
)
_FILE_LIKE_NAME = re.compile(r"[./\\:*?]")
_SEQUENCE_PSEUDO_COLUMNS = frozenset({"nextval"})

def check_read_only(
    sql: str,
    dialect: str,
    *,
    timeout: float | None = None,
    allowed_functions: Iterable[str] = (),
) -> str:
    """The SQL to run if it is a single read-only statement, else raise.

    `timeout` (seconds) bounds the sleeps a statement may hold; `allowed_functions` are the source's own read-only
    functions (`"my_udf"`, `"analytics.my_udf"`), matched on their whole (dotted) name as the dialect folds it.

    Raises `ReadOnlyViolation` (with `.construct`, e.g. "DELETE", "SELECT INTO", "pg_terminate_backend") when the
    statement could change data or have side effects, `QueryError` (code `unparseable_sql` / `empty_sql`) when it
    cannot be verified, `UnsupportedError` for an unknown dialect, `ValueError` for a bad timeout or allow-list entry.
    """
    if not isinstance(sql, str):
        raise QueryError(f"SQL must be a string, got {type(sql).__name__}", code="invalid_sql")
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise ValueError("timeout must be a positive number of seconds or None")
    name = resolve_dialect(dialect)
    rules = RULES[name]
    user = user_allowed(name, tuple(allowed_functions))
    decode = rules.unicode_identifiers != "no"
    runnable = _Check(name, timeout, user, tokenizer(name), decode).statement(sql)

    alternatives: list[tuple[str, _Check]] = []
    if rules.unicode_identifiers == "both" and ("&" in sql or "UESCAPE" in sql.upper()):
        alternatives.append(("when U&\"...\" is not read as one escaped name", _Check(name, timeout, user, tokenizer(name), False)))
    if rules.alternative_string_escapes is not None and "\\" in sql:
        alternatives.append(
            (
                "when backslashes in string literals are read the other way, which depends on the server's "
                "string-escaping setting",
                _Check(name, timeout, user, tokenizer(name, escapes=rules.alternative_string_escapes), decode),
            )
        )
    if rules.nesting_uncertain and sql.count("/*") >= 2:
        alternatives.append(
            ("when block comments are read with the other nesting rule", _Check(name, timeout, user, tokenizer(name, flip_nesting=True), decode))
        )
    for why, check in alternatives:
        try:
            check.statement(sql)
        except ReadOnlyViolation as exc:
            raise ReadOnlyViolation(
                f"{exc.message} ({why})",
                construct=exc.construct,
                details={**exc.details, "ambiguous_reading": True, "ambiguous_escaping": "backslash" in why},
            ) from None
        except QueryError:
            pass  # that reading does not even parse: a server reading it so would reject it, nothing would run
    return runnable


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


class _Check(CallChecks):
    """One reading of one SQL text."""

    def __init__(self, name: str, timeout: float | None, user: frozenset[str], tokenizer: Tokenizer, decode: bool) -> None:
        self.name = name
        self.rules = rules = RULES[name]
        self.dialect = rules.sqlglot
        self.timeout = timeout
        self.user = user
        self.tokenizer = tokenizer
        self.decode = decode
        self.tokens: list[Token] = []
        self._starts: dict[int, int] | None = None
        self.sleeps: list[tuple[str, float]] = []
        self.other_calls = 0

    # -- text and tokens -------------------------------------------------------------------------------------------
    def statement(self, sql: str) -> str:
        tokens = self._tokenize(sql)
        start, end = 0, len(tokens)
        while start < end and tokens[start].token_type == TokenType.SEMICOLON:
            start += 1
        while end > start and tokens[end - 1].token_type == TokenType.SEMICOLON:
            end -= 1
        body = tokens[start:end]
        if not body:
            raise QueryError("there is no SQL statement to run (empty or only comments)", code="empty_sql")
        if self.rules.executable_comments:
            self._refuse_executable_comments(sql, tokens)
        self._refuse_multiple_statements(body)
        if self.rules.statements_need_no_separator and _word(body[0]) in READ_LEADERS:
            self._refuse_batch_keywords(body)  # (a statement that does not even start as a read is refused below)
        text, parse_body = sql, body
        if self.decode and has_unicode_escapes(body):
            try:
                text = rewrite_unicode_escapes(sql, tokens)
            except BadEscape as exc:
                raise unparseable(self.dialect, str(exc)) from None
            parse_body = [t for t in self._tokenize(text) if t.token_type != TokenType.SEMICOLON]
        self.tokens = parse_body
        self._check_tree(self._parse(text, parse_body), parse_body, text)
        text_start = tokens[start - 1].end + 1 if start else 0
        return sql[text_start : body[-1].end + 1]

    def _tokenize(self, sql: str) -> list[Token]:
        try:
            return self.tokenizer.tokenize(sql)
        except TokenError as exc:
            raise unparseable(self.dialect, str(exc).splitlines()[0]) from None

    @staticmethod
    def _refuse_executable_comments(sql: str, tokens: list[Token]) -> None:
        # MySQL runs the text of /*! ... */ (and MariaDB /*M! ... */) comments; a hidden FOR UPDATE or a second
        # statement there is invisible to any parser. Only matches outside string literals and identifiers count.
        starts = [t.start for t in tokens]
        for match in _MYSQL_EXECUTABLE_COMMENT.finditer(sql):
            i = bisect.bisect_right(starts, match.start()) - 1
            if i >= 0 and tokens[i].start <= match.start() <= tokens[i].end:
                continue
            raise violation(
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
            raise violation(
                "multiple statements",
                f"{len(chunks)} statements ({names}); only one statement may run",
                statements=len(chunks),
            )

    @staticmethod
    def _refuse_batch_keywords(body: list[Token]) -> None:
        # T-SQL: `SELECT 1 DELETE FROM t COMMIT` is three statements to the server, whatever sqlglot makes of it.
        for token in body[1:]:
            word = token.text.upper()
            if token.token_type not in _QUOTED_TOKENS and word in TSQL_STATEMENT_KEYWORDS:
                raise violation(
                    "multiple statements",
                    f"{word} starts a new statement in a T-SQL batch (no separator is needed there), so it cannot be "
                    f"a name; quote a name that is spelled so ([{token.text}])",
                    keyword=word,
                )

    def _parse(self, sql: str, body: list[Token]) -> exp.Expression:
        try:
            parsed = [e for e in sqlglot_dialect(self.name).parser().parse(body, sql) if e is not None]
        except ParseError as exc:
            if self.rules.describe_only_reads and _word(body[0]) in ("DESCRIBE", "DESC"):
                return exp.Command(this="DESCRIBE")  # metadata only in this dialect (e.g. DESCRIBE DETAIL t)
            raise self._classify_unparseable(body, exc) from None
        if len(parsed) != 1:  # the tokens had no inner semicolon, so sqlglot should see one statement
            raise violation("multiple statements", f"{len(parsed)} statements; only one statement may run")
        return parsed[0]

    def _classify_unparseable(self, body: list[Token], exc: ParseError) -> Exception:
        """A refusal for SQL sqlglot could not parse: a violation when it shows a write, else a QueryError."""
        leader = _word(body[0])
        if leader not in READ_LEADERS:
            name = _statement_name(body)
            return violation(name, f"{name} is not a read-only statement (sqlglot could not parse it either)")
        words = [_word(t) if t.token_type not in _QUOTED_TOKENS else "" for t in body]
        for i, word in enumerate(words):
            if word == "INTO":
                target = words[i + 1] if i + 1 < len(words) else ""
                construct = f"SELECT INTO {target}" if target in ("OUTFILE", "DUMPFILE") else "SELECT INTO"
                return violation(construct, f"{construct} writes its result somewhere")
            if word in NESTED_WRITE_KEYWORDS and i > 0 and words[i - 1] == "(":
                return violation(word, f"{word} inside a subquery")
            if word == "NEXT" and words[i + 1 : i + 3] == ["VALUE", "FOR"]:
                return violation("NEXT VALUE FOR", "NEXT VALUE FOR advances a sequence")
        errors = getattr(exc, "errors", None) or []
        reason = errors[0].get("description", str(exc)) if errors else str(exc).splitlines()[0]
        return unparseable(self.dialect, reason)

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
            raise violation(name, f"{name} is not a read-only statement")
        if not isinstance(tree, READ_STATEMENT_TYPES):
            if isinstance(tree, DENIED_NODE_TYPES):
                self._refuse_node(tree)
            name = _statement_name(body)
            raise violation(
                name, f"{name} is not a read-only statement (allowed: SELECT, WITH, VALUES, SHOW, DESCRIBE, EXPLAIN)"
            )
        has_rows = False
        # Optimizer hints (`/*+ MAX_EXECUTION_TIME(1000) */`) are directives, not calls: not walked into.
        for node in tree.walk(prune=lambda n: isinstance(n, exp.Hint)):
            if isinstance(node, DENIED_NODE_TYPES):
                self._refuse_node(node)
            elif isinstance(node, exp.Func):
                self._check_function(node)
            elif isinstance(node, exp.Table):
                has_rows = True
                self._check_table(node)
            elif isinstance(node, (exp.From, exp.Join, exp.Lateral)):
                has_rows = True
            elif isinstance(node, exp.Column):
                self._check_column(node)
            elif isinstance(node, exp.PropertyEQ):
                self._check_assignment(node)
            elif isinstance(node, exp.EQ) and self.rules.statements_need_no_separator:
                self._check_tsql_assignment(node)
            elif isinstance(node, exp.WithTableHint):
                self._check_table_hints(node)
        if self.sleeps:
            self._check_sleeps(tree, has_rows)

    def _check_explain(self, body: list[Token], sql: str) -> None:
        # sqlglot keeps everything after EXPLAIN as one raw string token: tokenize it to skip the options, then
        # check the explained statement as a statement of its own.
        rest = sql[body[0].end + 1 : body[-1].end + 1]
        tokens = self._tokenize(rest)
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
                    raise unparseable(self.dialect, "unbalanced parentheses after EXPLAIN")
                continue
            if word not in EXPLAIN_OPTION_WORDS:
                break
            analyze = analyze or word in ("ANALYZE", "ANALYSE")
            i += 1
        if i >= len(tokens):
            raise unparseable(self.dialect, "EXPLAIN without a statement")
        label = "EXPLAIN ANALYZE" if analyze else "EXPLAIN"
        try:
            _Check(self.name, self.timeout, self.user, self.tokenizer, self.decode).statement(rest[tokens[i].start :])
        except ReadOnlyViolation as exc:
            why = "EXPLAIN ANALYZE runs the statement" if analyze else "only read-only statements may be explained"
            detail = exc.message.removeprefix("read-only violation: ").removesuffix(" is not a read-only statement")
            raise violation(exc.construct, f"{detail} inside {label} ({why})", explain=label) from None

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
        raise violation(construct, f"{what}{context}")

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

    # -- tables, columns, variables, hints --------------------------------------------------------------------------
    def _check_table(self, node: exp.Table) -> None:
        this = node.this
        if isinstance(this, exp.Var) and str(this.name).startswith("@"):
            raise violation("stage", f"{this.name} reads files from a stage")
        if isinstance(this, exp.Literal):
            raise violation("file", f"FROM '{this.name}' reads a file by its path")
        if self.name == "duckdb" and isinstance(this, exp.Identifier) and _FILE_LIKE_NAME.search(this.name):
            raise violation(
                "file", f'FROM "{this.name}" reads a file by its path in DuckDB (tables are exposed as views instead)'
            )
        if (
            self.rules.file_reading_relations
            and isinstance(this, exp.Identifier)
            and name_key(this.name, bool(this.quoted), self.rules.folding) in self.rules.file_reading_relations
        ):
            raise violation(this.name.lower(), f"{this.name} reads the server's configuration files")
        db = node.args.get("db")
        if (
            self.rules.path_reading_schemas
            and isinstance(db, exp.Identifier)
            and db.name.lower() in self.rules.path_reading_schemas
            and node.args.get("catalog") is None
        ):
            raise violation("file", f"{db.name}.`{node.name}` reads files by their path")

    def _check_column(self, node: exp.Column) -> None:
        # Snowflake and MariaDB read `seq.NEXTVAL` as the next value of a sequence, which advances it.
        if node.args.get("table") is not None and node.name.lower() in _SEQUENCE_PSEUDO_COLUMNS:
            raise violation("NEXTVAL", f"{node.sql(self.dialect)} advances a sequence")

    @staticmethod
    def _check_assignment(node: exp.PropertyEQ) -> None:
        if isinstance(node.this, (exp.Parameter, exp.SessionParameter)):
            raise violation(":=", f"{node.this.sql()} := … assigns a session variable")

    def _check_tsql_assignment(self, node: exp.EQ) -> None:
        parent = node.parent
        if isinstance(parent, exp.Select) and node.arg_key == "expressions" and isinstance(node.this, exp.Parameter):
            raise violation("variable assignment", f"SELECT {node.this.sql(self.dialect)} = … assigns a variable")

    @staticmethod
    def _check_table_hints(node: exp.WithTableHint) -> None:
        for hint in node.expressions:
            word = hint.name.upper() if isinstance(hint, (exp.Var, exp.Identifier, exp.Column)) else ""
            if word in TSQL_LOCK_HINTS:
                raise violation(word, f"table hint WITH ({word}) takes locks")

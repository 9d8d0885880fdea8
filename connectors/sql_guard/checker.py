"""The walk: one SQL text, one reading of it, every node of its tree held against the policy."""

from __future__ import annotations

import bisect
import math
import re
from functools import lru_cache
from typing import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import Token, Tokenizer, TokenType

from connectors.errors import QueryError, ReadOnlyViolation, UnsupportedError
from connectors.sql_guard.builtins import (
    BUILTINS,
    KNOWN_SIDE_EFFECTS,
    ONLY_WITHOUT_ARGUMENTS,
    REFUSED_HERE,
    SLEEP_UNITS_S,
    SLEEPS,
)
from connectors.sql_guard.dialects import DIALECT_ALIASES, RULES, DialectRules
from connectors.sql_guard.names import (
    BadEscape,
    decode_backslash_escapes,
    has_unicode_escapes,
    name_key,
    rewrite_unicode_escapes,
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
from connectors.sql_guard.typed_functions import ALLOWED_CLASSES, NAMED_CALLS, REFUSED_CLASSES, WRAPPERS

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
# Operators and syntax sqlglot models as functions: they call nothing by name.
_SYNTAX_FUNCTIONS = (exp.And, exp.Or, exp.Xor, exp.Pow, exp.Cast, exp.TryCast, exp.Case, exp.If, exp.Exists)
_FILE_LIKE_NAME = re.compile(r"[./\\:*?]")
_SEQUENCE_PSEUDO_COLUMNS = frozenset({"nextval"})


def resolve_dialect(dialect: str) -> str:
    """The guard's dialect name for a dialect or one of our source types ('sqlserver' -> 'tsql')."""
    name = DIALECT_ALIASES.get(str(dialect).strip().lower())
    if name is None:
        raise UnsupportedError(
            f"the SQL guard has no rules for dialect {dialect!r}; supported: {', '.join(sorted(DIALECT_ALIASES))}",
            details={"dialect": str(dialect)},
        )
    return name


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
    user = _user_allowed(name, tuple(allowed_functions))
    decode = rules.unicode_identifiers != "no"
    runnable = _Check(name, timeout, user, _tokenizer(name), decode).statement(sql)

    alternatives: list[tuple[str, _Check]] = []
    if rules.unicode_identifiers == "both" and ("&" in sql or "UESCAPE" in sql.upper()):
        alternatives.append(("when U&\"...\" is not read as one escaped name", _Check(name, timeout, user, _tokenizer(name), False)))
    if rules.alternative_string_escapes is not None and "\\" in sql:
        alternatives.append(
            (
                "when backslashes in string literals are read the other way, which depends on the server's "
                "string-escaping setting",
                _Check(name, timeout, user, _tokenizer(name, escapes=rules.alternative_string_escapes), decode),
            )
        )
    if rules.nesting_uncertain and sql.count("/*") >= 2:
        alternatives.append(
            ("when block comments are read with the other nesting rule", _Check(name, timeout, user, _tokenizer(name, flip_nesting=True), decode))
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


# -- per-dialect tables, built once -------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _dialect(name: str) -> Dialect:
    return Dialect.get_or_raise(RULES[name].sqlglot)


@lru_cache(maxsize=None)
def _tokenizer_class(name: str, escapes: tuple[str, ...] | None, flip_nesting: bool) -> type[Tokenizer]:
    base = _dialect(name).tokenizer_class
    if escapes is None and not flip_nesting:
        return base
    # A subclass re-derives the tokenizer's tables from its class attributes (sqlglot's tokenizer metaclass).
    attrs: dict[str, object] = {}
    if escapes is not None:
        attrs["STRING_ESCAPES"] = list(escapes)
    if flip_nesting:
        attrs["NESTED_COMMENTS"] = not base.NESTED_COMMENTS
    return type(f"{base.__name__}GuardReading", (base,), attrs)


def _tokenizer(name: str, escapes: tuple[str, ...] | None = None, flip_nesting: bool = False) -> Tokenizer:
    # Tokenizers keep per-call state, so a fresh one per check keeps the guard thread-safe.
    return _tokenizer_class(name, escapes, flip_nesting)(dialect=_dialect(name))


@lru_cache(maxsize=None)
def _known_names(name: str) -> frozenset[str]:
    """The dialect's read-only built-ins: the reviewed list plus the names its sqlglot parser registers for itself
    (sqlglot adds a dialect's own spelling, `DATEADD`, `LISTAGG`, because the dialect has that function)."""
    from sqlglot.parser import Parser

    parser = _dialect(name).parser_class
    own: set[str] = set()
    for table in ("FUNCTIONS", "FUNCTION_PARSERS", "NO_PAREN_FUNCTION_PARSERS"):
        base = getattr(Parser, table)
        own |= {k.lower() for k, v in getattr(parser, table).items() if base.get(k) is not v}
    return frozenset((BUILTINS[name] | own) - REFUSED_HERE.get(name, frozenset()) - set(KNOWN_SIDE_EFFECTS))


@lru_cache(maxsize=256)
def _user_allowed(name: str, entries: tuple[str, ...]) -> frozenset[str]:
    rules = RULES[name]
    keys = set()
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            raise ValueError(f"allowed_functions entries must be function names, got {entry!r}")
        try:
            table = sqlglot.parse_one(entry.strip(), into=exp.Table, read=rules.sqlglot)
        except SqlglotError:
            raise ValueError(f"allowed_functions entry {entry!r} is not a (qualified) function name") from None
        parts = [p for p in (table.args.get("catalog"), table.args.get("db"), table.this) if p is not None]
        extra = [k for k, v in table.args.items() if v and k not in ("this", "db", "catalog")]
        if not isinstance(table, exp.Table) or extra or not all(isinstance(p, exp.Identifier) for p in parts):
            raise ValueError(f"allowed_functions entry {entry!r} is not a (qualified) function name")
        keys.add(".".join(name_key(_decoded(p.name, p.quoted, rules), p.quoted, rules.folding) for p in parts))
    return frozenset(keys)


def _decoded(text: str, quoted: bool, rules: DialectRules) -> str:
    return decode_backslash_escapes(text) if quoted and rules.backslash_escaped_identifiers else text


# -- errors -------------------------------------------------------------------------------------------------------
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
                raise _unparseable(self.dialect, str(exc)) from None
            parse_body = [t for t in self._tokenize(text) if t.token_type != TokenType.SEMICOLON]
        self.tokens = parse_body
        self._check_tree(self._parse(text, parse_body), parse_body, text)
        text_start = tokens[start - 1].end + 1 if start else 0
        return sql[text_start : body[-1].end + 1]

    def _tokenize(self, sql: str) -> list[Token]:
        try:
            return self.tokenizer.tokenize(sql)
        except TokenError as exc:
            raise _unparseable(self.dialect, str(exc).splitlines()[0]) from None

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

    @staticmethod
    def _refuse_batch_keywords(body: list[Token]) -> None:
        # T-SQL: `SELECT 1 DELETE FROM t COMMIT` is three statements to the server, whatever sqlglot makes of it.
        for token in body[1:]:
            word = token.text.upper()
            if token.token_type not in _QUOTED_TOKENS and word in TSQL_STATEMENT_KEYWORDS:
                raise _violation(
                    "multiple statements",
                    f"{word} starts a new statement in a T-SQL batch (no separator is needed there), so it cannot be "
                    f"a name; quote a name that is spelled so ([{token.text}])",
                    keyword=word,
                )

    def _parse(self, sql: str, body: list[Token]) -> exp.Expression:
        try:
            parsed = [e for e in _dialect(self.name).parser().parse(body, sql) if e is not None]
        except ParseError as exc:
            if self.rules.describe_only_reads and _word(body[0]) in ("DESCRIBE", "DESC"):
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
        words = [_word(t) if t.token_type not in _QUOTED_TOKENS else "" for t in body]
        for i, word in enumerate(words):
            if word == "INTO":
                target = words[i + 1] if i + 1 < len(words) else ""
                construct = f"SELECT INTO {target}" if target in ("OUTFILE", "DUMPFILE") else "SELECT INTO"
                return _violation(construct, f"{construct} writes its result somewhere")
            if word in NESTED_WRITE_KEYWORDS and i > 0 and words[i - 1] == "(":
                return _violation(word, f"{word} inside a subquery")
            if word == "NEXT" and words[i + 1 : i + 3] == ["VALUE", "FOR"]:
                return _violation("NEXT VALUE FOR", "NEXT VALUE FOR advances a sequence")
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
            _Check(self.name, self.timeout, self.user, self.tokenizer, self.decode).statement(rest[tokens[i].start :])
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

    # -- functions ---------------------------------------------------------------------------------------------------
    def _check_function(self, node: exp.Func) -> None:
        if isinstance(node, WRAPPERS):
            return  # SAFE.f(...) / NET.f(...): the inner call is checked as a node of its own
        cls = type(node)
        refused = REFUSED_CLASSES.get(cls)
        named = isinstance(node, NAMED_CALLS)
        if not named and refused is None and cls not in ALLOWED_CLASSES:
            refused = f"is a function sqlglot {cls.__name__} has not been reviewed for the read-only guard"
        call = self._call_name(node)
        if call is not None and ".".join(call[0]) in self.user:
            self.other_calls += 1
            return  # the source's own list wins, even over a model call it chose to allow
        if refused is not None:
            construct = call[1] if call else (cls.sql_names() or [cls.__name__])[0].lower()
            raise _violation(construct, f"{construct}() {refused}{self._where(node)}", function=construct)
        if call is None:
            if isinstance(node, _SYNTAX_FUNCTIONS):
                return
            if named:
                raise _violation("function", f"a call the guard cannot name{self._where(node)}")
            self.other_calls += 1
            return  # written as syntax, not as a call by name (x::int, ARRAY[...], a || b): nothing to resolve
        parts, display = call
        self._decide(node, parts, display)

    def _decide(self, node: exp.Func, parts: tuple[str, ...], display: str) -> None:
        full = ".".join(parts)
        qualifier, name = parts[:-1], parts[-1]
        known = _known_names(self.name)
        if qualifier:
            if self.rules.namespaced_builtins and full in known:
                name = full
            elif qualifier not in self.rules.builtin_schemas:
                reason = KNOWN_SIDE_EFFECTS.get(full) or KNOWN_SIDE_EFFECTS.get(name)
                what = (
                    reason
                    if reason
                    else f"is not a built-in of {self.name}: a qualified name calls a user-defined function, which the "
                    "guard cannot see into (a source may allow its own functions in its settings, allowed_functions)"
                )
                raise _violation(full, f"{display}() {what}{self._where(node)}", function=full)
        sleep = SLEEPS.get(self.name, {}).get(name)
        if sleep is not None:
            self._record_sleep(node, name, sleep)
            return
        self.other_calls += 1
        if name in ONLY_WITHOUT_ARGUMENTS and _function_args(node):
            raise _violation(name, f"{display}(…) {ONLY_WITHOUT_ARGUMENTS[name]}{self._where(node)}", function=name)
        if name in known:
            return
        reason = KNOWN_SIDE_EFFECTS.get(name) or KNOWN_SIDE_EFFECTS.get(full)
        if reason is None:
            reason = (
                f"is not a known read-only built-in function of {self.name} (functions are allowed by list; a "
                "source may allow its own in its settings, allowed_functions)"
            )
        raise _violation(name, f"{display}() {reason}{self._where(node)}", function=name)

    def _call_name(self, node: exp.Func) -> tuple[tuple[str, ...], str] | None:
        """The (folded) name parts a call was written with and its display form, or None for syntax."""
        written = self._name_token(node)
        if written is not None:
            text, quoted = written
        elif isinstance(node, NAMED_CALLS):
            this = node.this
            if isinstance(this, exp.Identifier):
                text, quoted = this.name, bool(this.quoted)
            elif isinstance(this, str):
                text, quoted = this, False
            else:
                return None
        else:
            qualifier = self._qualifier(node)
            if not qualifier:
                return None  # written as syntax (x::int, ARRAY[...]) or built by sqlglot from another call
            # A typed call in a position sqlglot keeps no name token for (`FROM ML.PREDICT(...)`): its own name.
            text, quoted = (type(node).sql_names() or [type(node).__name__])[0], False
        text = _decoded(text, quoted, self.rules)
        own = text.split(".") if quoted and self.rules.namespaced_builtins else [text]
        pieces = self._qualifier(node) + [(p, quoted) for p in own]
        keys = tuple(name_key(p, q, self.rules.folding) for p, q in pieces)
        display = ".".join(f'"{p}"' if q else p for p, q in pieces)
        return keys, display

    def _name_token(self, node: exp.Func) -> tuple[str, bool] | None:
        start = node.meta_get("start")
        if start is None:
            return None
        if self._starts is None:
            self._starts = {t.start: i for i, t in enumerate(self.tokens)}
        i = self._starts.get(start)
        if i is None or i + 1 >= len(self.tokens) or self.tokens[i + 1].token_type != TokenType.L_PAREN:
            return None
        token = self.tokens[i]
        if token.token_type == TokenType.IDENTIFIER:
            return token.text, True
        if token.text[:1].isalpha() or token.text[:1] in "_@$#":
            return token.text, False
        return None

    @staticmethod
    def _qualifier(node: exp.Expression) -> list[tuple[str, bool]]:
        parent = node.parent
        if isinstance(parent, exp.Dot) and node.arg_key == "expression":
            return _name_parts(parent.this)
        if isinstance(parent, exp.Table) and node.arg_key == "this":
            return [p for k in ("catalog", "db") for p in _name_parts(parent.args.get(k))]
        if isinstance(parent, exp.NetFunc):
            return [("net", False)]
        return []

    def _record_sleep(self, node: exp.Func, name: str, spec: tuple[int, int | None]) -> None:
        amount_index, unit_index = spec
        args = _function_args(node)
        seconds = _constant_number(args[amount_index]) if len(args) > amount_index else None
        if seconds is not None and unit_index is not None and len(args) > unit_index:
            factor = SLEEP_UNITS_S.get((_constant_string(args[unit_index]) or "").upper())
            seconds = seconds * factor if factor is not None else None
        if seconds is None or not math.isfinite(seconds) or seconds < 0:
            raise _violation(name, f"{name}() without a constant number of seconds cannot be bounded", function=name)
        self.sleeps.append((name, seconds))

    def _check_sleeps(self, tree: exp.Expression, has_rows: bool) -> None:
        name = self.sleeps[0][0]
        if has_rows or self.other_calls or not isinstance(tree, (exp.Select, exp.SetOperation, exp.Values)):
            raise _violation(
                name,
                f"{name}() may only stand in a statement that reads no table and calls nothing else (elsewhere it "
                "runs once per row, for an unbounded time)",
                function=name,
            )
        total = sum(s for _, s in self.sleeps)
        if self.timeout is not None and total > self.timeout:
            raise _violation(
                name,
                f"{name}({total:g}) sleeps beyond the {self.timeout:g} s timeout",
                function=name,
                seconds=total,
                timeout=self.timeout,
            )

    @staticmethod
    def _where(node: exp.Expression) -> str:
        """' (inside the CTE s)' for a call in a CTE body, '' elsewhere."""
        cte = node.find_ancestor(exp.CTE)
        if cte is None:
            return ""
        return f" (inside the CTE {cte.alias})" if cte.alias else " (inside a CTE)"

    # -- tables, columns, variables, hints --------------------------------------------------------------------------
    def _check_table(self, node: exp.Table) -> None:
        this = node.this
        if isinstance(this, exp.Var) and str(this.name).startswith("@"):
            raise _violation("stage", f"{this.name} reads files from a stage")
        if isinstance(this, exp.Literal):
            raise _violation("file", f"FROM '{this.name}' reads a file by its path")
        if self.name == "duckdb" and isinstance(this, exp.Identifier) and _FILE_LIKE_NAME.search(this.name):
            raise _violation(
                "file", f'FROM "{this.name}" reads a file by its path in DuckDB (tables are exposed as views instead)'
            )
        if (
            self.rules.file_reading_relations
            and isinstance(this, exp.Identifier)
            and name_key(this.name, bool(this.quoted), self.rules.folding) in self.rules.file_reading_relations
        ):
            raise _violation(this.name.lower(), f"{this.name} reads the server's configuration files")
        db = node.args.get("db")
        if (
            self.rules.path_reading_schemas
            and isinstance(db, exp.Identifier)
            and db.name.lower() in self.rules.path_reading_schemas
            and node.args.get("catalog") is None
        ):
            raise _violation("file", f"{db.name}.`{node.name}` reads files by their path")

    def _check_column(self, node: exp.Column) -> None:
        # Snowflake and MariaDB read `seq.NEXTVAL` as the next value of a sequence, which advances it.
        if node.args.get("table") is not None and node.name.lower() in _SEQUENCE_PSEUDO_COLUMNS:
            raise _violation("NEXTVAL", f"{node.sql(self.dialect)} advances a sequence")

    @staticmethod
    def _check_assignment(node: exp.PropertyEQ) -> None:
        if isinstance(node.this, (exp.Parameter, exp.SessionParameter)):
            raise _violation(":=", f"{node.this.sql()} := … assigns a session variable")

    def _check_tsql_assignment(self, node: exp.EQ) -> None:
        parent = node.parent
        if isinstance(parent, exp.Select) and node.arg_key == "expressions" and isinstance(node.this, exp.Parameter):
            raise _violation("variable assignment", f"SELECT {node.this.sql(self.dialect)} = … assigns a variable")

    @staticmethod
    def _check_table_hints(node: exp.WithTableHint) -> None:
        for hint in node.expressions:
            word = hint.name.upper() if isinstance(hint, (exp.Var, exp.Identifier, exp.Column)) else ""
            if word in TSQL_LOCK_HINTS:
                raise _violation(word, f"table hint WITH ({word}) takes locks")


# -- helpers on nodes -----------------------------------------------------------------------------------------------
def _name_parts(node: exp.Expression | None) -> list[tuple[str, bool]]:
    if node is None:
        return []
    if isinstance(node, exp.Identifier):
        return [(node.name, bool(node.quoted))]
    if isinstance(node, exp.Dot):
        return _name_parts(node.this) + _name_parts(node.expression)
    if isinstance(node, exp.Column):
        return [p for k in ("catalog", "db", "table") for p in _name_parts(node.args.get(k))] + _name_parts(node.this)
    if isinstance(node, exp.Var):
        return [(node.name, False)]
    return [("?", True)]  # something else before the dot: never a built-in's qualifier


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
    """A numeric literal's value (a string literal is not a number here: the server's reading of it may differ)."""
    node = _unwrap(node)
    sign = 1.0
    if isinstance(node, exp.Neg):
        sign, node = -1.0, _unwrap(node.this)
    if not isinstance(node, exp.Literal) or node.is_string:
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

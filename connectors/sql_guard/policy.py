"""Per-dialect tables the guard builds once (sqlglot dialect, tokenizers, known function names, a source's own
functions) and the two ways it refuses (a violation, or SQL it cannot read)."""

from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Tokenizer

from connectors.errors import QueryError, ReadOnlyViolation, UnsupportedError
from connectors.sql_guard.builtins import BUILTINS, KNOWN_SIDE_EFFECTS, REFUSED_HERE
from connectors.sql_guard.dialects import DIALECT_ALIASES, RULES, DialectRules
from connectors.sql_guard.names import decode_backslash_escapes, name_key


def resolve_dialect(dialect: str) -> str:
    """The guard's dialect name for a dialect or one of our source types ('sqlserver' -> 'tsql')."""
    name = DIALECT_ALIASES.get(str(dialect).strip().lower())
    if name is None:
        raise UnsupportedError(
            f"the SQL guard has no rules for dialect {dialect!r}; supported: {', '.join(sorted(DIALECT_ALIASES))}",
            details={"dialect": str(dialect)},
        )
    return name


@lru_cache(maxsize=None)
def sqlglot_dialect(name: str) -> Dialect:
    return Dialect.get_or_raise(RULES[name].sqlglot)


@lru_cache(maxsize=None)
def tokenizer_class(name: str, escapes: tuple[str, ...] | None, flip_nesting: bool) -> type[Tokenizer]:
    base = sqlglot_dialect(name).tokenizer_class
    if escapes is None and not flip_nesting:
        return base
    # A subclass re-derives the tokenizer's tables from its class attributes (sqlglot's tokenizer metaclass).
    attrs: dict[str, object] = {}
    if escapes is not None:
        attrs["STRING_ESCAPES"] = list(escapes)
    if flip_nesting:
        attrs["NESTED_COMMENTS"] = not base.NESTED_COMMENTS
    return type(f"{base.__name__}GuardReading", (base,), attrs)


def tokenizer(name: str, escapes: tuple[str, ...] | None = None, flip_nesting: bool = False) -> Tokenizer:
    # Tokenizers keep per-call state, so a fresh one per check keeps the guard thread-safe.
    return tokenizer_class(name, escapes, flip_nesting)(dialect=sqlglot_dialect(name))


@lru_cache(maxsize=None)
def known_names(name: str) -> frozenset[str]:
    """The dialect's read-only built-ins: the reviewed list plus the names its sqlglot parser registers for itself
    (sqlglot adds a dialect's own spelling, `DATEADD`, `LISTAGG`, because the dialect has that function)."""
    from sqlglot.parser import Parser

    parser = sqlglot_dialect(name).parser_class
    own: set[str] = set()
    for table in ("FUNCTIONS", "FUNCTION_PARSERS", "NO_PAREN_FUNCTION_PARSERS"):
        base = getattr(Parser, table)
        own |= {k.lower() for k, v in getattr(parser, table).items() if base.get(k) is not v}
    return frozenset((BUILTINS[name] | own) - REFUSED_HERE.get(name, frozenset()) - set(KNOWN_SIDE_EFFECTS))


@lru_cache(maxsize=256)
def user_allowed(name: str, entries: tuple[str, ...]) -> frozenset[str]:
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
        keys.add(".".join(name_key(decoded_name(p.name, p.quoted, rules), p.quoted, rules.folding) for p in parts))
    return frozenset(keys)


def decoded_name(text: str, quoted: bool, rules: DialectRules) -> str:
    return decode_backslash_escapes(text) if quoted and rules.backslash_escaped_identifiers else text


def violation(construct: str, what: str, **details: object) -> ReadOnlyViolation:
    return ReadOnlyViolation(f"read-only violation: {what}", construct=construct, details=dict(details))


def unparseable(dialect: str, reason: str) -> QueryError:
    return QueryError(
        f"the SQL guard could not parse this statement as {dialect} SQL, so it was not run: {reason}",
        code="unparseable_sql",
        details={"dialect": dialect},
    )

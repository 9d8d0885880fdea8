"""Function calls: each one resolved to the name the server would call, then held against the dialect's lists.

A call passes when its sqlglot class was reviewed as a read (`typed_functions`) and the name it was written with, its
escapes decoded and its case folded, is a built-in of the dialect (`builtins`) or one the source allows. Sleeps are
bounded: a constant, evaluated once, within the timeout.
"""

from __future__ import annotations

import math
from typing import Iterable

from sqlglot import exp
from sqlglot.tokens import Token, TokenType

from connectors.sql_guard.builtins import KNOWN_SIDE_EFFECTS, ONLY_WITHOUT_ARGUMENTS, SLEEP_UNITS_S, SLEEPS
from connectors.sql_guard.dialects import DialectRules
from connectors.sql_guard.names import name_key
from connectors.sql_guard.policy import decoded_name, known_names, violation
from connectors.sql_guard.typed_functions import ALLOWED_CLASSES, NAMED_CALLS, REFUSED_CLASSES, WRAPPERS

# Operators and syntax sqlglot models as functions: they call nothing by name.
_SYNTAX_FUNCTIONS = (exp.And, exp.Or, exp.Xor, exp.Pow, exp.Cast, exp.TryCast, exp.Case, exp.If, exp.Exists)


class CallChecks:
    """The function-call half of a check (mixed into `checker._Check`, whose state it shares)."""

    name: str
    rules: DialectRules
    timeout: float | None
    user: frozenset[str]
    tokens: list[Token]
    _starts: dict[int, int] | None
    sleeps: list[tuple[str, float]]
    other_calls: int

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
            raise violation(construct, f"{construct}() {refused}{self._where(node)}", function=construct)
        if call is None:
            if isinstance(node, _SYNTAX_FUNCTIONS):
                return
            if named:
                raise violation("function", f"a call the guard cannot name{self._where(node)}")
            self.other_calls += 1
            return  # written as syntax, not as a call by name (x::int, ARRAY[...], a || b): nothing to resolve
        parts, display = call
        self._decide(node, parts, display)

    def _decide(self, node: exp.Func, parts: tuple[str, ...], display: str) -> None:
        full = ".".join(parts)
        qualifier, name = parts[:-1], parts[-1]
        known = known_names(self.name)
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
                raise violation(full, f"{display}() {what}{self._where(node)}", function=full)
        sleep = SLEEPS.get(self.name, {}).get(name)
        if sleep is not None:
            self._record_sleep(node, name, sleep)
            return
        self.other_calls += 1
        if name in ONLY_WITHOUT_ARGUMENTS and _function_args(node):
            raise violation(name, f"{display}(…) {ONLY_WITHOUT_ARGUMENTS[name]}{self._where(node)}", function=name)
        if name in known:
            return
        reason = KNOWN_SIDE_EFFECTS.get(name) or KNOWN_SIDE_EFFECTS.get(full)
        if reason is None:
            reason = (
                f"is not a known read-only built-in function of {self.name} (functions are allowed by list; a "
                "source may allow its own in its settings, allowed_functions)"
            )
        raise violation(name, f"{display}() {reason}{self._where(node)}", function=name)

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
        text = decoded_name(text, quoted, self.rules)
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
            raise violation(name, f"{name}() without a constant number of seconds cannot be bounded", function=name)
        self.sleeps.append((name, seconds))

    def _check_sleeps(self, tree: exp.Expression, has_rows: bool) -> None:
        name = self.sleeps[0][0]
        if has_rows or self.other_calls or not isinstance(tree, (exp.Select, exp.SetOperation, exp.Values)):
            raise violation(
                name,
                f"{name}() may only stand in a statement that reads no table and calls nothing else (elsewhere it "
                "runs once per row, for an unbounded time)",
                function=name,
            )
        total = sum(s for _, s in self.sleeps)
        if self.timeout is not None and total > self.timeout:
            raise violation(
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

"""A span per connector query, for a process that traces; nothing at all for one that does not.

The connectors know nothing of the runtime (which is where tracing is configured), so they ask OpenTelemetry's API
alone, and only when something in the process has already imported it: `sys.modules` is looked at, nothing is
imported, so an untraced process pays one dictionary lookup per query. The API then hands out the spans of whatever
provider the process set up (the runtime's, from the OTEL_* variables, or the application's own); with none set up
its spans do not record and no attribute is computed.

The statement goes into the span with every literal replaced by `?` (sqlglot's tokenizer for the source's dialect,
comments dropped): a value typed into a query, a password compared in a WHERE clause, never reaches a trace back-end.
Errors are described by type and code only, since a driver's message may quote the values.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

TRACER_NAME = "taskpack.connectors"
#: how much of a (literal-free) statement a span keeps
MAX_STATEMENT_CHARS = 4000

#: `db.system` of each source type, as OpenTelemetry's semantic conventions spell the ones they name
DB_SYSTEMS = {"postgres": "postgresql", "sqlserver": "mssql"}

_LITERAL_TOKENS = frozenset(
    (
        "STRING", "NUMBER", "BIT_STRING", "HEX_STRING", "BYTE_STRING", "NATIONAL_STRING", "NATIONAL_RAW_STRING",
        "RAW_STRING", "HEREDOC_STRING", "UNICODE_STRING",
    )
)
_OPERATIONS_AFTER_WITH = frozenset(("SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"))


def statement_shape(sql: str, dialect: str) -> tuple[str | None, str | None]:
    """(operation, statement with literals as `?` and comments dropped); (None, None) when sqlglot cannot tokenize
    it, so a statement that cannot be cleaned is left out rather than sent as it is."""
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError

    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except (SqlglotError, ValueError):
        return None, None
    parts: list[str] = []
    end = 0
    first: str | None = None  # the statement's first word
    operation: str | None = None  # after WITH: the first SELECT/INSERT/... outside the CTEs' parentheses
    depth = 0
    for token in tokens:
        if token.start > end and parts:
            parts.append(" ")  # whatever lay between two tokens (spaces, comments) becomes one space
        kind = token.token_type.name
        literal = kind in _LITERAL_TOKENS
        parts.append("?" if literal else sql[token.start : token.end + 1])
        end = token.end + 1
        if kind == "L_PAREN":
            depth += 1
        elif kind == "R_PAREN":
            depth -= 1
        elif first is None:
            first = "" if literal else sql[token.start : token.end + 1].upper()
        elif first == "WITH" and operation is None and depth == 0 and token.text.upper() in _OPERATIONS_AFTER_WITH:
            operation = token.text.upper()
    if first != "WITH":
        operation = first if first and first.isalpha() else None
    text = "".join(parts)
    return operation, (text[:MAX_STATEMENT_CHARS] if text else None)


class _QuerySpan:
    """The current span of one query; records rows on success and the error's type and code on failure."""

    __slots__ = ("span", "_token", "_context", "_started")

    def __init__(self, span: Any, context: Any, trace: Any) -> None:
        self.span = span
        self._context = context
        self._token = context.attach(trace.set_span_in_context(span))
        self._started = time.perf_counter()

    def finish(self, result: Any, exc: BaseException | None) -> None:
        try:
            self.span.set_attribute("taskpack.db.duration_ms", round((time.perf_counter() - self._started) * 1000, 3))
            if exc is None:
                rows = getattr(result, "row_count", None)
                if rows is not None:
                    self.span.set_attribute("db.response.returned_rows", rows)
                    self.span.set_attribute("db.rows", rows)
                if getattr(result, "truncated", False):
                    self.span.set_attribute("taskpack.db.truncated", True)
            else:
                from opentelemetry.trace import Status, StatusCode

                kind = type(exc).__qualname__
                self.span.set_attribute("error.type", kind)
                code = getattr(exc, "code", None)
                if isinstance(code, str):
                    self.span.set_attribute("taskpack.db.error_code", code)
                self.span.set_status(Status(StatusCode.ERROR, kind if not isinstance(code, str) else f"{kind}: {code}"))
        finally:
            self._context.detach(self._token)
            self.span.end()


_tracer: Any = None  # the API's tracer, fetched once (before a provider is set it is a proxy that follows it later)


def _start(connector: Any, sql: Any) -> _QuerySpan | None:
    global _tracer
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    from opentelemetry import context

    if _tracer is None:
        _tracer = trace.get_tracer(TRACER_NAME)
    source = getattr(connector, "source_type", "unknown")
    span = _tracer.start_span("query", kind=trace.SpanKind.CLIENT)
    if not span.is_recording():
        return None  # no provider records: nothing to compute
    operation, statement = statement_shape(sql, getattr(connector, "dialect", "")) if isinstance(sql, str) else (None, None)
    system = DB_SYSTEMS.get(source, source)
    span.update_name(f"{operation} {system}" if operation else f"query {system}")
    span.set_attribute("db.system", system)
    span.set_attribute("db.system.name", system)
    if operation:
        span.set_attribute("db.operation", operation)
        span.set_attribute("db.operation.name", operation)
    if statement:
        span.set_attribute("db.statement", statement)
        span.set_attribute("db.query.text", statement)
    return _QuerySpan(span, context, trace)


def generated_sql(connector: Any, statement: Any) -> str | None:
    """The text of a statement the profiler built as a sqlglot tree (`run_generated`), for its span only."""
    tree = getattr(statement, "tree", None)
    return tree.sql(dialect=getattr(connector, "dialect", None) or None) if tree is not None else None


def traced_query(query: F, sql_of: Callable[[Any, Any], str | None] | None = None) -> F:
    """Wrap a connector's `query(sql, ...)` (or, with `sql_of` turning its first argument into text, another method
    that runs one statement) in a query span (see the module's doc)."""
    if getattr(query, "__taskpack_traced__", False):
        return query

    @functools.wraps(query)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if "opentelemetry.trace" not in sys.modules:
            return query(self, *args, **kwargs)
        first = args[0] if args else kwargs.get("sql", kwargs.get("statement"))
        scope = _start(self, sql_of(self, first) if sql_of is not None else first)
        if scope is None:
            return query(self, *args, **kwargs)
        try:
            result = query(self, *args, **kwargs)
        except BaseException as exc:
            scope.finish(None, exc)
            raise
        scope.finish(result, None)
        return result

    wrapper.__taskpack_traced__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]

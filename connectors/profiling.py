"""Table profiles for every source: one dialect-generic profiler, built on sqlglot expressions.

A connector hands over its `query()` (so profiling SQL passes the same guard, limits and timeouts as anything else)
or, where it has one, its runner for statements built here (`run_generated`, see GeneratedQuery: the same limits and
timeouts, no guard parse of SQL this module wrote from identifiers it quoted), its sqlglot dialect, the table's
columns from its catalog and the catalog's row estimate. The profiler then sends two statements, whatever the number
of columns:

1. statistics — over a sample: row count, and per column non-null count, distinct count, min/max (orderable
   types), average text length;
2. top values — the most frequent values of every column at once (`UNION ALL` of per-column GROUP BYs, each keeping
   its own top k), which also supply the sample values.

The sample is the whole table when the catalog says it is small; otherwise `TABLESAMPLE` where the dialect has it
(row-level BERNOULLI for medium tables, block-level SYSTEM for huge ones, with a fixed seed where the dialect takes
one so both statements see the same rows) or a `RAND() < p` filter where it does not (MySQL, Redshift), always capped
with LIMIT. sqlglot writes each dialect's spelling (RANDOM/RAND, LENGTH/CHAR_LENGTH/LEN, TEXT/CHAR/STRING).
Finally `semantic_hint` reads names, types and values to label each column (identifier, enum, email, ...).

Every source's `profile()` first turns the caller's table name into a catalog entry, the same way everywhere:
`parse_table_ref` reads the name in the source's dialect, `find_schema_table` / `find_database_table` look it up with
one filtered `introspect()` (exact-case match first), and `profile_catalog_table` hands the entry to `profile_table`.
What differs per source (default schema or database, where a bare name is looked up) stays in its `profile.py`.
"""

from __future__ import annotations

import glob
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Sequence

from sqlglot import exp
from sqlglot.errors import SqlglotError

from connectors.catalog import (
    CatalogFilters,
    Column,
    ColumnProfile,
    NormalizedType,
    SemanticHint,
    Table,
    TableKind,
    TableProfile,
    TableRef,
    ValueCount,
)
from connectors.errors import NotFoundError, QueryError
from connectors.results import QueryResult

if TYPE_CHECKING:
    from connectors.base import Connector

# (sql, max_rows, timeout) -> QueryResult; usually `lambda sql, n, t: connector.query(sql, max_rows=n, timeout=t)`
QueryFn = Callable[[str, int, float], QueryResult]

_MINTED = object()  # only this module's `generated()` holds it: see GeneratedQuery


@dataclass(frozen=True, eq=False)
class GeneratedQuery:
    """A SELECT this module built itself, as a sqlglot tree: never text from outside.

    Every table and column name in it came from the source's own catalog and went in as a quoted sqlglot identifier;
    every other node is one this module chose (COUNT, MIN, TABLESAMPLE, ...). There is no text to read, so there is
    nothing for the SQL guard to find: a connector may run it on its internal path (`GeneratedQueryFn`) without the
    guard's parse and without re-parsing it to place its row limit (a third of a profile's time went to parsing the
    profiler's own statements). SQL that comes from a caller still goes through `Connector.query()` and its guard;
    a connector's runner refuses anything that is not a GeneratedQuery made by `generated()` (`check_generated`).
    """

    tree: exp.Select
    _mint: object

    def __post_init__(self) -> None:
        if self._mint is not _MINTED or not isinstance(self.tree, exp.Select):
            raise TypeError("a GeneratedQuery is made by connectors.profiling itself, from a sqlglot SELECT tree")


def generated(tree: exp.Select) -> GeneratedQuery:
    """Wrap a SELECT tree this package built (the profiler, the column-values statement) for a connector's runner."""
    return GeneratedQuery(tree, _MINTED)


def check_generated(statement: object) -> exp.Select:
    """The tree of a profiler-built statement; TypeError for anything else (a str, a lookalike object), so a
    connector's guard-free runner can never be handed outside SQL."""
    if type(statement) is not GeneratedQuery or statement._mint is not _MINTED:
        raise TypeError(f"only a connectors.profiling.GeneratedQuery runs without the SQL guard, not {type(statement).__name__}")
    return statement.tree


def with_row_limit(tree: exp.Select, max_rows: int) -> exp.Select:
    """The tree with `LIMIT max_rows + 1` when it has no LIMIT of its own (the server stops early, the connector then
    sees whether rows were cut); placed on the tree, where appending to text would need the text parsed first. The
    tree is changed in place: a GeneratedQuery's tree is built for one run and belongs to no one else."""
    return tree if tree.args.get("limit") else tree.limit(max_rows + 1, copy=False)


# (statement, max_rows, timeout) -> QueryResult: a connector's runner for profiler-built statements (see GeneratedQuery)
GeneratedQueryFn = Callable[[GeneratedQuery, int, float], QueryResult]


@dataclass(frozen=True)
class SamplingPolicy:
    """How a dialect samples. `medium_method`/`huge_method` are TABLESAMPLE methods (None = the dialect's bare
    `TABLESAMPLE (p PERCENT)`); `tablesample=False` means filter rows with RAND() instead."""

    tablesample: bool = True
    medium_method: str | None = "BERNOULLI"
    huge_method: str | None = "SYSTEM"
    seeded: bool = True
    approx_distinct: bool = False
    #: above this many rows block sampling (cheap, clumpy) replaces row sampling (uniform, scans the table)
    huge_rows: int = 5_000_000
    #: the type top values are cast to; "text" becomes each dialect's own spelling (TEXT, CHAR, STRING, ...)
    text_type: str = "text"


SAMPLING_POLICIES: dict[str, SamplingPolicy] = {
    "postgres": SamplingPolicy(),
    # Redshift: sqlglot spells text as VARCHAR(MAX), a Redshift-only form; VARCHAR(65535) is the same type there
    "redshift": SamplingPolicy(tablesample=False, seeded=False, text_type="varchar(65535)"),
    "mysql": SamplingPolicy(tablesample=False, seeded=False),
    "snowflake": SamplingPolicy(),
    "bigquery": SamplingPolicy(medium_method="SYSTEM", seeded=False, approx_distinct=True),
    "tsql": SamplingPolicy(medium_method="SYSTEM", seeded=True),
    "databricks": SamplingPolicy(medium_method=None, huge_method=None, approx_distinct=True),
    "duckdb": SamplingPolicy(),  # TABLESAMPLE BERNOULLI/SYSTEM (p PERCENT) REPEATABLE (seed), as PostgreSQL
}

_ORDERABLE = {"integer", "decimal", "float", "string", "date", "time", "timestamp", "timestamp_tz"}
_DISTINCT_OK = _ORDERABLE | {"boolean", "uuid", "interval"}
_NO_TOP_VALUES = {"binary", "geography"}
TOP_VALUE_CHARS = 200

# The sampled fraction targets sample_size rows; LIMIT only caps a sample that stale statistics made too big, so it
# sits well above the target (a LIMIT at the target would keep the first rows in storage order, not a uniform sample).
LIMIT_HEADROOM = 2


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def table_expression(table: TableRef) -> exp.Table:
    return exp.Table(
        this=_ident(table.name),
        db=_ident(table.schema_) if table.schema_ else None,
        catalog=_ident(table.database) if table.database else None,
    )


def choose_sample_method(
    kind: TableKind, row_estimate: int | None, sample_size: int, policy: SamplingPolicy
) -> str:
    """'full' for small tables, 'limit' when the size is unknown or the relation cannot be sampled (views),
    else 'tablesample' or 'random_filter'."""
    if row_estimate is not None and row_estimate <= sample_size:
        return "full"
    if row_estimate is None or kind in ("view", "external"):
        return "limit"
    return "tablesample" if policy.tablesample else "random_filter"


# The builders below assemble sqlglot nodes directly and pass copy=False: sqlglot's builder methods copy the whole
# tree at every call by default (and parse strings such as "sample_rows"), which made building a profile's statements
# cost more Python time than running them (the UNION of per-column branches was copied once per branch).
_SAMPLE_ROWS = "sample_rows"


def _sample_rows() -> exp.Table:
    return exp.Table(this=exp.to_identifier(_SAMPLE_ROWS))


def sample_query(
    table: TableRef,
    columns: Sequence[Column],
    *,
    method: str,
    row_estimate: int | None,
    sample_size: int,
    policy: SamplingPolicy,
    seed: int = 42,
) -> exp.Select:
    """SELECT col AS c0, col AS c1, ... FROM <table, sampled>: the rows every statistic is computed on."""
    source = table_expression(table)
    select = exp.Select(expressions=[exp.alias_(exp.column(_ident(c.name)), f"c{i}", copy=False) for i, c in enumerate(columns)])
    if method == "full":
        return select.from_(source, copy=False)
    fraction = min(1.0, sample_size / max(row_estimate or 1, 1))
    cap = sample_size * LIMIT_HEADROOM
    if method == "tablesample":
        huge = (row_estimate or 0) > policy.huge_rows
        chosen = policy.huge_method if huge else policy.medium_method
        sample = exp.TableSample(
            method=exp.var(chosen) if chosen else None,
            percent=exp.Literal.number(round(fraction * 100, 6)),
            seed=exp.Literal.number(seed) if policy.seeded else None,
        )
        source.set("sample", sample)
        return select.from_(source, copy=False).limit(cap, copy=False)
    if method == "random_filter":
        keep = exp.LT(this=exp.Rand(), expression=exp.Literal.number(round(fraction, 8)))
        return select.from_(source, copy=False).where(keep, copy=False).limit(cap, copy=False)
    return select.from_(source, copy=False).limit(sample_size, copy=False)


def _with_sample(query: exp.Select, sample: exp.Select) -> exp.Select:
    """`WITH sample_rows AS (<sample>) <query>`; the sample is copied, so one sample tree serves several statements."""
    return query.with_(_SAMPLE_ROWS, as_=sample.copy(), copy=False)


def stats_query(columns: Sequence[Column], sample: exp.Select, policy: SamplingPolicy) -> exp.Select:
    """One row: n, then per column c{i}_nn (non-null), c{i}_nd (distinct), c{i}_min, c{i}_max, c{i}_len."""
    projections: list[exp.Expression] = [exp.alias_(exp.Count(this=exp.Star()), "n", copy=False)]
    for i, col in enumerate(columns):
        name = f"c{i}"
        projections.append(exp.alias_(exp.Count(this=exp.column(name)), f"{name}_nn", copy=False))
        if col.normalized_type in _DISTINCT_OK:
            distinct: exp.Expression = (
                exp.ApproxDistinct(this=exp.column(name))
                if policy.approx_distinct
                else exp.Count(this=exp.Distinct(expressions=[exp.column(name)]))
            )
            projections.append(exp.alias_(distinct, f"{name}_nd", copy=False))
        if col.normalized_type in _ORDERABLE:
            projections.append(exp.alias_(exp.Min(this=exp.column(name)), f"{name}_min", copy=False))
            projections.append(exp.alias_(exp.Max(this=exp.column(name)), f"{name}_max", copy=False))
        if col.normalized_type == "string":
            projections.append(exp.alias_(exp.Avg(this=exp.Length(this=exp.column(name))), f"{name}_len", copy=False))
    return _with_sample(exp.Select(expressions=projections).from_(_sample_rows(), copy=False), sample)


_TEXT_TYPES: dict[str, exp.DataType] = {}


def _as_text(ref: exp.Expression, text_type: str) -> exp.Expression:
    built = _TEXT_TYPES.get(text_type)
    if built is None:
        built = _TEXT_TYPES[text_type] = exp.DataType.build(text_type)
    return exp.Substring(
        this=exp.cast(ref, built.copy(), copy=False),
        start=exp.Literal.number(1),
        length=exp.Literal.number(TOP_VALUE_CHARS),
    )


def _columns(*names: str) -> list[exp.Expression]:
    return [exp.column(name) for name in names]


def top_values_query(
    columns: Sequence[Column], sample: exp.Select, top_k: int, policy: SamplingPolicy | None = None
) -> exp.Select | None:
    """Rows (i, v, n): the top_k most frequent non-null values (as text) of every column, in one statement.

    Each column's branch keeps its own top_k (`ORDER BY n DESC, v LIMIT top_k` in a derived table, so the server
    runs a bounded top-N sort per column); ranking every group of every column at once with ROW_NUMBER() sorted all
    of them, a unique column's whole sample included (~4x the time on PostgreSQL for six columns of 10,000 rows).
    Ties are broken by the value, as before, so the rows are the same."""
    text_type = (policy or SamplingPolicy()).text_type
    union: exp.Query | None = None
    for i, col in enumerate(columns):
        if col.normalized_type in _NO_TOP_VALUES:
            continue
        name = f"c{i}"
        top = exp.Select(
            expressions=[
                exp.alias_(exp.Literal.number(i), "i", copy=False),
                exp.alias_(_as_text(exp.column(name), text_type), "v", copy=False),
                exp.alias_(exp.Count(this=exp.Star()), "n", copy=False),
            ]
        )
        top = (
            top.from_(_sample_rows(), copy=False)
            .where(exp.Not(this=exp.Is(this=exp.column(name), expression=exp.Null())), copy=False)
            .group_by(_as_text(exp.column(name), text_type), copy=False)
            .order_by(exp.column("n").desc(), exp.column("v").asc(), copy=False)
            .limit(top_k, copy=False)
        )
        branch = exp.Select(expressions=_columns("i", "v", "n")).from_(top.subquery(f"top{i}", copy=False), copy=False)
        union = branch if union is None else exp.Union(this=union, expression=branch, distinct=False)
    if union is None:
        return None
    outer = (
        exp.Select(expressions=_columns("i", "v", "n"))
        .from_(union.subquery("grouped", copy=False), copy=False)
        .order_by(exp.column("i").asc(), exp.column("n").desc(), exp.column("v").asc(), copy=False)
    )
    return _with_sample(outer, sample)


def _typed(value: Any, normalized: NormalizedType) -> Any:
    """Top values come back as text (one UNION for all columns); give numbers and booleans their type back."""
    if value is None:
        return None
    try:
        if normalized == "integer":
            return int(value)
        if normalized in ("float", "decimal"):
            return float(value)
        if normalized == "boolean":
            return str(value).lower() in ("true", "t", "1")
    except ValueError:
        return value
    return value


def _number(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (int, float, Decimal)) else float(str(value))


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_URL = re.compile(r"^(https?://|www\.)\S+$", re.IGNORECASE)
_IDENTIFIER_NAME = re.compile(r"(^id$|_id$|[a-z]Id$|ID$|^uuid$|_uuid$|_key$|^key$|_code$|^code$)")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")
ENUM_MAX_DISTINCT = 20


def _share(values: Sequence[Any], test: Callable[[str], bool]) -> float:
    texts = [str(v) for v in values if v is not None]
    return sum(1 for t in texts if test(t)) / len(texts) if texts else 0.0


def _is_json_text(text: str) -> bool:
    if not text[:1] in ("{", "["):
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def semantic_hint(
    name: str,
    normalized_type: NormalizedType,
    *,
    non_null: int | None,
    distinct: int | None,
    values: Sequence[Any],
    primary_key: bool = False,
) -> SemanticHint:
    """What a column *is*, for the agent: read from the name, the type and the values seen in the sample."""
    if normalized_type == "boolean":
        return "boolean"
    if normalized_type in ("date", "time", "timestamp", "timestamp_tz"):
        return "datetime"
    if normalized_type == "json":
        return "json"
    if normalized_type == "uuid":
        return "identifier"
    unique = bool(non_null) and distinct is not None and distinct >= 0.95 * non_null
    if primary_key or (_IDENTIFIER_NAME.search(name) and normalized_type in ("integer", "string") and (unique or primary_key)):
        return "identifier"
    if normalized_type == "string" and values:
        if _share(values, lambda t: bool(_EMAIL.match(t))) >= 0.8:
            return "email"
        if _share(values, lambda t: bool(_URL.match(t))) >= 0.8:
            return "url"
        if _share(values, _is_json_text) >= 0.8:
            return "json"
        if _share(values, lambda t: bool(_DATE_TEXT.match(t))) >= 0.8:
            return "datetime"
    low_cardinality = (
        distinct is not None and non_null is not None and 0 < distinct <= ENUM_MAX_DISTINCT and distinct <= non_null / 2
    )
    if normalized_type in ("string", "integer") and low_cardinality:
        return "enum"
    if normalized_type == "integer" and _IDENTIFIER_NAME.search(name):
        return "identifier"  # a foreign-key-looking column with repeats (e.g. customer_id)
    if normalized_type in ("integer", "decimal", "float"):
        return "numeric"
    if normalized_type == "string":
        return "text"
    return "other"


def profile_table(
    query: QueryFn,
    dialect: str,
    table: TableRef,
    columns: Sequence[Column],
    *,
    kind: TableKind = "table",
    row_estimate: int | None = None,
    primary_key: Sequence[str] = (),
    sample_size: int = 10_000,
    top_k: int = 5,
    timeout: float = 120.0,
    policy: SamplingPolicy | None = None,
    run_generated: GeneratedQueryFn | None = None,
) -> TableProfile:
    """Profile one table in two statements; see the module docstring. With `run_generated` (the connector's runner
    for statements built here, see GeneratedQuery) they skip the SQL guard; otherwise they go through `query`."""
    if sample_size < 1:
        raise ValueError(f"sample_size must be >= 1, got {sample_size}")
    policy = policy or SAMPLING_POLICIES.get(dialect, SamplingPolicy(tablesample=False, seeded=False))
    method = choose_sample_method(kind, row_estimate, sample_size, policy)
    sample = sample_query(
        table, columns, method=method, row_estimate=row_estimate, sample_size=sample_size, policy=policy
    )

    def run(statement: exp.Select, max_rows: int) -> QueryResult:
        if run_generated is not None:
            return run_generated(generated(statement), max_rows, timeout)
        return query(statement.sql(dialect=dialect), max_rows, timeout)

    stats = run(stats_query(columns, sample, policy), 1)
    row = dict(zip([c.name for c in stats.columns], stats.rows[0])) if stats.rows else {}
    sampled = int(row.get("n") or 0)

    tops: dict[int, list[ValueCount]] = {}
    top_sql = top_values_query(columns, sample, top_k, policy)
    if top_sql is not None and sampled:
        result = run(top_sql, top_k * len(columns))
        for i, value, count in result.rows:
            index = int(i)
            tops.setdefault(index, []).append(ValueCount(value=_typed(value, columns[index].normalized_type), count=int(count)))

    profiles: list[ColumnProfile] = []
    for i, col in enumerate(columns):
        non_null = row.get(f"c{i}_nn")
        distinct = row.get(f"c{i}_nd")
        top = tops.get(i, [])
        values = [t.value for t in top]
        profiles.append(
            ColumnProfile(
                name=col.name,
                data_type=col.data_type,
                normalized_type=col.normalized_type,
                null_fraction=round(1 - int(non_null) / sampled, 6) if sampled and non_null is not None else None,
                distinct_count=int(distinct) if distinct is not None else None,
                min=row.get(f"c{i}_min"),
                max=row.get(f"c{i}_max"),
                top_values=top,
                sample_values=values,
                avg_length=round(_number(row.get(f"c{i}_len")) or 0.0, 3) if row.get(f"c{i}_len") is not None else None,
                semantic_hint=semantic_hint(
                    col.name,
                    col.normalized_type,
                    non_null=int(non_null) if non_null is not None else None,
                    distinct=int(distinct) if distinct is not None else None,
                    values=values,
                    primary_key=col.name in primary_key and len(primary_key) == 1,
                ),
            )
        )
    return TableProfile(
        database=table.database,
        schema=table.schema_,
        table=table.name,
        row_count=sampled if method == "full" else row_estimate,
        sampled_rows=sampled,
        sample_method=method,  # type: ignore[arg-type]
        columns=profiles,
    )


# -- finding the table a profile() call names ----------------------------------------------------------------------
def parse_table_ref(
    table: TableRef | str, dialect: str, *, max_parts: int = 3, expected: str | None = None
) -> TableRef:
    """'db.schema.table' / '"Schema"."Table"' / 'table' -> TableRef, read in the source's sqlglot dialect (quotes
    removed, case kept). `max_parts=2` for sources whose names stop at two parts; `expected` says, in the error,
    what a name looks like there (MySQL: "table or database.table"). A TableRef is returned as it is."""
    if isinstance(table, TableRef):
        return table
    try:
        parsed = exp.to_table(table, dialect=dialect)
    except SqlglotError:
        raise QueryError(f"not a table name: {table!r}", code="invalid_argument") from None
    too_many_parts = max_parts < 3 and bool(parsed.catalog)
    if not isinstance(parsed, exp.Table) or not isinstance(parsed.this, exp.Identifier) or not parsed.name or too_many_parts:
        hint = f" (expected {expected})" if expected else ""
        raise QueryError(f"not a table name: {table!r}{hint}", code="invalid_argument")
    return TableRef(name=parsed.name, schema=parsed.db or None, database=parsed.catalog or None)


def check_connection_database(ref: TableRef, connected: str, *, ignore_case: bool = False) -> None:
    """NotFoundError when `ref` names another database than the one the connection reads (PostgreSQL, SQL Server:
    one database per connection, so a table elsewhere cannot be profiled through it)."""
    if not ref.database:
        return
    same = ref.database.lower() == connected.lower() if ignore_case else ref.database == connected
    if not same:
        raise NotFoundError(
            f"table {ref.name} is in database {ref.database!r}, but this connection is to {connected!r}",
            details={"table": ref.name, "database": ref.database},
        )


def _catalog_candidates(
    connector: "Connector", name: str, schema: str | None, database: str | None, *, exact_schema: bool
) -> list[tuple[str, str, Table]]:
    """(database, schema, table) entries for the name, from one `introspect()` narrowed by escaped globs (the filters
    match case-insensitively); the exact-case matches when there are any, else every match."""
    filters = CatalogFilters(
        include_databases=[glob.escape(database)] if database else [],
        include_schemas=[glob.escape(schema)] if schema else [],
        include_tables=[glob.escape(name)],
    )
    matches = [(d.name, s.name, t) for d, s, t in connector.introspect(filters).iter_tables()]
    exact = [
        (d, s, t) for d, s, t in matches if t.name == name and (not exact_schema or schema is None or s == schema)
    ]
    return exact or matches


def find_schema_table(
    connector: "Connector",
    name: str,
    schema: str | None = None,
    *,
    preferred_schema: str | None = None,
    qualify_hint: str = "the schema",
) -> tuple[str, Table]:
    """(schema, table) for sources whose connection reads one database (PostgreSQL, SQL Server, MySQL).

    An exact-case match of name and schema wins over case-insensitive ones; with no schema given and several
    candidates, the one in `preferred_schema` (`public`, `dbo`) wins. Otherwise NotFoundError, or a QueryError
    `ambiguous_table` naming the candidates and asking for `qualify_hint`."""
    candidates = [(s, t) for _, s, t in _catalog_candidates(connector, name, schema, None, exact_schema=True)]
    if not candidates:
        where = f"{schema}.{name}" if schema else name
        raise NotFoundError(f"table {where} not found", details={"table": name, "schema": schema})
    if len(candidates) > 1:
        preferred = [(s, t) for s, t in candidates if preferred_schema is not None and s == preferred_schema]
        if len(preferred) == 1 and schema is None:
            return preferred[0]
        names = ", ".join(f"{s}.{t.name}" for s, t in candidates)
        raise QueryError(f"table name {name!r} is ambiguous ({names}); give {qualify_hint}", code="ambiguous_table")
    return candidates[0]


def find_database_table(
    connector: "Connector", name: str, schema: str | None, database: str | None, *, qualify_hint: str
) -> tuple[str, str, Table]:
    """(database, schema, table) for sources whose connection sees several databases (Snowflake databases,
    Databricks catalogs). An exact-case table name wins over case-insensitive matches (schema and database are
    matched case-insensitively: Snowflake folds unquoted names to upper case). Otherwise NotFoundError, or a
    QueryError `ambiguous_table` naming the candidates and asking for `qualify_hint`."""
    candidates = _catalog_candidates(connector, name, schema, database, exact_schema=False)
    where = ".".join(p for p in (database, schema, name) if p)
    if not candidates:
        raise NotFoundError(f"table {where} not found", details={"table": name, "schema": schema, "database": database})
    if len(candidates) > 1:
        names = ", ".join(f"{d}.{s}.{t.name}" for d, s, t in candidates)
        raise QueryError(f"table name {name!r} is ambiguous ({names}); give {qualify_hint}", code="ambiguous_table")
    return candidates[0]


def profile_catalog_table(
    connector: "Connector",
    table: TableRef,
    meta: Table,
    sample_size: int,
    *,
    columns: Sequence[Column] | None = None,
    query: QueryFn | None = None,
    run_generated: GeneratedQueryFn | None = None,
) -> TableProfile:
    """`profile_table` for a table found in the connector's catalog: its columns (or the `columns` given), kind,
    row estimate and primary key. The statements go through the connector's own `query()` (guard, row limit,
    timeout) unless `query` wraps it, or through `run_generated`, the connector's runner for statements built here."""
    return profile_table(
        query or (lambda sql, max_rows, timeout: connector.query(sql, max_rows=max_rows, timeout=timeout)),
        connector.dialect,
        table,
        meta.columns if columns is None else columns,
        kind=meta.kind,
        row_estimate=meta.row_count,
        primary_key=meta.primary_key,
        sample_size=sample_size,
        run_generated=run_generated,
    )


def run_profiling_statement(connector: "Connector", tree: exp.Select, max_rows: int, timeout: float) -> QueryResult:
    """Run a statement built with this module's builders (e.g. `top_values_query`) on `connector`: on its runner for
    generated statements when it has one (`run_generated`), else through `query()` and its guard."""
    runner: GeneratedQueryFn | None = getattr(connector, "run_generated", None)
    if runner is not None:
        return runner(generated(tree), max_rows, timeout)
    return connector.query(tree.sql(dialect=connector.dialect), max_rows=max_rows, timeout=timeout)


def profile_catalog_entry(connector: "Connector", ref: TableRef, entry: Table, sample_size: int) -> TableProfile:
    """Profile a table whose catalog entry the caller read from this same connector's `introspect()` (`ref` names it
    as that catalog does: database, schema, table). Sources that can name an entry themselves (`profile_entry`)
    profile it without reading their catalog again, a lookup that reads every relation of the source, per table;
    the others look the table up as `profile()` does."""
    by_entry = getattr(connector, "profile_entry", None)
    if by_entry is None:
        return connector.profile(ref, sample_size)
    return by_entry(ref, entry, sample_size)


__all__ = [
    "SAMPLING_POLICIES",
    "GeneratedQuery",
    "GeneratedQueryFn",
    "QueryFn",
    "SamplingPolicy",
    "check_connection_database",
    "choose_sample_method",
    "find_database_table",
    "find_schema_table",
    "parse_table_ref",
    "check_generated",
    "generated",
    "profile_catalog_entry",
    "profile_catalog_table",
    "profile_table",
    "run_profiling_statement",
    "sample_query",
    "semantic_hint",
    "stats_query",
    "top_values_query",
    "with_row_limit",
]

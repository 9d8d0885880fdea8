"""The reviewing state's checks, as pure functions: does each metric still run and return rows, does its SQL use
only tables and columns the catalog has, and does every number the answer states appear in what was queried?

Each check returns its findings (problems as sentences fit to show the model in the repair round) instead of raising:
a review collects every problem at once.

- `recheck_metric(env, metric)`: re-executes the metric's SQL (through `execute_sql`, so the same guard, row limit
  and timeout), then checks rows, chart columns and catalog references.
- `check_references(sql, dialect, catalog)`: every table (CTEs aside) resolves to a catalog table or view, matched
  case-insensitively and by as many name parts as the SQL gives; every column resolves in its table, after sqlglot's
  `qualify` has bound columns to their sources (aliases, joins, subqueries, CTEs, `USING`, `*`).
- `unsupported_numbers(answer, results, context)`: the numbers in the answer that no result value, row count or
  context text (the question, the SQL) supports, tolerant of formatting (1,234.5 / 1234.50 / $1.2M / 12% for 0.12)
  and of rounding to the precision the answer writes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from connectors import Catalog
from store.metrics import Metric
from tasks.analyst_agent.tools.env import ToolEnv
from tasks.analyst_agent.tools.sql import SqlResult, execute_sql


# -- catalog references ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CatalogTable:
    database: str
    schema: str
    name: str
    columns: frozenset[str]  # lower-cased


@dataclass
class ReferenceCheck:
    ok: bool
    tables: list[str] = field(default_factory=list)  # database.schema.table of every table the SQL reads
    unknown_tables: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)  # "table.column" or "column"
    problems: list[str] = field(default_factory=list)


def catalog_tables(catalog: Catalog) -> list[CatalogTable]:
    return [
        CatalogTable(db.name, sch.name, tbl.name, frozenset(c.name.lower() for c in tbl.columns))
        for db, sch, tbl in catalog.iter_tables()
    ]


def check_references(sql: str, dialect: str, catalog: Catalog | Sequence[CatalogTable]) -> ReferenceCheck:
    """Whether every table and column the SQL names exists in the catalog (see the module docstring)."""
    tables = catalog_tables(catalog) if isinstance(catalog, Catalog) else list(catalog)
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except (ParseError, SqlglotError) as exc:
        return ReferenceCheck(ok=False, problems=[f"the SQL does not parse as {dialect}: {_first_line(str(exc))}"])
    if len(statements) != 1:
        return ReferenceCheck(ok=False, problems=[f"expected one statement, found {len(statements)}"])
    tree = _lowercased(statements[0])
    check = ReferenceCheck(ok=True)
    resolved: dict[int, CatalogTable] = {}
    cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or not table.name:
            continue  # a table function (generate_series(...), UNNEST): nothing to look up
        if not table.args.get("db") and table.name in cte_names:
            continue
        found = _resolve_table(table, tables)
        if found is None:
            name = ".".join(p for p in (table.catalog, table.db, table.name) if p)
            if name not in check.unknown_tables:
                check.unknown_tables.append(name)
            continue
        resolved[id(table)] = found
        full = f"{found.database}.{found.schema}.{found.name}"
        if full not in check.tables:
            check.tables.append(full)
        table.set("catalog", exp.to_identifier(found.database.lower()))
        table.set("db", exp.to_identifier(found.schema.lower()))
    for name in check.unknown_tables:
        check.problems.append(f"table {name} does not exist in the catalog")
    if not check.unknown_tables:
        _check_columns(tree, dialect, resolved, tables, check)
    check.ok = not check.problems
    return check


def _check_columns(
    tree: exp.Expression, dialect: str, resolved: dict[int, CatalogTable], tables: list[CatalogTable], check: ReferenceCheck
) -> None:
    by_full = {(t.database.lower(), t.schema.lower(), t.name.lower()): t for t in tables}
    # qualified columns (`o.revenue`) are checked as written; qualify would stop at the first unknown one
    for scope in traverse_scope(tree):
        real = _real_sources(scope, by_full)
        for column in scope.columns:
            table = real.get(column.table) if column.table else None
            if table is not None and column.name and column.name not in table.columns:
                _unknown_column(check, f"{table.name}.{column.name}", f"column {column.name} does not exist in table {table.name}")
    if check.unknown_columns:
        return
    schema: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for t in resolved.values():
        schema.setdefault(t.database.lower(), {}).setdefault(t.schema.lower(), {})[t.name.lower()] = {
            c: "unknown" for c in sorted(t.columns)
        }
    try:
        qualified = qualify(
            tree,
            schema=schema,
            dialect=dialect,
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    except OptimizeError as exc:
        unknown = re.match(r"Unknown column: (\S+)", str(exc))
        if unknown:
            name = unknown.group(1)
            _unknown_column(check, name, f"column {name} does not exist in the tables or subqueries the query reads")
        else:
            check.problems.append(f"the SQL's columns could not be bound to its tables: {_first_line(str(exc))}")
        return
    except SqlglotError as exc:
        check.problems.append(f"the SQL's columns could not be bound to its tables: {_first_line(str(exc))}")
        return
    for scope in traverse_scope(qualified):
        real = _real_sources(scope, by_full)
        aliases = _output_aliases(scope)
        for column in scope.columns:
            name = column.name
            if not name or isinstance(column.this, exp.Star):
                continue
            if column.table:
                table = real.get(column.table)
                if table is not None and name not in table.columns:
                    _unknown_column(check, f"{table.name}.{name}", f"column {name} does not exist in table {table.name}")
                # else: a derived table, CTE or table function, checked in its own scope
            elif real and name not in aliases and not any(name in t.columns for t in real.values()):
                _unknown_column(check, name, f"column {name} does not exist in {', '.join(t.name for t in real.values())}")


def _output_aliases(scope: Scope) -> set[str]:
    """Names the SELECT gives to computed values (`... AS month`), which ORDER BY / GROUP BY may use; qualify's own
    `region AS region` for a bare column is no alias of anything."""
    if not isinstance(scope.expression, exp.Select):
        return set()
    return {
        s.alias
        for s in scope.expression.selects
        if isinstance(s, exp.Alias) and not (isinstance(s.this, exp.Column) and s.this.name == s.alias)
    }


def _real_sources(scope: Scope, by_full: dict[tuple[str, str, str], CatalogTable]) -> dict[str, CatalogTable]:
    real: dict[str, CatalogTable] = {}
    for alias, source in scope.sources.items():
        if isinstance(source, exp.Table):
            table = by_full.get((source.catalog.lower(), source.db.lower(), source.name.lower()))
            if table is not None:
                real[alias] = table
    return real


def _unknown_column(check: ReferenceCheck, key: str, problem: str) -> None:
    if key not in check.unknown_columns:
        check.unknown_columns.append(key)
        check.problems.append(problem)


def _resolve_table(table: exp.Table, tables: list[CatalogTable]) -> CatalogTable | None:
    name, db, catalog = table.name.lower(), table.db.lower(), table.catalog.lower()
    matches = [
        t
        for t in tables
        if t.name.lower() == name and (not db or t.schema.lower() == db) and (not catalog or t.database.lower() == catalog)
    ]
    if not matches and db and not catalog:
        # two-part names on sources where the first part is the database (MySQL `shop.orders`)
        matches = [t for t in tables if t.name.lower() == name and t.database.lower() == db]
    if not matches:
        return None
    preferred = [t for t in matches if t.schema.lower() in ("main", "public", "dbo")]
    return (preferred or matches)[0]


def _lowercased(tree: exp.Expression) -> exp.Expression:
    """A copy with every identifier lower-cased and unquoted: the check is case-insensitive on purpose (the warehouse
    already refused what its own case rules refuse; this check is after invented names, not spelling)."""
    copy = tree.copy()
    for identifier in copy.find_all(exp.Identifier):
        identifier.set("this", identifier.this.lower())
        identifier.set("quoted", False)
    return copy


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else "unknown error"


# -- numbers in the answer ---------------------------------------------------------------------------------------------
_SCALES = {
    "k": 1e3, "thousand": 1e3,
    "m": 1e6, "mn": 1e6, "mm": 1e6, "million": 1e6, "millions": 1e6,
    "b": 1e9, "bn": 1e9, "billion": 1e9, "billions": 1e9,
}  # fmt: skip
_DATE_LIKE = re.compile(r"\b\d{4}-\d{1,2}(?:-\d{1,2})?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b|\b\d{1,2}:\d{2}(?::\d{2})?\b")
_NUMBER = re.compile(
    r"(?<![\w.,#])(?P<sign>[-−])?(?:[$€£¥]\s?)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?:\s?(?P<unit>%|percent\b|k\b|K\b|thousand\b|mn\b|MM\b|M\b|million\b|millions\b|bn\b|B\b|billion\b|billions\b))?"
    r"(?![\w]|\.\d|,\d{3})"
)


@dataclass(frozen=True)
class StatedNumber:
    text: str
    value: float  # with its scale applied (1.2M -> 1200000); a percentage as written (12% -> 12)
    tolerance: float  # half a unit of the last digit written, scaled
    percent: bool = False


def numbers_in_text(text: str) -> list[StatedNumber]:
    """The numbers a text states, with the precision it writes them at (dates and clock times left out)."""
    text = _DATE_LIKE.sub(" ", text or "")
    found = []
    for match in _NUMBER.finditer(text):
        whole, frac, unit = match["int"].replace(",", ""), match["frac"] or "", (match["unit"] or "").lower()
        value = float(f"{whole}.{frac}" if frac else whole)
        if match["sign"]:
            value = -value
        percent = unit in ("%", "percent")
        scale = _SCALES.get(unit, 1.0) if not percent else 1.0
        if frac:
            step = 10.0 ** -len(frac)
        else:  # "1,200" may be 1,234 rounded: trailing zeros widen the step
            zeros = len(whole) - len(whole.rstrip("0")) if whole.strip("0") else 0
            step = 10.0 ** min(zeros, max(len(whole) - 1, 0))
        found.append(StatedNumber(match.group(0).strip(), value * scale, step * scale / 2, percent))
    return found


def supported_values(results: Iterable[Any], context: Sequence[str] = ()) -> list[float]:
    """Every number a set of results supports: numeric cells (and numbers written in text cells, dates' parts
    included), row counts, and the numbers of the context texts."""
    values: list[float] = []
    for result in results:
        rows = result.rows if isinstance(result, SqlResult) else result
        if isinstance(result, SqlResult):
            values.append(float(result.row_count))
        else:
            values.append(float(len(rows)))
        for row in rows:
            for cell in row if isinstance(row, (list, tuple)) else [row]:
                values.extend(_cell_numbers(cell))
    for text in context:
        values.extend(float(n) for n in re.findall(r"\d+(?:\.\d+)?", (text or "").replace(",", "")))
    return values


def _cell_numbers(cell: Any) -> list[float]:
    if isinstance(cell, bool) or cell is None:
        return []
    if isinstance(cell, (int, float)):
        return [float(cell)] if math.isfinite(float(cell)) else []
    try:
        number = float(str(cell))
        return [number] if math.isfinite(number) else []
    except ValueError:
        return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", str(cell).replace(",", ""))]


def unsupported_numbers(answer: str, results: Iterable[Any], context: Sequence[str] = ()) -> list[StatedNumber]:
    """The answer's numbers that nothing queried supports. `results` are SqlResults or lists of rows."""
    values = supported_values(results, context)
    return [n for n in numbers_in_text(answer) if not any(_supports(v, n) for v in values)]


def _supports(value: float, stated: StatedNumber) -> bool:
    target = abs(stated.value)
    candidates = [abs(value)]
    if stated.percent:
        candidates.append(abs(value) * 100)
    return any(abs(c - target) <= stated.tolerance * (1 + 1e-9) + 1e-12 for c in candidates)


# -- metrics -----------------------------------------------------------------------------------------------------------
@dataclass
class MetricReview:
    metric_id: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    result: SqlResult | None = None

    def record(self) -> dict[str, Any]:
        return {
            "metric_id": self.metric_id,
            "ok": self.ok,
            "problems": self.problems,
            "row_count": self.result.row_count if self.result is not None else None,
        }


def recheck_metric(env: ToolEnv, metric: Metric, *, empty_is_explained: bool = False) -> MetricReview:
    """Re-execute a stored metric and check it: rows (unless the answer says why there are none), chart columns in
    the result, tables and columns in the env's catalog (when it has one)."""
    review = MetricReview(metric_id=metric.id, ok=True)
    result = execute_sql(env, metric.sql)
    review.result = result
    if not result.ok:
        review.problems.append(f"metric {metric.id} ({metric.name}) fails when re-executed: {result.error}")
    else:
        if result.row_count == 0 and not empty_is_explained:
            review.problems.append(f"metric {metric.id} ({metric.name}) returns no rows")
        lower = {c.lower() for c in result.columns}
        missing = [c for c in metric.chart.columns() if c.lower() not in lower]
        if missing:
            review.problems.append(
                f"metric {metric.id} ({metric.name}): the chart uses {', '.join(missing)}, not among the result's "
                f"columns {', '.join(result.columns)}"
            )
    if env.catalog is not None:
        refs = check_references(metric.sql, env.dialect, env.catalog)
        review.problems += [f"metric {metric.id} ({metric.name}): {p}" for p in refs.problems]
    review.ok = not review.problems
    return review


def answer_problems(answer: str, results: Iterable[Any], context: Sequence[str] = ()) -> list[str]:
    """One sentence per number in the answer that the results do not support (for the repair round)."""
    unsupported = unsupported_numbers(answer, results, context)
    if not unsupported:
        return []
    listed = ", ".join(n.text for n in unsupported[:10])
    return [f"the answer states {listed}, which no query result contains; state only numbers the queries returned"]

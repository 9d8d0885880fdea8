"""Hints for a failed or doubtful query, computed from the schema and the data (no model call).

Measured here: fed back its error alone, the 1.5B model at temperature 0 repeats the failing query word for word. What
fixed queries was a hint saying where the thing it wanted actually is: "column X is in table Y (join it)", "there is
no table X; the tables are ...", "'Europe' is stored as 'europe' in continents.Continent". An empty result is worth a
repair only when a literal of the query does not occur in the data (some right answers are empty).
"""

from __future__ import annotations

import difflib
import re
from typing import Callable, Iterable, Mapping, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from tasks.analyst_agent.sqlgen.interfaces import ExecResult, SqlContext

# each engine's wording of "unknown column / table / ambiguous column", the name captured
MISSING_COLUMN = [
    re.compile(r"no such column: (?P<name>[\w.\"`\[\]]+)", re.I),  # SQLite
    re.compile(r"Referenced column \"(?P<name>[^\"]+)\" not found", re.I),  # DuckDB
    re.compile(r"does not have a column named \"(?P<name>[^\"]+)\"", re.I),  # DuckDB
    re.compile(r"column \"?(?P<name>[\w.]+)\"? does not exist", re.I),  # PostgreSQL
    re.compile(r"Unknown column '(?P<name>[^']+)'", re.I),  # MySQL / MariaDB
]
MISSING_TABLE = [
    re.compile(r"no such table: (?P<name>[\w.\"`]+)", re.I),
    re.compile(r"Table with name (?P<name>[\w.\"]+) does not exist", re.I),
    re.compile(r"relation \"(?P<name>[^\"]+)\" does not exist", re.I),
    re.compile(r"Table '(?P<name>[^']+)' doesn't exist", re.I),
]
AMBIGUOUS = [
    re.compile(r"ambiguous column name: (?P<name>[\w.]+)", re.I),
    re.compile(r"Ambiguous reference to column name \"(?P<name>[^\"]+)\"", re.I),
    re.compile(r"column reference \"(?P<name>[^\"]+)\" is ambiguous", re.I),
    re.compile(r"Column '(?P<name>[^']+)' in \w+ (?:clause )?is ambiguous", re.I),
]
MAX_LISTED = 8
MAX_PROBED_LITERALS = 3


def _bare(name: str) -> str:
    return name.strip("\"`[]").split(".")[-1].strip("\"`[]")


def first_match(patterns: Iterable[re.Pattern[str]], text: str) -> str | None:
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            return m.group("name")
    return None


def tables_with_column(tables: Mapping[str, Sequence[str]], column: str) -> list[str]:
    wanted = column.lower()
    return [t for t, cols in tables.items() if any(c.lower() == wanted for c in cols)]


def query_aliases(sql: str | None, dialect: str | None) -> dict[str, tuple[str, str]]:
    """lowercased alias (or bare table name) -> (the alias as written, the table), for every table the query reads."""
    if not sql:
        return {}
    try:
        tree = sqlglot.parse_one(sql, read=read_dialect(dialect or "") or None)
    except (SqlglotError, ValueError):
        return {}
    aliases: dict[str, tuple[str, str]] = {}
    for table in tree.find_all(exp.Table):
        if table.name:
            aliases[table.alias_or_name.lower()] = (table.alias_or_name, table.name)
            aliases.setdefault(table.name.lower(), (table.name, table.name))
    return aliases


def _owner_in_query(owner: str, aliases: Mapping[str, tuple[str, str]]) -> str | None:
    """How the query already refers to table `owner` (its alias as written), if it reads it."""
    bare = owner.split(".")[-1].lower()
    named = [(key, spelled) for key, (spelled, t) in aliases.items() if t.lower() == bare]
    aliased = [spelled for key, spelled in named if key != bare]
    return (aliased or [spelled for _, spelled in named] or [None])[0]


def _missing_column_hint(
    missing: str, tables: Mapping[str, Sequence[str]], sql: str | None, dialect: str | None
) -> str:
    parts = [p.strip("\"`[]") for p in missing.split(".")]
    column, qualifier = parts[-1], (parts[-2] if len(parts) > 1 else None)
    owners = tables_with_column(tables, column)
    if not owners:
        every = [f"{t}.{c}" for t, cols in tables.items() for c in cols]
        close = difflib.get_close_matches(column.lower(), [e.split(".")[-1].lower() for e in every], n=4, cutoff=0.6)
        similar = [e for e in every if e.split(".")[-1].lower() in close][:MAX_LISTED]
        return f"there is no column {column}" + (
            f"; similar columns: {', '.join(similar)}" if similar else "; use only the columns of the schema"
        )
    column = next(c for c in tables[owners[0]] if c.lower() == column.lower())  # the schema's spelling
    aliases = query_aliases(sql, dialect)
    used = [(o, _owner_in_query(o, aliases)) for o in owners]
    in_query = [(o, a) for o, a in used if a is not None]
    start = ""
    if qualifier is not None and qualifier.lower() in aliases:
        meant = aliases[qualifier.lower()][1]
        if meant.lower() != qualifier.lower():
            start = f"{qualifier} stands for {meant}, which has no column {column}; "
        else:
            start = f"{meant} has no column {column}; "
    if in_query:
        owner, alias = in_query[0]
        return start + f"{column} is a column of {owner}, which the query reads as {alias}: write {alias}.{column}"
    return start + (
        f"{column} is a column of {', '.join(owners)}: join {owners[0]} (see the foreign keys) and take {column} from it"
    )


def error_hints(
    error: str, tables: Mapping[str, Sequence[str]], sql: str | None = None, dialect: str | None = None
) -> list[str]:
    """What the schema says about the thing an error names (empty when the error names nothing we know about).
    With the failed `sql`, a hint also says which table an alias stands for and how the query already names the
    table that has the column (the 1.5B model otherwise keeps writing `T2.x` for a column of T1)."""
    hints: list[str] = []
    missing = first_match(MISSING_COLUMN, error)
    if missing:
        hints.append(_missing_column_hint(missing, tables, sql, dialect))
    table = first_match(MISSING_TABLE, error)
    if table:
        bare = _bare(table)
        close = difflib.get_close_matches(bare.lower(), [t.lower() for t in tables], n=3, cutoff=0.5)
        hints.append(
            f"there is no table {bare}; the tables are: {', '.join(list(tables)[:MAX_LISTED])}"
            + (f" (did you mean {', '.join(t for t in tables if t.lower() in close)}?)" if close else "")
        )
    ambiguous = first_match(AMBIGUOUS, error)
    if ambiguous:
        column = _bare(ambiguous)
        owners = tables_with_column(tables, column)
        hints.append(f"column {column} is in {', '.join(owners) or 'several tables'}: qualify it with its table")
    return hints


def _string_filters(sql: str, dialect: str) -> list[tuple[str, str, bool]]:
    """(column, literal, is_pattern) of the query's `col = 'x'`, `col LIKE '%x%'`, `col IN ('x', ...)` filters."""
    try:
        tree = sqlglot.parse_one(sql, read=read_dialect(dialect))
    except (SqlglotError, ValueError):
        return []
    pairs: list[tuple[str, str, bool]] = []
    for node in tree.find_all(exp.EQ, exp.Like, exp.ILike, exp.NEQ, exp.In):
        column = node.this if isinstance(node.this, exp.Column) else None
        if isinstance(node, exp.In):
            literals = [e for e in node.expressions if isinstance(e, exp.Literal) and e.is_string]
        else:
            other = node.expression
            if column is None and isinstance(other, exp.Column):
                column, other = other, node.this
            literals = [other] if isinstance(other, exp.Literal) and other.is_string else []
        if column is None:
            continue
        pattern = isinstance(node, (exp.Like, exp.ILike))
        for literal in literals:
            text = literal.this.strip("%") if pattern else literal.this
            if text and not (pattern and ("%" in text or "_" in text)):
                pairs.append((column.name, text, pattern))
    return pairs


def read_dialect(dialect: str) -> str | None:
    return {"postgresql": "postgres", "mariadb": "mysql", "sqlserver": "tsql"}.get(dialect, dialect) or None


Prober = Callable[[str, str, str], Sequence[str]]


def probe_with(execute: Callable[[str], ExecResult], dialect: str) -> Prober:
    """A prober asking the warehouse for stored values like a literal (case-insensitive substring), a few rows."""

    def probe(table: str, column: str, literal: str) -> Sequence[str]:
        col = exp.column(column, quoted=True)
        query = (
            exp.select(col)
            .distinct()
            .from_(exp.to_table(table, dialect=read_dialect(dialect)))
            .where(exp.Like(this=exp.Lower(this=exp.cast(col, "text")), expression=exp.Literal.string(f"%{literal.lower()}%")))
            .limit(5)
        )
        result = execute(query.sql(dialect=read_dialect(dialect)))
        return [str(row[0]) for row in result.rows if row and row[0] is not None] if result.ok else []

    return probe


def empty_result_hints(sql: str, ctx: SqlContext, probe: Prober | None = None) -> list[str]:
    """Hints for a query that returned no rows: literals it filters on that the data does not hold, with the stored
    spellings nearest to them. Empty when every literal occurs (the empty answer may well be right)."""
    hints: list[str] = []
    for column, literal, pattern in _string_filters(sql, ctx.dialect)[:MAX_PROBED_LITERALS]:
        owners = tables_with_column(ctx.tables, column)
        for table in owners:
            real_column = next(c for c in ctx.tables[table] if c.lower() == column.lower())
            stored = ctx.values.get((table, real_column))
            if stored is not None:
                if literal in stored or (pattern and any(literal.lower() in v.lower() for v in stored)):
                    break
                lowered = literal.lower()
                similar = [v for v in stored if lowered in v.lower() or v.lower() in lowered]
                similar = similar or difflib.get_close_matches(literal, list(stored), n=3, cutoff=0.6)
            elif probe is not None:
                similar = list(probe(table, real_column, literal))
                if literal in similar or (pattern and similar):
                    break
            else:
                continue
            if similar:
                shown = ", ".join("'" + v.replace("'", "''") + "'" for v in similar[:3])
                hints.append(f"'{literal}' does not occur in {table}.{real_column}; it is stored as {shown}")
            else:
                hints.append(f"'{literal}' does not occur in {table}.{real_column}")
            break
    return hints


def normalized_sql(sql: str) -> str:
    """A whitespace-insensitive form, to tell whether the model only repeated itself (case kept: literals count)."""
    return re.sub(r"\s+", " ", sql.strip().rstrip(";").strip())

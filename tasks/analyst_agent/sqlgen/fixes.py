"""Mechanical fixes of a failed query, applied without a model call when the schema leaves exactly one reading.

Why: measured on spider-dev, the 1.5B model given the hint "T2 stands for players, which has no column loser_name;
loser_name is a column of matches, which the query reads as T1: write T1.loser_name" repeated `T2.loser_name` in all
three rounds; the query it meant was one rewrite away. When the error names a thing and the query's own tables say
where that thing is, and only one place fits, the writer makes that rewrite itself and executes it like any attempt.

Each fix changes only what the error names:
- an unknown qualified column `A.c`: `c` is a column of exactly one other table the query reads -> that table's alias;
- an unknown table joined as `A` that the query only reads columns of that another joined table has (one owner each):
  the join is dropped and those columns point at their owner (the model invented a lookup table);
- an unknown table with exactly one close spelling in the schema that has every column the query reads through it;
- an ambiguous column that every table having it joins on equal (`a.c = b.c`): qualified with the first of them.
Anything else (the column is nowhere in the query's tables, two tables fit, the query does not parse) is None: the
model repairs it from the hints.
"""

from __future__ import annotations

import difflib
import re
from typing import Mapping, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from tasks.analyst_agent.sqlgen.hints import AMBIGUOUS, MISSING_COLUMN, MISSING_TABLE, first_match, read_dialect

#: a close spelling of an unknown table must be this similar (difflib ratio) to be taken without asking
TABLE_SPELLING_CUTOFF = 0.8
#: DuckDB names the alias apart from the column ('Table "t2" does not have a column named "y"')
_QUALIFIED_ELSEWHERE = re.compile(r'Table "(?P<table>[^"]+)" does not have a column named "(?P<name>[^"]+)"')


def fix_for_error(sql: str, error: str, tables: Mapping[str, Sequence[str]], dialect: str) -> str | None:
    """The query rewritten so the thing `error` names resolves, when the schema allows exactly one rewrite."""
    read = read_dialect(dialect)
    try:
        tree = sqlglot.parse_one(sql, read=read)
    except (SqlglotError, ValueError):
        return None
    if tree is None:
        return None
    columns = {name.lower(): {c.lower() for c in cols} for name, cols in tables.items()}
    fixed: exp.Expression | None = None
    duckdb = _QUALIFIED_ELSEWHERE.search(error)
    missing_column = f"{duckdb['table']}.{duckdb['name']}" if duckdb else first_match(MISSING_COLUMN, error)
    missing_table = first_match(MISSING_TABLE, error)
    ambiguous = first_match(AMBIGUOUS, error)
    if missing_column and "." in missing_column:
        fixed = _requalify(tree, *_split(missing_column), columns)
    elif missing_table:
        name = _split(missing_table)[1]
        fixed = _drop_invented_join(tree, name, columns) or _respell_table(tree, name, tables, columns)
    elif ambiguous:
        fixed = _qualify_join_key(tree, _split(ambiguous)[1], columns)
    if fixed is None:
        return None
    try:
        text = fixed.sql(dialect=read)
    except (SqlglotError, ValueError):
        return None
    return text if text != sql else None


def _split(name: str) -> tuple[str, str]:
    parts = [p.strip("\"`[]") for p in name.split(".")]
    return (parts[-2] if len(parts) > 1 else ""), parts[-1]


def _aliases(tree: exp.Expression) -> dict[str, str]:
    """lowercased alias (or bare name) -> lowercased table, for every table the query reads."""
    found: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        if table.name:
            found[table.alias_or_name.lower()] = table.name.lower()
    return found


def _owners(column: str, aliases: Mapping[str, str], columns: Mapping[str, set[str]], skip: str = "") -> list[str]:
    """The aliases of the query whose table has `column`, `skip` excluded (a table read twice counts twice: which
    of its two aliases is meant is not for the writer to guess)."""
    return [a for a, t in aliases.items() if a != skip and column.lower() in columns.get(t, set())]


def _columns_of(tree: exp.Expression, qualifier: str, name: str | None = None) -> list[exp.Column]:
    return [
        c
        for c in tree.find_all(exp.Column)
        if c.table.lower() == qualifier and (name is None or c.name.lower() == name.lower())
    ]


def _spelled(alias: str, tree: exp.Expression) -> str:
    """The alias as the query writes it (case kept)."""
    for table in tree.find_all(exp.Table):
        if table.alias_or_name.lower() == alias:
            return table.alias_or_name
    return alias


def _requalify(tree: exp.Expression, qualifier: str, column: str, columns: Mapping[str, set[str]]) -> exp.Expression | None:
    aliases = _aliases(tree)
    q = qualifier.lower()
    if q not in aliases or column.lower() in columns.get(aliases[q], set()):
        return None  # not a table of the query, or the table does have it (the error is about something else)
    owners = _owners(column, aliases, columns, skip=q)
    if len(owners) != 1:
        return None
    owner = _spelled(owners[0], tree)
    targets = _columns_of(tree, q, column)
    if not targets:
        return None
    for node in targets:
        node.set("table", exp.to_identifier(owner))
    return tree


def _drop_invented_join(tree: exp.Expression, name: str, columns: Mapping[str, set[str]]) -> exp.Expression | None:
    if name.lower() in columns:
        return None
    joins = [j for j in tree.find_all(exp.Join) if isinstance(j.this, exp.Table) and j.this.name.lower() == name.lower()]
    if len(joins) != 1:
        return None
    join = joins[0]
    alias = join.this.alias_or_name.lower()
    on = join.args.get("on")
    in_on = {id(c) for c in on.find_all(exp.Column)} if on is not None else set()
    if join.args.get("using"):
        return None
    read = [c for c in _columns_of(tree, alias) if id(c) not in in_on]
    aliases = {a: t for a, t in _aliases(tree).items() if a != alias}
    plan: list[tuple[exp.Column, str]] = []
    for node in read:
        owners = _owners(node.name, aliases, columns)
        if len(owners) != 1:
            return None
        plan.append((node, _spelled(owners[0], tree)))
    join.pop()
    for node, owner in plan:
        node.set("table", exp.to_identifier(owner))
    return tree


def _respell_table(
    tree: exp.Expression, name: str, tables: Mapping[str, Sequence[str]], columns: Mapping[str, set[str]]
) -> exp.Expression | None:
    if name.lower() in columns:
        return None
    close = difflib.get_close_matches(name.lower(), list(columns), n=2, cutoff=TABLE_SPELLING_CUTOFF)
    if len(close) != 1:
        return None
    real = next(t for t in tables if t.lower() == close[0])
    nodes = [t for t in tree.find_all(exp.Table) if t.name.lower() == name.lower()]
    for node in nodes:
        reads = _columns_of(tree, node.alias_or_name.lower())
        if any(c.name.lower() not in columns[close[0]] for c in reads):
            return None
    for node in nodes:
        had_alias = bool(node.alias)
        node.set("this", exp.to_identifier(real))
        if not had_alias:  # columns written `name.c` keep resolving: the table keeps the old name as its alias
            for c in _columns_of(tree, name.lower()):
                c.set("table", exp.to_identifier(real))
    return tree


def _qualify_join_key(tree: exp.Expression, column: str, columns: Mapping[str, set[str]]) -> exp.Expression | None:
    aliases = _aliases(tree)
    owners = _owners(column, aliases, columns)
    if len(owners) < 2:
        return None
    equal: set[frozenset[str]] = set()
    for eq in tree.find_all(exp.EQ):
        left, right = eq.this, eq.expression
        if (
            isinstance(left, exp.Column)
            and isinstance(right, exp.Column)
            and left.name.lower() == right.name.lower() == column.lower()
        ):
            equal.add(frozenset((left.table.lower(), right.table.lower())))
    first = owners[0]
    if any(frozenset((first, other)) not in equal for other in owners[1:]):
        return None  # not the same value in every table: which one is meant is a question for the model
    bare = [c for c in tree.find_all(exp.Column) if not c.table and c.name.lower() == column.lower()]
    if not bare:
        return None
    owner = _spelled(first, tree)
    for node in bare:
        node.set("table", exp.to_identifier(owner))
    return tree

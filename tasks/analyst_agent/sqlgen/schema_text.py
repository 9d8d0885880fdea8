"""The pruned schema the model reads: compact, keyed, with question literals linked to the columns holding them.

Small models lose track in long DDL (XiYan-SQL: M-Schema beats plain DDL by ~4 points); measured here with the 1.5B
model, a compact `table(col type PK, ...)` line per table plus a foreign-key line beat CREATE TABLE, and linking the
question's literals to stored values ("'Europe' is a value of continents.Continent") was the largest single gain at no
model cost. Sample values shown as "e.g." get copied into filters, so at most a couple per text column, and only
from the profile's most frequent ones.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from connectors.catalog import Catalog, Table, TableProfile
from tasks.analyst_agent.search.results import ColumnValues, TableKey
from tasks.analyst_agent.search.values import ValueIndex
from tasks.analyst_agent.sqlgen.interfaces import Example, SqlContext, SqlGenError

#: schemas a query may leave out (each engine's default), so names stay short where the engine allows it
DEFAULT_SCHEMAS = frozenset({"main", "public", "dbo"})
SHORT_TYPES = {
    "integer": "int",
    "string": "text",
    "float": "real",
    "decimal": "decimal",
    "boolean": "bool",
    "timestamp": "timestamp",
    "date": "date",
    "time": "time",
    "binary": "blob",
    "json": "json",
}
MAX_SAMPLE_CHARS = 30
#: at most this many question literals linked to stored values (strongest first)
MAX_LINKED_VALUES = 6


def table_names(tables: Sequence[TableKey]) -> dict[TableKey, str]:
    """How the model should write each table: bare where the engine finds it, schema- or database-qualified when the
    chosen tables span several databases or sit outside the default schema."""
    databases = {k.database for k in tables}
    names: dict[TableKey, str] = {}
    for key in tables:
        parts = [key.table]
        if key.schema not in DEFAULT_SCHEMAS or len(databases) > 1:
            parts.insert(0, key.schema)
        if len(databases) > 1:
            parts.insert(0, key.database)
        names[key] = ".".join(parts)
    return names


def _find_table(catalog: Catalog, key: TableKey) -> Table:
    for db, schema, table in catalog.iter_tables():
        if db.name == key.database and schema.name == key.schema and table.name == key.table:
            return table
    raise SqlGenError(f"table {key.qualified} is not in the catalog")


def _profile_of(profiles: Iterable[TableProfile], key: TableKey) -> TableProfile | None:
    for p in profiles:
        if p.table == key.table and (p.schema_ in (None, key.schema)) and (p.database in (None, key.database)):
            return p
    return None


def _quote(value: object) -> str:
    text = str(value)
    if len(text) > MAX_SAMPLE_CHARS:
        text = text[: MAX_SAMPLE_CHARS - 1] + "…"
    return "'" + text.replace("'", "''") + "'"


def render_schema(
    catalog: Catalog,
    tables: Sequence[TableKey],
    profiles: Sequence[TableProfile] = (),
    values: Sequence[ColumnValues] = (),
    *,
    samples: int = 2,
) -> str:
    """One line per table, `name(col type PK, col type e.g. 'a', 'b', ...)`, then the foreign keys among them.

    `tables` keeps its order (pass catalog order to let consecutive prompts share a prefix the model server caches).
    Sample values come from the profiles' most frequent values of text columns, else from `values`; `samples=0`
    shows none."""
    if not tables:
        raise SqlGenError("no tables to render: the search found none for this question")
    names = table_names(tables)
    by_name = {(k.database, k.schema, k.table.lower()): names[k] for k in tables}
    known_values = {(v.table, v.column): v.values for v in values}
    lines: list[str] = []
    keys_lines: list[str] = []
    for key in tables:
        table = _find_table(catalog, key)
        profile = _profile_of(profiles, key)
        column_profiles = {c.name: c for c in profile.columns} if profile else {}
        parts = []
        for column in table.columns:
            text = f"{column.name} {SHORT_TYPES.get(column.normalized_type, column.data_type.lower() or 'other')}"
            if column.name in table.primary_key:
                text += " PK"
            if samples and column.normalized_type == "string" and column.name not in table.primary_key:
                shown: list[object] = []
                cp = column_profiles.get(column.name)
                if cp is not None:
                    shown = [vc.value for vc in cp.top_values if vc.value not in (None, "")][:samples]
                    if not shown:
                        shown = [v for v in cp.sample_values if v not in (None, "")][:samples]
                if not shown:
                    shown = list(known_values.get((key, column.name), ()))[:samples]
                if shown:
                    text += " e.g. " + ", ".join(_quote(v) for v in shown)
            parts.append(text)
        lines.append(f"{names[key]}({', '.join(parts)})")
        for fk in table.foreign_keys:
            target = by_name.get(
                (fk.referred_database or key.database, fk.referred_schema or key.schema, fk.referred_table.lower())
            )
            if target is None:
                continue
            for mine, theirs in zip(fk.columns, fk.referred_columns or fk.columns):
                keys_lines.append(f"{names[key]}.{mine} = {target}.{theirs}")
    if keys_lines:
        lines.append("Foreign keys: " + "; ".join(dict.fromkeys(keys_lines)))
    return "\n".join(lines)


def link_values(
    question: str, tables: Sequence[TableKey], values: Sequence[ColumnValues], *, limit: int = MAX_LINKED_VALUES
) -> list[str]:
    """Question phrases that are stored values of the chosen tables' columns, as prompt lines:
    `'Captured' is a value of ship.disposition_of_ship` (the stored spelling, which is what the filter must use)."""
    chosen = set(tables)
    kept = [v for v in values if v.table in chosen]
    if not kept:
        return []
    names = table_names(tables)
    index = ValueIndex.build(((i, v.column, value) for i, v in enumerate(kept) for value in v.values), len(kept))
    lines: list[str] = []
    for match in index.match(question)[: limit * 2]:
        owner = kept[match.table]
        line = f"{_quote(match.value)} is a value of {names[owner.table]}.{owner.column}"
        if line not in lines:
            lines.append(line)
        if len(lines) >= limit:
            break
    return lines


def build_context(
    question: str,
    dialect: str,
    catalog: Catalog,
    tables: Sequence[TableKey],
    profiles: Sequence[TableProfile] = (),
    values: Sequence[ColumnValues] = (),
    *,
    examples: Sequence[Example] = (),
    history: Sequence[str] = (),
    max_rows: int = 100,
    samples: int = 2,
    link: bool = True,
) -> SqlContext:
    """The `SqlContext` for a question from the search's chosen tables: what the agent's analyzing state and the eval
    both call. Tables are put in catalog order so prompts about the same tables share a cacheable prefix."""
    if not question or not question.strip():
        raise SqlGenError("question must be a non-empty string")
    order = {key: i for i, key in enumerate(TableKey(d.name, s.name, t.name) for d, s, t in catalog.iter_tables())}
    missing = [k.qualified for k in tables if k not in order]
    if missing:
        raise SqlGenError(f"table(s) not in the catalog: {', '.join(missing)}")
    ordered = sorted(dict.fromkeys(tables), key=order.__getitem__)
    names = table_names(ordered)
    columns = {names[k]: [c.name for c in _find_table(catalog, k).columns] for k in ordered}
    chosen = set(ordered)
    return SqlContext(
        question=question.strip(),
        dialect=dialect,
        schema_text=render_schema(catalog, ordered, profiles, values, samples=samples),
        examples=tuple(examples),
        history=tuple(history),
        max_rows=max_rows,
        tables=columns,
        values={(names[v.table], v.column): tuple(v.values) for v in values if v.table in chosen},
        value_hints=tuple(link_values(question, ordered, values)) if link else (),
    )

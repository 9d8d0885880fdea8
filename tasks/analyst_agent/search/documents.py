"""A catalog (plus profiles and column values) flattened into one search document per table.

Each document keeps its words in separate fields because they are not equally telling: a question word that is the
table's own name says more than one found among its columns, and more again than one found in a sample value. The
fusion weighs the fields' BM25 scores separately. The schema (for Spider-style pools: the database) is a document of
its own, made of every name inside it: the schema that covers most of a question's words is where its tables are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from connectors.catalog import Catalog, ColumnProfile, TableProfile
from tasks.analyst_agent.search.results import ColumnValues, TableKey
from tasks.analyst_agent.search.text import humanize, identifier_terms, text_terms

#: a profile's top/sample values of a text column are indexed when it has at most this many distinct values
LOW_CARDINALITY = 100
#: longer values are free text, not names: their words go to the values field, the whole value is not matched
MAX_VALUE_WORDS = 6
#: columns listed in a table's embedding text (the model reads 256 word pieces at most)
MAX_EMBEDDED_COLUMNS = 40
_SQL_WORDS = frozenset(
    "select from where join left right inner outer full cross on and or not as group by order having limit union all "
    "distinct case when then else end is null in exists between like create view with".split()
)
_SPACES = re.compile(r"\s+")


@dataclass
class TableDoc:
    key: TableKey
    group: int  # index into the index's groups (database, schema)
    kind: str
    columns: list[str]
    column_terms: list[list[str]]  # per column: its name's terms
    name_terms: list[str]
    columns_field: list[str]
    text_field: list[str]
    values_field: list[str]
    embed_text: str
    #: (column, value) pairs for exact literal matching
    values: list[tuple[str, str]] = field(default_factory=list)


def _profile_values(profile: ColumnProfile) -> list[str]:
    if profile.normalized_type != "string":
        return []
    if profile.distinct_count is not None and profile.distinct_count > LOW_CARDINALITY:
        return []
    seen: dict[str, None] = {}
    for value in [v.value for v in profile.top_values] + list(profile.sample_values):
        if isinstance(value, str) and value.strip():
            seen.setdefault(value, None)
    return list(seen)


def _view_terms(sql: str) -> list[str]:
    return [t for t in text_terms(sql) if t not in _SQL_WORDS]


def embedding_text(table: str, columns: Sequence[str], comment: str | None) -> str:
    """What the embedding model reads for a table: its name, then its column names, as words."""
    text = f"{humanize(table)}: {', '.join(humanize(c) for c in columns[:MAX_EMBEDDED_COLUMNS])}"
    if comment:
        text += f". {_SPACES.sub(' ', comment).strip()}"
    return text


def build_documents(
    catalog: Catalog,
    profiles: Iterable[TableProfile] = (),
    values: Iterable[ColumnValues] = (),
) -> tuple[list[TableDoc], list[tuple[str, str]]]:
    """One document per catalog table, and the (database, schema) groups they belong to.

    Profiles and values are matched to tables by (database, schema, table); a profile that names no database or
    schema matches the only table of that name, if there is exactly one."""
    by_key: dict[TableKey, list[ColumnProfile]] = {}
    by_name: dict[str, list[list[ColumnProfile]]] = {}
    for profile in profiles:
        if profile.database is not None and profile.schema_ is not None:
            by_key[TableKey(profile.database, profile.schema_, profile.table)] = profile.columns
        else:
            by_name.setdefault(profile.table, []).append(profile.columns)
    extra_values: dict[TableKey, list[tuple[str, str]]] = {}
    for column_values in values:
        pairs = extra_values.setdefault(TableKey(*column_values.table), [])
        pairs.extend((column_values.column, v) for v in column_values.values if v.strip())

    groups: dict[tuple[str, str], int] = {}
    docs: list[TableDoc] = []
    for db, schema, table in catalog.iter_tables():
        key = TableKey(db.name, schema.name, table.name)
        group = groups.setdefault((db.name, schema.name), len(groups))
        column_profiles = by_key.get(key)
        if column_profiles is None and len(by_name.get(table.name, [])) == 1:
            column_profiles = by_name[table.name][0]
        value_pairs: dict[tuple[str, str], None] = {}
        for profile in column_profiles or []:
            for value in _profile_values(profile):
                value_pairs.setdefault((profile.name, value), None)
        for pair in extra_values.get(key, []):
            value_pairs.setdefault(pair, None)

        columns = [c.name for c in table.columns]
        column_terms = [identifier_terms(c) for c in columns]
        text_field: list[str] = text_terms(table.comment or "")
        for col in table.columns:
            if col.comment:
                text_field.extend(text_terms(col.comment))
        if table.view_definition:
            text_field.extend(_view_terms(table.view_definition))
        values_field: list[str] = []
        for _, value in value_pairs:
            values_field.extend(text_terms(value))
        docs.append(
            TableDoc(
                key=key,
                group=group,
                kind=table.kind,
                columns=columns,
                column_terms=column_terms,
                name_terms=identifier_terms(table.name),
                columns_field=[t for terms in column_terms for t in terms],
                text_field=text_field,
                values_field=values_field,
                embed_text=embedding_text(table.name, columns, table.comment),
                values=list(value_pairs),
            )
        )
    return docs, list(groups)


def group_terms(docs: Sequence[TableDoc], groups: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Each group's document: its database and schema names and every table and column name inside it."""
    fields: list[list[str]] = [identifier_terms(db) + identifier_terms(schema) for db, schema in groups]
    for doc in docs:
        fields[doc.group].extend(doc.name_terms)
        fields[doc.group].extend(doc.columns_field)
    return fields

"""searching: the few tables the question needs (the catalog search), the pruned schema the model will read, and
the dates relative periods count from.

No model is involved: the search index is built once per snapshot and cached on disk, a search takes milliseconds.
The chosen tables and the reasons they were picked go to metadata for the UI.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Iterable, Sequence

from sqlglot import exp

from connectors import Catalog, TableProfile
from runtime import logger, project_root
from tasks.analyst_agent.dates import date_context
from tasks.analyst_agent.interfaces import AnalystInput
from tasks.analyst_agent.memory import ChosenTable, RunMemory
from tasks.analyst_agent.search import ColumnValues, FileIndexCache, TableHit, TableKey, index_for_snapshot
from tasks.analyst_agent.sqlgen import SqlContext, build_context
from tasks.analyst_agent.tools.env import ToolEnv
from tasks.analyst_agent.tools.sql import execute_sql

#: at most this many tables go to the SQL writer (pooled recall@5 0.978, search/README.md)
SEARCH_K = 5
#: ... and only those scoring at least this share of the best one: a 1.5B model given five tables for a question one
#: view answers joins tables it does not need (seen on the demo: campaigns joined into revenue_by_channel). On the
#: demo's questions 0.55 keeps the answer's tables (orders + order_items, products + order_items, the one view) and
#: drops the rest; tables the search moved up to complete a join path are always kept.
RELATIVE_CUT = 0.55
#: a text column with at most this many distinct values has them indexed for value linking
MAX_LINKED_DISTINCT = 100
#: date/timestamp columns per table, and tables, probed for where the data ends
MAX_DATE_PROBES = 4
MAX_DATE_PROBE_TABLES = 3
INDEX_DIR = ".taskpack/search-index"


def search(memory: RunMemory, catalog: Catalog, profiles: Sequence[TableProfile], env: ToolEnv,
           payload: AnalystInput) -> RunMemory:
    assert memory.snapshot_id is not None, "initializing found or made a snapshot"
    cache = FileIndexCache(project_root() / INDEX_DIR)
    values = column_values(profiles)
    index = index_for_snapshot(cache, memory.snapshot_id, catalog, profiles, values)
    hits = choose_tables(index.search(search_text(memory), k=SEARCH_K))
    keys = [hit.key for hit in hits]
    context = sql_context(memory, catalog, profiles, keys)
    names = list(context.tables)
    memory.tables = [
        ChosenTable(
            name=_name_for(hit.key, context),
            qualified=hit.key.qualified,
            score=round(hit.score, 4),
            reasons=[r.detail for r in hit.reasons[:3]],
        )
        for hit in hits
    ]
    memory.schema_text = context.schema_text
    memory.value_hints = list(context.value_hints)
    ends = data_ends(env, catalog, keys, context)
    dates = date_context(datetime.now(timezone.utc).date(), given=payload.options.today, data_ends=ends)
    memory.dates = dates.to_dict()
    memory.date_text = dates.prompt_text()
    logger.info("tables chosen", tables=names, as_of=memory.dates["as_of"], data_ends=memory.dates["data_ends"])
    return memory


def choose_tables(hits: Sequence[TableHit]) -> list[TableHit]:
    """The hits worth showing the model: the best, and every other within `RELATIVE_CUT` of it or on a join path."""
    if not hits:
        return []
    best = max(hit.score for hit in hits)
    return [
        hit for i, hit in enumerate(hits)
        if i == 0 or hit.score >= RELATIVE_CUT * best or any(r.detail.startswith("joins ") for r in hit.reasons)
    ]


def search_text(memory: RunMemory) -> str:
    """The question, plus the previous one for a follow-up ("and by country?" names no table)."""
    if memory.history and len(memory.question.split()) < 8:
        return f"{memory.history[-1].question} {memory.question}"
    return memory.question


def column_values(profiles: Iterable[TableProfile]) -> list[ColumnValues]:
    """Low-cardinality text columns' profiled values, the index the value linking matches question words against."""
    found = []
    for profile in profiles:
        key = TableKey(profile.database or "", profile.schema_ or "", profile.table)
        for column in profile.columns:
            if column.normalized_type != "string" or not column.top_values:
                continue
            if column.distinct_count is not None and column.distinct_count > MAX_LINKED_DISTINCT:
                continue
            texts = [str(v.value) for v in column.top_values if isinstance(v.value, str) and v.value.strip()]
            if texts:
                found.append(ColumnValues(table=key, column=column.name, values=texts))
    return found


def table_keys(memory: RunMemory) -> list[TableKey]:
    return [TableKey(*t.qualified.split(".", 2)) for t in memory.tables]


def sql_context(memory: RunMemory, catalog: Catalog, profiles: Sequence[TableProfile], keys: Sequence[TableKey],
                max_rows: int = 100) -> SqlContext:
    """The SQL writer's context for these tables (the same function the eval measures)."""
    history = [turn.question for turn in memory.history[-4:]]
    return build_context(memory.question, memory.dialect, catalog, keys, profiles, column_values(profiles),
                         history=history, max_rows=max_rows)


def _name_for(key: TableKey, context: SqlContext) -> str:
    for name in context.tables:
        if name.split(".")[-1] == key.table:
            return name
    return key.table


def data_ends(env: ToolEnv, catalog: Catalog, keys: Sequence[TableKey], context: SqlContext) -> date | None:
    """The latest date in the data: `max()` of the date and timestamp columns of the chosen base tables, then of the
    source's largest tables (facts carry the events), one guarded query per table, at most `MAX_DATE_PROBE_TABLES`
    tables. Views are probed only when nothing else has a date (a view's `date_trunc('quarter', ...)` column ends on
    the quarter's first day). Dates after today are ignored. None when no probe succeeds: periods count from today."""
    today = datetime.now(timezone.utc).date()
    latest: date | None = None
    for table_name, columns in date_probes(catalog, keys, context):
        result = execute_sql(env, probe_sql(table_name, columns, env.dialect))
        if not result.ok or not result.rows:
            logger.debug("date probe failed", table=table_name, error=result.error)
            continue
        for value in result.rows[0]:
            day = _as_date(value)
            if day is not None and day <= today and (latest is None or day > latest):
                latest = day
    return latest


def date_probes(catalog: Catalog, keys: Sequence[TableKey], context: SqlContext) -> list[tuple[str, list[str]]]:
    """(table as the SQL names it, its date/timestamp columns) to probe, chosen tables first, then the largest."""
    chosen = {tuple(k) for k in keys}
    entries = []
    for db, schema, table in catalog.iter_tables():
        columns = [c.name for c in table.columns if c.normalized_type in ("date", "timestamp")]
        if columns:
            key = TableKey(db.name, schema.name, table.name)
            entries.append((key, table, columns[:MAX_DATE_PROBES]))
    bases = [e for e in entries if e[1].kind != "view"] or entries
    bases.sort(key=lambda e: (tuple(e[0]) not in chosen, -(e[1].row_count or 0)))
    return [
        (_name_for(key, context) if tuple(key) in chosen else _qualified_name(key), columns)
        for key, _, columns in bases[:MAX_DATE_PROBE_TABLES]
    ]


def _qualified_name(key: TableKey) -> str:
    return key.table if key.schema in ("main", "public", "dbo") else f"{key.schema}.{key.table}"


def probe_sql(table: str, columns: Sequence[str], dialect: str) -> str:
    parts = [exp.to_identifier(p, quoted=True) for p in table.split(".")]
    table_exp = exp.Table(this=parts[-1], db=parts[-2] if len(parts) > 1 else None,
                          catalog=parts[-3] if len(parts) > 2 else None)
    select = exp.select(*[exp.Max(this=exp.column(c, quoted=True)).as_(f"c{i}") for i, c in enumerate(columns)])
    return select.from_(table_exp).sql(dialect=dialect)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None

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
from tasks.analyst_agent.search import ColumnValues, FileIndexCache, TableKey, index_for_snapshot
from tasks.analyst_agent.sqlgen import SqlContext, build_context
from tasks.analyst_agent.tools.env import ToolEnv
from tasks.analyst_agent.tools.sql import execute_sql

#: tables handed to the SQL writer (measured: pooled recall@5 0.978; more tables cost prompt tokens)
SEARCH_K = 5
#: a text column with at most this many distinct values has them indexed for value linking
MAX_LINKED_DISTINCT = 100
#: date/timestamp columns probed for where the data ends
MAX_DATE_PROBES = 6
INDEX_DIR = ".taskpack/search-index"


def search(memory: RunMemory, catalog: Catalog, profiles: Sequence[TableProfile], env: ToolEnv,
           payload: AnalystInput) -> RunMemory:
    assert memory.snapshot_id is not None, "initializing found or made a snapshot"
    cache = FileIndexCache(project_root() / INDEX_DIR)
    values = column_values(profiles)
    index = index_for_snapshot(cache, memory.snapshot_id, catalog, profiles, values)
    hits = index.search(search_text(memory), k=SEARCH_K)
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
    """The latest date in the chosen tables' date and timestamp columns (one guarded query per table), ignoring
    dates after today. None when there is none or the probe fails: the dates then count from today."""
    today = datetime.now(timezone.utc).date()
    latest: date | None = None
    probes = 0
    tables = {(d.name, s.name, t.name): t for d, s, t in catalog.iter_tables()}
    for key in keys:
        table = tables.get(tuple(key))
        if table is None or probes >= MAX_DATE_PROBES:
            continue
        columns = [c.name for c in table.columns if c.normalized_type in ("date", "timestamp")][: MAX_DATE_PROBES - probes]
        if not columns:
            continue
        probes += len(columns)
        sql = probe_sql(_name_for(key, context), columns, env.dialect)
        result = execute_sql(env, sql)
        if not result.ok or not result.rows:
            logger.debug("date probe failed", table=key.table, error=result.error)
            continue
        for value in result.rows[0]:
            day = _as_date(value)
            if day is not None and day <= today and (latest is None or day > latest):
                latest = day
    return latest


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

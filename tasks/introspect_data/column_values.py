"""Every value of a low-cardinality text column, kept in its profile: what the analyst agent's value search matches.

A question names literals ("orders shipped to Lyon", "tickets marked 'urgent'"); the catalog search finds the column
holding them only if the snapshot has the values. The shared profiler keeps a column's five most frequent values;
a text column with a handful of distinct values (statuses, countries, channels) deserves all of them. So after a
table's profile, its text columns with more distinct values than the profile kept but at most
`LOW_CARDINALITY_VALUES`, each repeated (a category, not a small table's names or emails), get their complete list, most frequent first, in `top_values`: one more statement per
table, over the same sample (the profiler's own sampling, seeded where the source takes a seed), built with the
profiler's builders and run as its statements are (`run_profiling_statement`: the connector's runner for generated
SQL where it has one, else `query()` and its guard; the row limit and the timeout either way). Tables with no such
column cost nothing.
"""

from __future__ import annotations

from connectors import Connector, TableProfile, TableRef
from connectors.catalog import Column, ValueCount
from connectors.profiling import (
    SAMPLING_POLICIES,
    SamplingPolicy,
    run_profiling_statement,
    sample_query,
    top_values_query,
)

#: a text column with at most this many distinct values (in the profile's sample) has all of them stored
LOW_CARDINALITY_VALUES = 100


#: hints of columns whose values are per-row data, never a category, whatever their count (a small table's emails)
NOT_CATEGORIES = frozenset({"email", "url", "json", "identifier", "datetime"})


def columns_to_complete(profile: TableProfile) -> list[int]:
    """Indexes of the profile's text columns whose distinct values are more than it kept, at most 100, and repeated
    (each value on two rows or more on average): categories, not one value per row such as a small table's names."""
    chosen = []
    for i, c in enumerate(profile.columns):
        if c.normalized_type != "string" or c.distinct_count is None or c.semantic_hint in NOT_CATEGORIES:
            continue
        non_null = profile.sampled_rows * (1 - (c.null_fraction or 0.0))
        if len(c.top_values) < c.distinct_count <= LOW_CARDINALITY_VALUES and c.distinct_count <= non_null / 2:
            chosen.append(i)
    return chosen


def complete_column_values(conn: Connector, profile: TableProfile, sample_size: int, timeout: float) -> TableProfile:
    """The profile with the complete value list of each low-cardinality text column (see the module docstring)."""
    wanted = columns_to_complete(profile)
    if not wanted or profile.sampled_rows == 0:
        return profile
    policy = SAMPLING_POLICIES.get(conn.dialect, SamplingPolicy(tablesample=False, seeded=False))
    columns = [
        Column(ordinal=n + 1, name=profile.columns[i].name, data_type=profile.columns[i].data_type, normalized_type="string")
        for n, i in enumerate(wanted)
    ]
    ref = TableRef(name=profile.table, schema=profile.schema_, database=profile.database)
    sample = sample_query(
        ref, columns, method=profile.sample_method, row_estimate=profile.row_count, sample_size=sample_size, policy=policy
    )
    statement = top_values_query(columns, sample, LOW_CARDINALITY_VALUES, policy)
    if statement is None:
        return profile
    result = run_profiling_statement(conn, statement, LOW_CARDINALITY_VALUES * len(columns), timeout)
    found: dict[int, list[ValueCount]] = {}
    for i, value, count in result.rows:
        found.setdefault(int(i), []).append(ValueCount(value=value, count=int(count)))
    updated = list(profile.columns)
    for n, i in enumerate(wanted):
        values = found.get(n)
        if values and len(values) > len(updated[i].top_values):
            updated[i] = updated[i].model_copy(update={"top_values": values})
    return profile.model_copy(update={"columns": updated})

"""Every value of a low-cardinality text column, kept in its profile: what the analyst agent's value search matches.

A question names literals ("orders shipped to Lyon", "tickets marked 'urgent'"); the catalog search finds the column
holding them only if the snapshot has the values. The shared profiler keeps a column's five most frequent values;
a text column with a handful of distinct values (statuses, countries, channels) deserves all of them. So after a
table's profile, its text columns with more distinct values than the profile kept but at most
`LOW_CARDINALITY_VALUES` get their complete list, most frequent first, in `top_values`: one more statement per
table, over the same sample (the profiler's own sampling, seeded where the source takes a seed), through the
connector's `query()` (the read-only guard, the row limit, the timeout). Tables with no such column cost nothing.
"""

from __future__ import annotations

from connectors import Connector, TableProfile, TableRef
from connectors.catalog import Column, ValueCount
from connectors.profiling import SAMPLING_POLICIES, SamplingPolicy, sample_query, top_values_query

#: a text column with at most this many distinct values (in the profile's sample) has all of them stored
LOW_CARDINALITY_VALUES = 100


def columns_to_complete(profile: TableProfile) -> list[int]:
    """Indexes of the profile's text columns whose distinct values are more than it kept, and at most 100."""
    return [
        i
        for i, c in enumerate(profile.columns)
        if c.normalized_type == "string"
        and c.distinct_count is not None
        and len(c.top_values) < c.distinct_count <= LOW_CARDINALITY_VALUES
    ]


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
    result = conn.query(statement.sql(dialect=conn.dialect), max_rows=LOW_CARDINALITY_VALUES * len(columns), timeout=timeout)
    found: dict[int, list[ValueCount]] = {}
    for i, value, count in result.rows:
        found.setdefault(int(i), []).append(ValueCount(value=value, count=int(count)))
    updated = list(profile.columns)
    for n, i in enumerate(wanted):
        values = found.get(n)
        if values and len(values) > len(updated[i].top_values):
            updated[i] = updated[i].model_copy(update={"top_values": values})
    return profile.model_copy(update={"columns": updated})

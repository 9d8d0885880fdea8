"""The catalog entries a profiling child gets with its tables: trimmed to what profiling reads, in the tables' order,
left out (the child then looks each table up) when the catalog no longer has one of them or they are too wide, and
refused in a payload when they do not match its tables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors import Catalog, Column, Database, ForeignKey, Schema, Table, TableRef
from tasks.introspect_data.interfaces import ProfileChunkInput
from tasks.introspect_data.profiling import catalog_entries, tables_to_profile


def _table(name: str, columns: int = 2) -> Table:
    return Table(
        name=name,
        row_count=50_000,
        primary_key=["c0"],
        comment="a comment profiling does not read",
        foreign_keys=[ForeignKey(columns=["c1"], referred_table="other", referred_columns=["id"])],
        columns=[
            Column(ordinal=i + 1, name=f"c{i}", data_type="integer", normalized_type="integer", nullable=False, default="0",
                   comment="not read either")
            for i in range(columns)
        ],
    )


CATALOG = Catalog(
    source_type="postgres",
    databases=[Database(name="db", schemas=[Schema(name="s", tables=[_table("a"), _table("b", 3), _table("c")])])],
)


def test_entries_follow_the_tables_and_keep_only_what_profiling_reads() -> None:
    refs = [TableRef(name="c", schema="s", database="db"), TableRef(name="a", schema="s", database="db")]
    entries = catalog_entries(CATALOG, refs)
    assert entries is not None and [e.name for e in entries] == ["c", "a"]
    entry = entries[1]
    assert (entry.row_count, entry.primary_key, entry.kind) == (50_000, ["c0"], "table")
    assert [(c.name, c.data_type, c.normalized_type) for c in entry.columns] == [("c0", "integer", "integer"), ("c1", "integer", "integer")]
    assert entry.foreign_keys == [] and entry.comment is None and entry.columns[0].comment is None


def test_no_entries_when_a_table_is_gone_or_the_chunk_is_too_wide() -> None:
    gone = [TableRef(name="a", schema="s", database="db"), TableRef(name="dropped", schema="s", database="db")]
    assert catalog_entries(CATALOG, gone) is None
    every = tables_to_profile(CATALOG, include_views=False, limit=10)
    assert catalog_entries(CATALOG, every, max_columns=7) is not None  # 2 + 3 + 2 columns
    assert catalog_entries(CATALOG, every, max_columns=6) is None


def test_a_payload_whose_entries_do_not_match_its_tables_is_refused() -> None:
    refs = [TableRef(name="a", schema="s", database="db"), TableRef(name="b", schema="s", database="db")]
    entries = catalog_entries(CATALOG, refs)
    assert entries is not None
    ProfileChunkInput(data_source_id="src", tables=refs, entries=entries)  # matching: fine
    with pytest.raises(ValidationError):
        ProfileChunkInput(data_source_id="src", tables=refs, entries=list(reversed(entries)))
    with pytest.raises(ValidationError):
        ProfileChunkInput(data_source_id="src", tables=refs, entries=entries[:1])

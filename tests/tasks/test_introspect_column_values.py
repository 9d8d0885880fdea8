"""introspect-data stores every value of a low-cardinality text column in the snapshot's profiles (not only the five
top values), and the catalog search's value index reads them from there.

Against the real PostgreSQL (end to end through a Worker) and a DuckDB file (the step alone, another dialect)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import duckdb
import pytest

import connectors
from connectors import Connector, TableProfile
from runtime import RunStatus, Worker, runs, tasks
from runtime.backend import reset_backends
from store import snapshots
from tasks.analyst_agent.search import index_for_stored_snapshot
from tasks.introspect_data import task as introspect_module
from tasks.introspect_data.column_values import LOW_CARDINALITY_VALUES, columns_to_complete, complete_column_values
from tasks.introspect_data.profiling import _with_column_values
from tests.tasks.introspect_fixtures import SUFFIX, PgSource, pg_source  # noqa: F401 - fixture

STATUSES = [
    "Shipped", "Pending", "Cancelled", "Returned", "On Hold", "Back Ordered", "Awaiting Pickup", "Lost In Transit",
    "Refunded", "Partially Refunded", "Disputed", "Delivered",
]  # fmt: skip
TIERS = ["gold", "silver", "bronze"]
# 12 statuses (more than the 5 top values a profile keeps, at most 100: all stored), 3 tiers (all in the top 5
# already), 150 cities (more than 100: not a low-cardinality column), a unique note per row.
PG_DDL = """
CREATE TABLE {s}.tickets (id integer PRIMARY KEY, status text NOT NULL, tier text, city text, note text);
INSERT INTO {s}.tickets SELECT g, (ARRAY[{statuses}])[1 + g % 12], (ARRAY['gold','silver','bronze'])[1 + g % 3],
    'city ' || (g % 150), 'note number ' || g FROM generate_series(1, 3000) g;
ANALYZE {s}.tickets;
"""


def _array(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


@pytest.fixture(scope="module")
def values_schema(pg_source: PgSource) -> Iterator[str]:  # noqa: F811
    schema = f"tid_vals_{SUFFIX}"
    with pg_source.admin() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(PG_DDL.format(s=f'"{schema}"', statuses=_array(STATUSES)))
    try:
        yield schema
    finally:
        with pg_source.admin() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def column(profile: TableProfile, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in profile.columns if c.name == name)


@pytest.mark.parametrize("sample_size", [10_000, 1_000], ids=["whole-table", "tablesample"])
def test_the_snapshot_holds_every_value_of_low_cardinality_text_columns_and_the_search_finds_them(
    tmp_path: Path, pg_source: PgSource, values_schema: str, sample_size: int  # noqa: F811
) -> None:
    url = f"sqlite:///{tmp_path / 'taskpack.sqlite'}"
    with Worker(database_url=url, tasks=[introspect_module], concurrency=2):
        handle = tasks.trigger(
            "introspect-data",
            {
                "data_source_id": "ds-values",
                "credentials": pg_source.credentials(),
                "filters": {"include_schemas": [values_schema]},
                "profile": True,
                "profile_sample_size": sample_size,
            },
        )
        run = runs.wait(handle.id, timeout=120)
        assert run.status is RunStatus.COMPLETED, run.error
        snapshot = snapshots.latest_snapshot("ds-values")
        assert snapshot is not None
        (profile,) = snapshot.profiles
        assert profile.sample_method == ("full" if sample_size > 3000 else "tablesample")
        status = column(profile, "status")
        assert status.distinct_count is not None and 5 < status.distinct_count <= 12
        assert len(status.top_values) == status.distinct_count  # all of them, not the top five
        assert {v.value for v in status.top_values} <= set(STATUSES)
        counts = [v.count for v in status.top_values]
        assert counts == sorted(counts, reverse=True)  # most frequent first
        if profile.sample_method == "full":
            assert {v.value for v in status.top_values} == set(STATUSES) and sum(counts) == 3000
        assert sorted(v.value for v in column(profile, "tier").top_values) == sorted(TIERS)
        assert len(column(profile, "city").top_values) == 5  # 150 distinct: more than 100, only the top five
        assert len(column(profile, "note").top_values) == 5

        index = index_for_stored_snapshot(snapshot.id, embedder=None)
        (tickets,) = [i for i, k in enumerate(index.keys) if k[1:] == (values_schema, "tickets")]
        indexed = {v for hits in index.values.entries.values() for t, c, v in hits if t == tickets and c == "status"}
        assert indexed == {v.value for v in status.top_values}
        rare = next(v.value for v in reversed(status.top_values))  # the least frequent one: never a top-five value
        hit = index.search(f"tickets that are {rare.lower()}", 1)[0]
        assert hit.table == "tickets" and any(r.kind == "value" and rare in r.detail for r in hit.reasons)
    reset_backends()


# -- the step alone, on DuckDB ----------------------------------------------------------------------------------------
@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Connector]:
    path = tmp_path / "values.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE channels (id INTEGER PRIMARY KEY, channel TEXT, region TEXT, code TEXT)")
        db.execute(
            "INSERT INTO channels SELECT g, 'channel ' || (g % 8), CASE WHEN g % 2 = 0 THEN 'north' ELSE 'south' END,"
            " 'code-' || (g % 101) FROM range(1, 2021) t(g)"
        )
    conn = connectors.connect(connectors.parse_credentials({"type": "duckdb", "path": str(path)}))
    try:
        yield conn
    finally:
        conn.close()


def test_complete_values_on_duckdb_only_for_columns_that_need_it(duck: Connector) -> None:
    profile = duck.profile("channels", 10_000)
    assert columns_to_complete(profile) == [1]  # channel: 8 values; region has 2 (all kept); code 101 (> 100)
    done = complete_column_values(duck, profile, 10_000, 30.0)
    assert sorted(v.value for v in column(done, "channel").top_values) == [f"channel {i}" for i in range(8)]
    assert sum(v.count for v in column(done, "channel").top_values) == 2020
    assert column(done, "region").top_values == column(profile, "region").top_values
    assert column(done, "code").top_values == column(profile, "code").top_values
    assert LOW_CARDINALITY_VALUES == 100
    # nothing to complete: the same profile back, no statement sent
    assert complete_column_values(duck, done, 10_000, 30.0) is done


class _NotCancelled:
    is_cancelled = False


def test_a_failed_values_statement_keeps_the_ordinary_profile(duck: Connector) -> None:
    from tasks.introspect_data.profiling import TableDeadline

    profile = duck.profile("channels", 10_000)
    gone = profile.model_copy(update={"table": "no_such_table"})  # as if the table was dropped after its profile
    kept = _with_column_values(duck, gone, TableDeadline(duck, 30.0), 10_000, 30.0, _NotCancelled())  # type: ignore[arg-type]
    assert kept is gone and len(column(kept, "channel").top_values) == 5

"""Snapshot diffs: each kind of change, names fully qualified, views as tables, and the diff stored with a snapshot."""

from __future__ import annotations

import pytest

from connectors import Catalog, Column, Database, Schema, Table
from store import NoSnapshotError, SnapshotNotFoundError, diff_catalogs, snapshots


def col(name: str, data_type: str = "integer", **extra: object) -> Column:
    return Column(ordinal=1, name=name, data_type=data_type, normalized_type="other", **extra)


def catalog(*tables: Table, schema: str = "s", database: str = "db") -> Catalog:
    return Catalog(source_type="postgres", databases=[Database(name=database, schemas=[Schema(name=schema, tables=list(tables))])])


BASE = Table(
    name="orders",
    columns=[col("id", nullable=False), col("total", "numeric(12,2)", default="0", comment="gross"), col("note", "text")],
    primary_key=["id"],
)


def test_identical_catalogs_have_an_empty_diff() -> None:
    diff = diff_catalogs(catalog(BASE), catalog(BASE.model_copy()), from_snapshot="a", to_snapshot="b")
    assert diff.is_empty and diff.from_snapshot == "a" and diff.to_snapshot == "b"
    assert diff.summary().model_dump() == {
        "from_snapshot": "a", "tables_added": 0, "tables_removed": 0, "columns_added": 0, "columns_removed": 0, "columns_changed": 0,
    }


def test_each_column_attribute_is_reported_as_old_and_new() -> None:
    changed = BASE.model_copy(
        update={
            "columns": [
                col("id", "bigint", nullable=True),
                col("total", "numeric(12,2)", default=None, comment="net"),
                col("note", "text"),
            ],
            "primary_key": ["note"],
        }
    )
    diff = diff_catalogs(catalog(BASE), catalog(changed))
    assert diff.model_dump(mode="json")["columns_changed"] == [
        {"column": "db.s.orders.id", "changes": {"type": ["integer", "bigint"], "nullable": [False, True], "primary_key": [True, False]}},
        {"column": "db.s.orders.note", "changes": {"primary_key": [False, True]}},
        {"column": "db.s.orders.total", "changes": {"default": ["0", None], "comment": ["gross", "net"]}},
    ]
    assert not (diff.tables_added or diff.tables_removed or diff.columns_added or diff.columns_removed)


def test_a_primary_key_change_alone_is_reported_and_what_is_not_compared_is_not() -> None:
    """Tables whose columns are equal skip the per-column comparison; a key change alone must still be found, and a
    change of an attribute the diff does not compare (row count, ordinal) must still report nothing."""
    key_only = BASE.model_copy(update={"primary_key": ["id", "note"]})
    assert [c.column for c in diff_catalogs(catalog(BASE), catalog(key_only)).columns_changed] == ["db.s.orders.note"]
    moved = [c.model_copy(update={"ordinal": i + 5}) for i, c in enumerate(BASE.columns)]
    quiet = BASE.model_copy(update={"row_count": 12345, "columns": moved})
    assert diff_catalogs(catalog(BASE), catalog(quiet)).is_empty


def test_added_and_removed_tables_and_columns_are_fully_qualified_and_views_count_as_tables() -> None:
    view = Table(name="order_totals", kind="view", columns=[col("total")])
    new_table = Table(name="refunds", columns=[col("id"), col("order_id")])
    fewer_columns = BASE.model_copy(update={"columns": BASE.columns[:2] + [col("channel", "text")]})
    diff = diff_catalogs(catalog(BASE, view), catalog(fewer_columns, new_table))
    assert diff.tables_added == ["db.s.refunds"]  # its columns are not listed again
    assert diff.tables_removed == ["db.s.order_totals"]
    assert diff.columns_added == ["db.s.orders.channel"]
    assert diff.columns_removed == ["db.s.orders.note"]
    assert diff.columns_changed == []


def test_the_same_table_in_another_schema_or_database_is_another_table() -> None:
    diff = diff_catalogs(catalog(BASE), catalog(BASE, schema="t"))
    assert diff.tables_added == ["db.t.orders"] and diff.tables_removed == ["db.s.orders"]
    diff = diff_catalogs(catalog(BASE), catalog(BASE, database="other"))
    assert diff.tables_added == ["other.s.orders"] and diff.tables_removed == ["db.s.orders"]


def test_models_and_their_json_give_the_same_diff() -> None:
    old, new = catalog(BASE), catalog(BASE.model_copy(update={"columns": BASE.columns[:1]}))
    assert diff_catalogs(old, new) == diff_catalogs(old.model_dump(mode="json"), new.model_dump(mode="json"))


# -- stored with the snapshot ------------------------------------------------------------------------------------------
def test_each_snapshot_stores_its_diff_against_the_previous_one_of_its_source(store_url: str) -> None:
    first = snapshots.save_snapshot(data_source_id="src_a", catalog=catalog(BASE), database_url=store_url)
    snapshots.save_snapshot(data_source_id="src_other", catalog=catalog(), database_url=store_url)  # another source
    second = snapshots.save_snapshot(
        data_source_id="src_a", catalog=catalog(BASE, Table(name="refunds")), run_id="run_0002", database_url=store_url
    )
    assert snapshots.save_snapshot(data_source_id="src_a", catalog=catalog(), run_id="run_0002", database_url=store_url) == second

    assert snapshots.stored_diff(first, database_url=store_url) is None
    stored = snapshots.stored_diff(second, database_url=store_url)
    assert stored is not None and stored.from_snapshot == first and stored.to_snapshot == second
    assert stored.tables_added == ["db.s.refunds"] and stored.summary().tables_added == 1
    loaded = snapshots.get_snapshot(second, database_url=store_url)
    assert loaded is not None and loaded.previous_snapshot_id == first and loaded.diff == stored
    assert snapshots.compare_snapshots("src_a", database_url=store_url) == stored

    third = snapshots.save_snapshot(data_source_id="src_a", catalog=catalog(), database_url=store_url)
    assert snapshots.compare_snapshots("src_a", database_url=store_url).tables_removed == ["db.s.orders", "db.s.refunds"]
    assert snapshots.compare_snapshots("src_a", to_snapshot=second, database_url=store_url) == stored
    back = snapshots.compare_snapshots("src_a", from_snapshot=third, to_snapshot=first, database_url=store_url)
    assert back.tables_added == ["db.s.orders"] and (back.from_snapshot, back.to_snapshot) == (third, first)
    assert snapshots.compare_snapshots("src_a", from_snapshot=first, database_url=store_url).to_snapshot == third


def test_a_save_returns_the_diff_it_stored_on_every_path(store_url: str) -> None:
    """First snapshot (no diff), a changed catalog (compared the long way), an unchanged one (a body shared: an empty
    diff), and the same run saving again (the diff stored the first time, not one computed against the newest)."""
    saves = [
        snapshots.save_snapshot_with_diff(data_source_id="src_r", catalog=catalog(BASE), run_id="run_r1", database_url=store_url),
        snapshots.save_snapshot_with_diff(data_source_id="src_r", catalog=catalog(BASE, Table(name="refunds")), run_id="run_r2", database_url=store_url),
        snapshots.save_snapshot_with_diff(data_source_id="src_r", catalog=catalog(BASE, Table(name="refunds")), run_id="run_r3", database_url=store_url),
    ]
    again = snapshots.save_snapshot_with_diff(data_source_id="src_r", catalog=catalog(), run_id="run_r2", database_url=store_url)
    assert saves[0].diff is None
    assert saves[1].diff is not None and saves[1].diff.tables_added == ["db.s.refunds"]
    assert saves[2].diff is not None and saves[2].diff.is_empty and saves[2].diff.from_snapshot == saves[1].id
    assert again == saves[1]  # not a diff of an empty catalog against the newest snapshot
    for saved in saves:
        assert snapshots.stored_diff(saved.id, database_url=store_url) == saved.diff


def test_comparing_needs_two_snapshots_of_the_same_source(store_url: str) -> None:
    with pytest.raises(NoSnapshotError, match="no snapshot yet"):
        snapshots.compare_snapshots("src_none", database_url=store_url)
    only = snapshots.save_snapshot(data_source_id="src_one", catalog=catalog(BASE), database_url=store_url)
    with pytest.raises(NoSnapshotError, match="is the first"):
        snapshots.compare_snapshots("src_one", database_url=store_url)
    other = snapshots.save_snapshot(data_source_id="src_two", catalog=catalog(BASE), database_url=store_url)
    with pytest.raises(SnapshotNotFoundError, match=other):
        snapshots.compare_snapshots("src_one", from_snapshot=other, to_snapshot=only, database_url=store_url)
    with pytest.raises(SnapshotNotFoundError, match="snap_missing"):
        snapshots.compare_snapshots("src_one", to_snapshot="snap_missing", database_url=store_url)
    with pytest.raises(SnapshotNotFoundError):
        snapshots.stored_diff("snap_missing", database_url=store_url)

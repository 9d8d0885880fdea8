"""What changed in a source between two snapshots: tables and columns added or removed, and columns changed.

Names are fully qualified, `database.schema.table` and `database.schema.table.column`; views count as tables. A
column's change lists, per attribute that differs, `[old, new]`: its type (as the source spells it), nullability,
default, primary-key membership and comment. The columns of an added or removed table are not listed again.

The diff works on the catalogs' JSON form (what the snapshot table stores), so comparing two stored snapshots never
re-validates thousands of table models.
"""

from __future__ import annotations

from typing import Any, Iterator

from pydantic import BaseModel, Field

from connectors import Catalog, Column

#: the column attributes compared, as `changes` names them
_COMPARED = ("type", "nullable", "default", "primary_key", "comment")
_NULLABLE_DEFAULT = Column.model_fields["nullable"].default


class ColumnChange(BaseModel):
    column: str
    changes: dict[str, tuple[Any, Any]] = Field(description="attribute -> [old, new]")


class DiffSummary(BaseModel):
    """How much changed: what a run's output and metadata carry (the full diff stays with the snapshot)."""

    from_snapshot: str | None = None
    tables_added: int = 0
    tables_removed: int = 0
    columns_added: int = 0
    columns_removed: int = 0
    columns_changed: int = 0


class SnapshotDiff(BaseModel):
    from_snapshot: str | None = None
    to_snapshot: str | None = None
    tables_added: list[str] = Field(default_factory=list)
    tables_removed: list[str] = Field(default_factory=list)
    columns_added: list[str] = Field(default_factory=list)
    columns_removed: list[str] = Field(default_factory=list)
    columns_changed: list[ColumnChange] = Field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.tables_added or self.tables_removed or self.columns_added or self.columns_removed or self.columns_changed)

    def summary(self) -> DiffSummary:
        return DiffSummary(
            from_snapshot=self.from_snapshot,
            tables_added=len(self.tables_added),
            tables_removed=len(self.tables_removed),
            columns_added=len(self.columns_added),
            columns_removed=len(self.columns_removed),
            columns_changed=len(self.columns_changed),
        )


def diff_catalogs(
    old: Catalog | dict[str, Any],
    new: Catalog | dict[str, Any],
    *,
    from_snapshot: str | None = None,
    to_snapshot: str | None = None,
) -> SnapshotDiff:
    """The changes from `old` to `new` (Catalog models or their `model_dump(mode="json")`)."""
    before, after = _tables(_as_dict(old)), _tables(_as_dict(new))
    diff = SnapshotDiff(
        from_snapshot=from_snapshot,
        to_snapshot=to_snapshot,
        tables_added=sorted(after.keys() - before.keys()),
        tables_removed=sorted(before.keys() - after.keys()),
    )
    for name in sorted(before.keys() & after.keys()):
        if _same_columns(before[name], after[name]):
            continue  # most tables of a nightly snapshot: one C-level comparison instead of one dict per column
        old_columns, new_columns = _columns(before[name]), _columns(after[name])
        diff.columns_added += [f"{name}.{c}" for c in sorted(new_columns.keys() - old_columns.keys())]
        diff.columns_removed += [f"{name}.{c}" for c in sorted(old_columns.keys() - new_columns.keys())]
        for column in sorted(old_columns.keys() & new_columns.keys()):
            was, now = old_columns[column], new_columns[column]
            changes = {attr: (was[attr], now[attr]) for attr in _COMPARED if was[attr] != now[attr]}
            if changes:
                diff.columns_changed.append(ColumnChange(column=f"{name}.{column}", changes=changes))
    return diff


def _as_dict(catalog: Catalog | dict[str, Any]) -> dict[str, Any]:
    return catalog.model_dump(mode="json") if isinstance(catalog, Catalog) else catalog


def _tables(catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: table for name, table in _iter_tables(catalog)}


def _iter_tables(catalog: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for db in catalog.get("databases", []):
        for schema in db.get("schemas", []):
            for table in schema.get("tables", []):
                yield f"{db['name']}.{schema['name']}.{table['name']}", table


def _same_columns(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when the columns (every attribute, compared or not) and the primary key are equal: nothing to report."""
    return old.get("columns") == new.get("columns") and old.get("primary_key") == new.get("primary_key")


def _columns(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each column's compared attributes, by name; an attribute left out of the JSON has the model's default (the
    store writes catalogs without their None values; releases before wrote them without any default value)."""
    key = set(table.get("primary_key") or [])
    return {
        c["name"]: {
            "type": c.get("data_type"),
            "nullable": c.get("nullable", _NULLABLE_DEFAULT),
            "default": c.get("default"),
            "primary_key": c["name"] in key,
            "comment": c.get("comment"),
        }
        for c in table.get("columns", [])
    }

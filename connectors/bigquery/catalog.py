"""Bulk BigQuery introspection: INFORMATION_SCHEMA first, the REST listing where that is not allowed.

INFORMATION_SCHEMA path — two queries per dataset whatever the number of tables (or two for a whole region when the
credentials name a location: `region-<loc>.INFORMATION_SCHEMA` covers every dataset there):
1. tables — TABLES joined with VIEWS (definitions), TABLE_OPTIONS (description) and row/byte counts
   (`<dataset>.__TABLES__` per dataset; TABLE_STORAGE at region level);
2. columns — COLUMNS joined with COLUMN_FIELD_PATHS, which lists every nested field path (`address.city`) with its
   type and description.
API path — `list_tables` per dataset, then `get_table` for each table (in parallel): the fallback for principals
without INFORMATION_SCHEMA access (or emulators without it). Both paths feed the same flattening.

Nested and repeated fields become dotted column paths: a RECORD `address` gives `address` (STRUCT<...>) plus
`address.city`, `address.zip`; a field under a repeated record is marked with `[]` after the array
(`items[].sku`), so a reader knows it needs UNNEST. Columns are numbered 1..n in that flattened order.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from connectors.base import ProgressCallback
from connectors.catalog import Catalog, CatalogFilters, Column, Database, Schema, Table, TableKind
from connectors.errors import PermissionDeniedError, QueryError
from connectors.bigquery.types import is_array, normalize_type, sql_type

log = logging.getLogger("connectors.bigquery")

# run(sql) -> rows as dicts
RunFn = Callable[[str], list[dict[str, Any]]]

_KINDS: dict[str, TableKind] = {
    "BASE TABLE": "table", "TABLE": "table", "SNAPSHOT": "table", "CLONE": "table",
    "VIEW": "view", "MATERIALIZED VIEW": "materialized_view", "MATERIALIZED_VIEW": "materialized_view",
    "EXTERNAL": "external",
}

TABLES_SQL = """SELECT t.table_schema, t.table_name, t.table_type, v.view_definition,
  o.option_value AS description, s.{rows} AS row_count, s.{size} AS size_bytes
FROM {scope}.INFORMATION_SCHEMA.TABLES AS t
LEFT JOIN {scope}.INFORMATION_SCHEMA.VIEWS AS v
  ON v.table_schema = t.table_schema AND v.table_name = t.table_name
LEFT JOIN {scope}.INFORMATION_SCHEMA.TABLE_OPTIONS AS o
  ON o.table_schema = t.table_schema AND o.table_name = t.table_name AND o.option_name = 'description'
LEFT JOIN {storage} AS s
  ON {storage_join}
ORDER BY t.table_schema, t.table_name"""

COLUMNS_SQL = """SELECT c.table_schema, c.table_name, c.column_name, c.ordinal_position, c.is_nullable,
  c.column_default, f.field_path, f.data_type, f.description
FROM {scope}.INFORMATION_SCHEMA.COLUMNS AS c
JOIN {scope}.INFORMATION_SCHEMA.COLUMN_FIELD_PATHS AS f
  ON f.table_schema = c.table_schema AND f.table_name = c.table_name AND f.column_name = c.column_name
ORDER BY c.table_schema, c.table_name, c.ordinal_position, f.field_path"""


def quote(*parts: str) -> str:
    """`a`.`b` with backticks escaped: BigQuery's quoting for project, dataset and region names."""
    return ".".join("`" + p.replace("\\", "\\\\").replace("`", "\\`") + "`" for p in parts)


def dataset_statements(project: str, dataset: str) -> dict[str, str]:
    scope = quote(project, dataset)
    return {
        "tables": TABLES_SQL.format(
            scope=scope, rows="row_count", size="size_bytes", storage=quote(project, dataset, "__TABLES__"),
            storage_join="s.table_id = t.table_name",
        ),
        "columns": COLUMNS_SQL.format(scope=scope),
    }


def region_statements(project: str, location: str) -> dict[str, str]:
    scope = quote(project, f"region-{location.lower()}")
    return {
        "tables": TABLES_SQL.format(
            scope=scope, rows="total_rows", size="total_logical_bytes", storage=f"{scope}.INFORMATION_SCHEMA.TABLE_STORAGE",
            storage_join="s.table_schema = t.table_schema AND s.table_name = t.table_name",
        ),
        "columns": COLUMNS_SQL.format(scope=scope),
    }


@dataclass
class FieldRow:
    """One column or nested field, in schema order: `path` ['items', 'sku'], its SQL type, nullability, etc."""

    path: list[str]
    data_type: str
    nullable: bool = True
    default: str | None = None
    description: str | None = None


def flatten(rows: list[FieldRow]) -> list[Column]:
    """FieldRows -> Columns named by dotted path, with `[]` after every repeated ancestor."""
    types = {tuple(r.path): r.data_type for r in rows}
    columns = []
    for ordinal, row in enumerate(rows, 1):
        name_parts = []
        for depth, part in enumerate(row.path):
            ancestor = tuple(row.path[: depth + 1])
            last = depth == len(row.path) - 1
            name_parts.append(part + ("[]" if not last and is_array(types.get(ancestor, "")) else ""))
        columns.append(
            Column(
                ordinal=ordinal,
                name=".".join(name_parts),
                data_type=row.data_type,
                normalized_type=normalize_type(row.data_type),
                nullable=row.nullable,
                default=row.default,
                comment=row.description or None,
            )
        )
    return columns


def schema_field_rows(fields: Any, prefix: list[str] | None = None) -> list[FieldRow]:
    """REST SchemaFields (nested) -> FieldRows in schema order."""
    rows: list[FieldRow] = []
    for field in fields:
        path = [*(prefix or []), field.name]
        rows.append(
            FieldRow(
                path=path,
                data_type=sql_type(field),
                nullable=(field.mode or "NULLABLE").upper() != "REQUIRED",
                default=getattr(field, "default_value_expression", None),
                description=field.description,
            )
        )
        if field.field_type.upper() in ("RECORD", "STRUCT"):
            rows += schema_field_rows(field.fields, path)
    return rows


def _description(option_value: Any) -> str | None:
    # TABLE_OPTIONS.option_value holds the SQL literal: "\"Daily orders\""
    if option_value is None:
        return None
    text = str(option_value)
    try:
        value = json.loads(text)
        return value if isinstance(value, str) else text
    except json.JSONDecodeError:
        return text


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class BigQueryCatalogReader:
    """Datasets of one project -> Catalog(databases=[project], schemas=datasets)."""

    def __init__(
        self,
        *,
        client: Any,
        run: RunFn,
        project: str,
        location: str | None = None,
        default_dataset: str | None = None,
        source: str = "auto",
        api_retry: Any = None,
        api_timeout: float = 60.0,
        workers: int = 8,
    ) -> None:
        self.client = client
        self._run = run
        self.project = project
        self.location = location
        self.default_dataset = default_dataset
        self.source = source
        self.api_retry = api_retry
        self.api_timeout = api_timeout
        self.workers = workers
        self.round_trips = 0
        self.used_api_fallback = False

    # -- datasets ------------------------------------------------------------------------------------------------
    def dataset_names(self, filters: CatalogFilters) -> list[str]:
        if self.default_dataset and not filters.include_schemas:
            names = [self.default_dataset.split(".")[-1]]
        else:
            self.round_trips += 1
            names = [d.dataset_id for d in self.client.list_datasets(self.project, retry=self.api_retry, timeout=self.api_timeout)]
        return sorted(n for n in names if filters.schema_ok(n))

    # -- INFORMATION_SCHEMA ----------------------------------------------------------------------------------------
    def _query(self, sql: str) -> list[dict[str, Any]]:
        self.round_trips += 1
        return self._run(sql)

    def _from_information_schema(self, statements: dict[str, str], datasets: set[str], filters: CatalogFilters) -> dict[str, list[Table]]:
        tables: dict[tuple[str, str], Table] = {}
        for row in self._query(statements["tables"]):
            schema, name = row["table_schema"], row["table_name"]
            if schema not in datasets or not filters.table_ok(name):
                continue
            kind = _KINDS.get(str(row.get("table_type") or "").upper(), "table")
            is_view = kind == "view"
            tables[(schema, name)] = Table(
                name=name,
                kind=kind,
                row_count=None if is_view else _int(row.get("row_count")),
                size_bytes=None if is_view else _int(row.get("size_bytes")),
                comment=_description(row.get("description")),
                view_definition=row.get("view_definition"),
            )
        fields: dict[tuple[str, str], list[FieldRow]] = defaultdict(list)
        if tables:
            for row in self._query(statements["columns"]):
                key = (row["table_schema"], row["table_name"])
                if key not in tables:
                    continue
                path = str(row["field_path"]).split(".")
                top = len(path) == 1
                fields[key].append(
                    FieldRow(
                        path=path,
                        data_type=row["data_type"],
                        nullable=str(row.get("is_nullable", "YES")).upper() == "YES" if top else True,
                        default=row.get("column_default") if top and row.get("column_default") not in (None, "NULL") else None,
                        description=row.get("description"),
                    )
                )
        result: dict[str, list[Table]] = defaultdict(list)
        for (schema, _), table in sorted(tables.items()):
            table.columns = flatten(fields.get((schema, table.name), []))
            result[schema].append(table)
        return result

    # -- REST listing ------------------------------------------------------------------------------------------------
    def _from_api(self, dataset: str, filters: CatalogFilters) -> list[Table]:
        self.round_trips += 1
        items = [
            t for t in self.client.list_tables(f"{self.project}.{dataset}", retry=self.api_retry, timeout=self.api_timeout)
            if filters.table_ok(t.table_id)
        ]

        def describe(item: Any) -> Table:
            full = self.client.get_table(item.reference, retry=self.api_retry, timeout=self.api_timeout)
            kind = _KINDS.get(str(full.table_type or "TABLE").upper(), "table")
            is_view = kind == "view"
            return Table(
                name=full.table_id,
                kind=kind,
                columns=flatten(schema_field_rows(full.schema)),
                row_count=None if is_view else _int(full.num_rows),
                size_bytes=None if is_view else _int(full.num_bytes),
                comment=full.description or None,
                view_definition=full.view_query or getattr(full, "mview_query", None),
            )

        self.round_trips += len(items)
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(items) or 1))) as pool:
            return sorted(pool.map(describe, items), key=lambda t: t.name)

    # -- all together ------------------------------------------------------------------------------------------------
    def _information_schema_or_none(self, statements: dict[str, str], datasets: set[str], filters: CatalogFilters, scope: str) -> dict[str, list[Table]] | None:
        if self.source == "api":
            return None
        try:
            return self._from_information_schema(statements, datasets, filters)
        except (PermissionDeniedError, QueryError) as exc:
            if self.source == "information_schema":
                raise
            log.warning("bigquery INFORMATION_SCHEMA not available, using the API listing",
                        extra={"scope": scope, "code": exc.code})
            self.used_api_fallback = True
            return None

    def read(self, filters: CatalogFilters | None = None, progress: ProgressCallback | None = None) -> Catalog:
        filters = filters or CatalogFilters()
        if not filters.database_ok(self.project):
            return Catalog(source_type="bigquery", databases=[], round_trips=self.round_trips)
        datasets = self.dataset_names(filters)
        by_dataset: dict[str, list[Table]] = {}
        if self.location and datasets and self.source != "api":
            found = self._information_schema_or_none(region_statements(self.project, self.location), set(datasets), filters, self.location)
            if found is not None:
                by_dataset = {d: found.get(d, []) for d in datasets}
        for done, dataset in enumerate(datasets, 1):
            if dataset not in by_dataset:
                found = None
                if not self.location:
                    found = self._information_schema_or_none(dataset_statements(self.project, dataset), {dataset}, filters, dataset)
                by_dataset[dataset] = found.get(dataset, []) if found is not None else self._from_api(dataset, filters)
            if progress is not None:
                progress("datasets", {"done": done, "total": len(datasets), "dataset": dataset, "tables": len(by_dataset[dataset])})
        schemas = [Schema(name=d, tables=by_dataset[d]) for d in datasets]
        return Catalog(
            source_type="bigquery",
            databases=[Database(name=self.project, schemas=schemas)],
            round_trips=self.round_trips,
        )


__all__ = ["BigQueryCatalogReader", "FieldRow", "dataset_statements", "flatten", "region_statements", "schema_field_rows"]

"""BigQuery `profile()`: find the table in the catalog, then hand it to the shared profiler.

Naming: `"project.dataset.table"`, `"dataset.table"` or `"table"` (the credentials' default dataset), or a TableRef
(database = project, schema = dataset). Only top-level columns are profiled: nested paths (`address.city`) and
arrays are listed by introspection, but aggregating them needs UNNEST, which the generic profiler does not write.
"""

from __future__ import annotations

import glob
from typing import TYPE_CHECKING


from connectors.catalog import CatalogFilters, TableProfile, TableRef
from connectors.errors import NotFoundError, QueryError
from connectors.profiling import parse_table_ref as parse_shared_table_ref
from connectors.profiling import profile_catalog_table

if TYPE_CHECKING:
    from connectors.bigquery.connection import BigQueryConnector


def parse_table_ref(table: TableRef | str) -> TableRef:
    """'project.dataset.table' in BigQuery's dialect; a name with more parts is refused, not cut short."""
    return parse_shared_table_ref(table, "bigquery")


def profile_bigquery_table(connector: "BigQueryConnector", table: TableRef | str, sample_size: int) -> TableProfile:
    ref = parse_table_ref(table)
    project = ref.database or connector.credentials.project_id
    if project != connector.credentials.project_id:
        raise NotFoundError(f"table {ref.name} is in project {project!r}, this connection reads {connector.credentials.project_id!r}")
    dataset = ref.schema_ or (connector.credentials.default_dataset or "").split(".")[-1] or None
    if dataset is None:
        raise QueryError(f"give the dataset of table {ref.name!r} (no default_dataset in the credentials)", code="invalid_argument")
    filters = CatalogFilters(include_schemas=[glob.escape(dataset)], include_tables=[glob.escape(ref.name)])
    matches = [t for _, s, t in connector.introspect(filters).iter_tables() if s.name == dataset and t.name == ref.name]
    if not matches:
        raise NotFoundError(f"table {dataset}.{ref.name} not found", details={"table": ref.name, "dataset": dataset})
    meta = matches[0]
    top_level = [c for c in meta.columns if "." not in c.name and c.normalized_type not in ("array", "struct")]
    return profile_catalog_table(
        connector, TableRef(name=meta.name, schema=dataset, database=project), meta, sample_size, columns=top_level
    )


__all__ = ["parse_table_ref", "profile_bigquery_table"]

"""What the BigQuery connector sends with a query: the job configuration and the query parameters.

- `job_timeout_ms` makes BigQuery itself stop a job past the timeout; `maximum_bytes_billed` makes it refuse a query
  that would bill more (error reason bytesBilledLimitExceeded) before it runs;
- the credentials' `default_dataset` lets queries name tables without a dataset;
- parameters are bound by BigQuery: a sequence fills `?` placeholders, a dict fills `@name` ones; the BigQuery type
  is read from the Python value.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Sequence

from google.cloud import bigquery

from connectors.credentials import BigQueryCredentials
from connectors.errors import QueryError


def parameter_type(value: Any) -> str:
    """The BigQuery type of a Python value (bool before int: True is an int in Python)."""
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, Decimal):
        return "BIGNUMERIC" if abs(value.as_tuple().exponent) > 9 else "NUMERIC"
    if isinstance(value, str) or value is None:
        return "STRING"
    if isinstance(value, bytes):
        return "BYTES"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP" if value.tzinfo is not None else "DATETIME"
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, dt.time):
        return "TIME"
    raise QueryError(f"cannot bind a {type(value).__name__} as a BigQuery parameter", code="invalid_argument")


def _parameter(name: str | None, value: Any) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    if isinstance(value, (list, tuple)):
        kinds = {parameter_type(v) for v in value} or {"STRING"}
        if len(kinds) != 1:
            raise QueryError(f"array parameter {name or ''} mixes types {sorted(kinds)}", code="invalid_argument")
        return bigquery.ArrayQueryParameter(name, kinds.pop(), list(value))
    return bigquery.ScalarQueryParameter(name, parameter_type(value), value)


def query_parameters(params: Sequence[Any] | dict[str, Any] | None) -> list[Any]:
    if params is None:
        return []
    if isinstance(params, dict):
        return [_parameter(name, value) for name, value in params.items()]
    if isinstance(params, (str, bytes)):
        raise QueryError("params must be a sequence or a dict, not a string", code="invalid_argument")
    return [_parameter(None, value) for value in params]


def job_config(
    creds: BigQueryCredentials,
    *,
    timeout_s: float,
    params: Sequence[Any] | dict[str, Any] | None = None,
    dry_run: bool = False,
) -> bigquery.QueryJobConfig:
    config = bigquery.QueryJobConfig(
        job_timeout_ms=max(1000, int(timeout_s * 1000)),
        use_query_cache=True,
        dry_run=dry_run,
        labels={"source": "analyst-taskpack"},
    )
    if creds.maximum_bytes_billed is not None:
        config.maximum_bytes_billed = creds.maximum_bytes_billed
    if creds.default_dataset:
        dataset = creds.default_dataset if "." in creds.default_dataset else f"{creds.project_id}.{creds.default_dataset}"
        config.default_dataset = dataset
    parameters = query_parameters(params)
    if parameters:
        config.query_parameters = parameters
    return config

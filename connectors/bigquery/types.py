"""BigQuery type names -> the shared `NormalizedType` vocabulary.

Input is INFORMATION_SCHEMA's SQL spelling (`INT64`, `ARRAY<STRING>`, `STRUCT<city STRING>`, `NUMERIC(10, 2)`) or
the REST schema's legacy names (`INTEGER`, `FLOAT`, `BOOLEAN`, `RECORD`); `sql_type()` turns a REST SchemaField into
the SQL spelling so both introspection paths report the same `data_type`.
"""

from __future__ import annotations

from typing import Any

from connectors.catalog import NormalizedType

_BY_NAME: dict[str, NormalizedType] = {
    "INT64": "integer", "INTEGER": "integer", "INT": "integer", "SMALLINT": "integer", "BIGINT": "integer",
    "TINYINT": "integer", "BYTEINT": "integer",
    "NUMERIC": "decimal", "BIGNUMERIC": "decimal", "DECIMAL": "decimal", "BIGDECIMAL": "decimal",
    "FLOAT64": "float", "FLOAT": "float",
    "BOOL": "boolean", "BOOLEAN": "boolean",
    "STRING": "string",
    "BYTES": "binary",
    "DATE": "date", "TIME": "time", "DATETIME": "timestamp", "TIMESTAMP": "timestamp_tz",
    "INTERVAL": "interval",
    "JSON": "json",
    "GEOGRAPHY": "geography",
    "ARRAY": "array",
    "STRUCT": "struct", "RECORD": "struct",
}

#: REST (legacy) names -> Standard SQL names
_SQL_NAMES = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


def base_name(data_type: str) -> str:
    """`ARRAY<STRING>` -> `ARRAY`, `NUMERIC(10, 2)` -> `NUMERIC`, `STRUCT<a INT64>` -> `STRUCT`."""
    name = data_type.strip().upper()
    for stop in ("<", "("):
        name = name.split(stop, 1)[0]
    return name.strip()


def normalize_type(data_type: str) -> NormalizedType:
    return _BY_NAME.get(base_name(data_type), "other")


def is_array(data_type: str) -> bool:
    return base_name(data_type) == "ARRAY"


def sql_type(field: Any) -> str:
    """A google.cloud.bigquery SchemaField -> `INT64`, `ARRAY<STRING>`, `STRUCT<city STRING, zip STRING>`, ..."""
    kind = _SQL_NAMES.get(field.field_type.upper(), field.field_type.upper())
    if kind == "STRUCT":
        kind = "STRUCT<" + ", ".join(f"{f.name} {sql_type(f)}" for f in field.fields) + ">"
    elif kind in ("NUMERIC", "BIGNUMERIC") and getattr(field, "precision", None):
        scale = getattr(field, "scale", None)
        kind = f"{kind}({field.precision}{', ' + str(scale) if scale is not None else ''})"
    elif kind in ("STRING", "BYTES") and getattr(field, "max_length", None):
        kind = f"{kind}({field.max_length})"
    if (field.mode or "").upper() == "REPEATED":
        return f"ARRAY<{kind}>"
    return kind

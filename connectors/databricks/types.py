"""Databricks (Spark SQL / Delta) types -> the shared `NormalizedType` vocabulary.

Input is `information_schema.columns.full_data_type` (`decimal(10,2)`, `array<string>`), what `DESCRIBE TABLE`
prints, or a result column's `type_code` from the connector (`int`, `string`, `timestamp`, ...).
"""

from __future__ import annotations

from connectors.catalog import NormalizedType

_BY_NAME: dict[str, NormalizedType] = {
    "tinyint": "integer", "byte": "integer", "smallint": "integer", "short": "integer", "int": "integer",
    "integer": "integer", "bigint": "integer", "long": "integer",
    "decimal": "decimal", "dec": "decimal", "numeric": "decimal",
    "float": "float", "real": "float", "double": "float",
    "boolean": "boolean", "bool": "boolean",
    "string": "string", "varchar": "string", "char": "string",
    "binary": "binary",
    "date": "date",
    "timestamp": "timestamp_tz",  # Spark TIMESTAMP is "with local time zone": an instant
    "timestamp_ltz": "timestamp_tz",
    "timestamp_ntz": "timestamp",
    "interval": "interval",
    "array": "array",
    "struct": "struct", "map": "struct",
    "variant": "json", "object": "json",
    "geography": "geography", "geometry": "geography",
    "void": "other", "null": "other",
}


def base_type_name(data_type: str) -> str:
    """`decimal(10,2)` -> `decimal`; `array<string>` -> `array`; `INTERVAL DAY TO SECOND` -> `interval`."""
    name = data_type.strip().lower()
    for sep in ("(", "<", " "):
        name = name.split(sep, 1)[0]
    return name


def normalize_type(data_type: str) -> NormalizedType:
    return _BY_NAME.get(base_type_name(data_type), "other")

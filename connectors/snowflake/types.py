"""Snowflake type names -> the shared `NormalizedType` vocabulary.

Input is INFORMATION_SCHEMA.COLUMNS.DATA_TYPE (`NUMBER`, `TEXT`, `TIMESTAMP_NTZ`, ...) with its precision/scale, or
the type name the driver reports for a result column (`FIXED`, `REAL`, `TEXT`, ...). Snowflake stores every integer
type as NUMBER(38,0), so scale decides between integer and decimal.
"""

from __future__ import annotations

from connectors.catalog import NormalizedType

_BY_NAME: dict[str, NormalizedType] = {
    "NUMBER": "decimal", "DECIMAL": "decimal", "NUMERIC": "decimal", "FIXED": "decimal",
    "INT": "integer", "INTEGER": "integer", "BIGINT": "integer", "SMALLINT": "integer", "TINYINT": "integer",
    "BYTEINT": "integer",
    "FLOAT": "float", "FLOAT4": "float", "FLOAT8": "float", "DOUBLE": "float", "DOUBLE PRECISION": "float",
    "REAL": "float", "DECFLOAT": "decimal",
    "TEXT": "string", "VARCHAR": "string", "CHAR": "string", "CHARACTER": "string", "STRING": "string",
    "NCHAR": "string", "NVARCHAR": "string",
    "BINARY": "binary", "VARBINARY": "binary",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp", "DATETIME": "timestamp", "TIMESTAMP_NTZ": "timestamp",
    "TIMESTAMP_LTZ": "timestamp_tz", "TIMESTAMP_TZ": "timestamp_tz",
    "VARIANT": "json", "OBJECT": "struct", "MAP": "struct", "ARRAY": "array", "VECTOR": "array",
    "GEOGRAPHY": "geography", "GEOMETRY": "geography",
    "INTERVAL_YEAR_MONTH": "interval", "INTERVAL_DAY_TIME": "interval",
}


def normalize_type(data_type: str, scale: int | None = None) -> NormalizedType:
    """The normalized type of a Snowflake type; NUMBER/FIXED with scale 0 is an integer."""
    name = data_type.strip().upper().split("(", 1)[0].strip()
    normalized = _BY_NAME.get(name, "other")
    if normalized == "decimal" and name != "DECFLOAT" and scale == 0:
        return "integer"
    return normalized


def display_type(
    data_type: str,
    *,
    char_length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
    datetime_precision: int | None = None,
) -> str:
    """The type as DDL would spell it: TEXT(20) -> VARCHAR(20), NUMBER + (38, 0) -> NUMBER(38,0)."""
    name = data_type.strip().upper()
    if name == "TEXT":
        return f"VARCHAR({char_length})" if char_length else "VARCHAR"
    if name in ("NUMBER", "DECIMAL", "NUMERIC") and precision is not None:
        return f"NUMBER({precision},{scale or 0})"
    if name in ("BINARY",) and char_length:
        return f"BINARY({char_length})"
    if name.startswith("TIMESTAMP") or name == "TIME":
        return f"{name}({datetime_precision})" if datetime_precision is not None else name
    return name

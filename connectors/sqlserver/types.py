"""SQL Server types: spelling them as SQL Server does, and mapping them to the shared `NormalizedType` vocabulary.

`sys.columns` stores a type as (type name, max_length in bytes, precision, scale); `format_type` turns that back
into what a user would write (`nvarchar(50)`, `varchar(max)`, `decimal(10,2)`, `datetime2(3)`). Alias (user-defined)
types are normalized by their base system type.
"""

from __future__ import annotations

import datetime
import decimal
import uuid

from connectors.catalog import NormalizedType

_BY_NAME: dict[str, NormalizedType] = {
    "bigint": "integer", "int": "integer", "smallint": "integer", "tinyint": "integer",
    "bit": "boolean",
    "decimal": "decimal", "numeric": "decimal", "money": "decimal", "smallmoney": "decimal",
    "float": "float", "real": "float",
    "char": "string", "varchar": "string", "nchar": "string", "nvarchar": "string", "text": "string",
    "ntext": "string", "sysname": "string", "xml": "string",
    "binary": "binary", "varbinary": "binary", "image": "binary", "timestamp": "binary", "rowversion": "binary",
    "date": "date",
    "time": "time",
    "datetime": "timestamp", "datetime2": "timestamp", "smalldatetime": "timestamp",
    "datetimeoffset": "timestamp_tz",
    "uniqueidentifier": "uuid",
    "geography": "geography", "geometry": "geography",
    "json": "json",
    "vector": "array",
    "hierarchyid": "other", "sql_variant": "other",
}

_UNICODE = {"nchar", "nvarchar"}
_SIZED = {"char", "varchar", "binary", "varbinary", "nchar", "nvarchar"}
_PRECISION_SCALE = {"decimal", "numeric"}
_FRACTIONAL_SECONDS = {"datetime2", "time", "datetimeoffset"}


def format_type(type_name: str, max_length: int | None, precision: int | None, scale: int | None) -> str:
    """`nvarchar` + max_length 100 -> `nvarchar(50)`; max_length -1 -> `(max)`; `decimal` -> `decimal(p,s)`."""
    name = type_name.lower()
    if name in _SIZED and max_length is not None:
        if max_length == -1:
            return f"{name}(max)"
        return f"{name}({max_length // 2 if name in _UNICODE else max_length})"
    if name in _PRECISION_SCALE and precision is not None:
        return f"{name}({precision},{scale or 0})"
    if name in _FRACTIONAL_SECONDS and scale is not None and scale != 7:  # 7 is the default precision
        return f"{name}({scale})"
    return name


def normalize_type(type_name: str, base_type_name: str | None = None) -> NormalizedType:
    """The normalized type of a SQL Server type; `base_type_name` is the system type behind an alias type."""
    name = type_name.lower().split("(", 1)[0].strip()
    if name in _BY_NAME:
        return _BY_NAME[name]
    if base_type_name:
        return _BY_NAME.get(base_type_name.lower(), "other")
    return "other"


# pyodbc describes a result column only by the Python type it converts to (cursor.description[i][1]).
_RESULT_TYPES: dict[type, str] = {
    str: "nvarchar",
    int: "int",
    bool: "bit",
    float: "float",
    decimal.Decimal: "decimal",
    bytes: "varbinary",
    bytearray: "varbinary",
    datetime.datetime: "datetime2",
    datetime.date: "date",
    datetime.time: "time",
    uuid.UUID: "uniqueidentifier",
}


def result_type_name(python_type: object) -> str:
    """A SQL Server type name for a pyodbc result column (pyodbc reports only the Python type it returns)."""
    if isinstance(python_type, type):
        return _RESULT_TYPES.get(python_type, python_type.__name__)
    return str(python_type)

"""MySQL / MariaDB type names -> the shared `NormalizedType` vocabulary.

Two inputs need it: catalog columns (information_schema `DATA_TYPE` + `COLUMN_TYPE`) and result columns (the wire
protocol's field type codes in `cursor.description`). Choices worth knowing:

- `tinyint(1)` (what `BOOL`/`BOOLEAN` become) and `bit(1)` are booleans; other `bit(n)` are binary.
- `datetime` is a wall-clock `timestamp`; `timestamp` is stored in UTC and shown in the session time zone, so it is an
  instant: `timestamp_tz` (as PostgreSQL's `timestamptz`).
- MariaDB has no JSON type: `JSON` is an alias of `longtext` plus a `CHECK (json_valid(col))` constraint, so the catalog
  passes `is_json=True` for such columns (found through information_schema.CHECK_CONSTRAINTS).
- `enum` and `set` are strings; spatial types are `geography`; MariaDB's `uuid` is `uuid`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pymysql.constants import FIELD_TYPE

from connectors.catalog import NormalizedType

_BY_DATA_TYPE: dict[str, NormalizedType] = {
    **dict.fromkeys(("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"), "integer"),
    **dict.fromkeys(("decimal", "numeric", "dec", "fixed"), "decimal"),
    **dict.fromkeys(("float", "double", "double precision", "real"), "float"),
    **dict.fromkeys(("bool", "boolean"), "boolean"),
    **dict.fromkeys(
        (
            "char", "varchar", "nchar", "nvarchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set",
            "inet4", "inet6", "character varying",
        ),
        "string",
    ),
    **dict.fromkeys(("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"), "binary"),
    "date": "date",
    "time": "time",
    "datetime": "timestamp",
    "timestamp": "timestamp_tz",
    "json": "json",
    "uuid": "uuid",
    **dict.fromkeys(
        (
            "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
            "geometrycollection", "geomcollection",
        ),
        "geography",
    ),
}

_TINYINT_1 = re.compile(r"^tinyint\(1\)$", re.IGNORECASE)
_BIT_1 = re.compile(r"^bit\(1\)$", re.IGNORECASE)


@lru_cache(maxsize=4096)  # a catalog repeats a few dozen distinct types over thousands of columns
def normalize_type(data_type: str, column_type: str | None = None, *, is_json: bool = False) -> NormalizedType:
    """The normalized type of a catalog column from information_schema's DATA_TYPE and COLUMN_TYPE."""
    if is_json:
        return "json"
    base = data_type.strip().lower()
    full = (column_type or base).strip().lower()
    if _TINYINT_1.match(full):
        return "boolean"
    if base == "bit":
        return "boolean" if _BIT_1.match(full) or full == "bit" else "binary"
    return _BY_DATA_TYPE.get(base, "other")


# Wire type codes (cursor.description[i][1]) -> the SQL name a reader expects. Text and binary strings share codes;
# the field's character set (63 = binary) tells them apart.
_FIELD_TYPE_NAMES: dict[int, str] = {
    FIELD_TYPE.DECIMAL: "decimal",
    FIELD_TYPE.NEWDECIMAL: "decimal",
    FIELD_TYPE.TINY: "tinyint",
    FIELD_TYPE.SHORT: "smallint",
    FIELD_TYPE.INT24: "mediumint",
    FIELD_TYPE.LONG: "int",
    FIELD_TYPE.LONGLONG: "bigint",
    FIELD_TYPE.FLOAT: "float",
    FIELD_TYPE.DOUBLE: "double",
    FIELD_TYPE.NULL: "null",
    FIELD_TYPE.TIMESTAMP: "timestamp",
    FIELD_TYPE.DATE: "date",
    FIELD_TYPE.NEWDATE: "date",
    FIELD_TYPE.TIME: "time",
    FIELD_TYPE.DATETIME: "datetime",
    FIELD_TYPE.YEAR: "year",
    FIELD_TYPE.BIT: "bit",
    FIELD_TYPE.JSON: "json",
    FIELD_TYPE.ENUM: "enum",
    FIELD_TYPE.SET: "set",
    FIELD_TYPE.GEOMETRY: "geometry",
    FIELD_TYPE.VARCHAR: "varchar",
    FIELD_TYPE.VAR_STRING: "varchar",
    FIELD_TYPE.STRING: "char",
    FIELD_TYPE.TINY_BLOB: "text",
    FIELD_TYPE.MEDIUM_BLOB: "text",
    FIELD_TYPE.LONG_BLOB: "text",
    FIELD_TYPE.BLOB: "text",
}
_BINARY_NAMES = {"varchar": "varbinary", "char": "binary", "text": "blob"}
BINARY_CHARSET = 63


def result_type_name(type_code: int, charset: int | None = None) -> str:
    """The SQL type name of a result column, from its wire type code (and character set, when known)."""
    name = _FIELD_TYPE_NAMES.get(type_code, f"type_{type_code}")
    if charset == BINARY_CHARSET and name in _BINARY_NAMES:
        return _BINARY_NAMES[name]
    return name


__all__ = ["normalize_type", "result_type_name"]

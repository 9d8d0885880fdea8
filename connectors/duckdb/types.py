"""DuckDB type names -> the shared `NormalizedType` vocabulary.

Input is what `duckdb_columns().data_type` prints, always DuckDB's own resolved spelling (`DECIMAL(12,2)`,
`TIMESTAMP WITH TIME ZONE`, `ENUM('a', 'b')` for a user-defined enum, `INTEGER[]`, `STRUCT(a INTEGER)`), or the
type of a result column (`str()` of the driver's `DuckDBPyType`, the same spelling). Choices worth knowing:
- every integer width, unsigned ones, HUGEINT and BIGNUM (arbitrary precision, VARINT before 2.0) are `integer`;
- lists (`T[]`) and fixed-size arrays (`T[3]`) are `array`; STRUCT and MAP are `struct`; UNION is `other`;
- `TIMESTAMP` and its `_S`/`_MS`/`_NS` precisions are wall-clock `timestamp`; `TIMESTAMP WITH TIME ZONE` is an
  instant; ENUM is `string`; VARIANT and JSON are `json`; BIT is `binary`; the spatial extension's GEOMETRY is
  `geography`.
"""

from __future__ import annotations

from functools import lru_cache

from connectors.catalog import NormalizedType

_BY_NAME: dict[str, NormalizedType] = {
    **dict.fromkeys(
        (
            "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "UHUGEINT", "BIGNUM", "VARINT", "INT", "INT1", "INT2", "INT4", "INT8", "LONG", "SHORT", "SIGNED", "OID",
        ),
        "integer",
    ),
    **dict.fromkeys(("DECIMAL", "NUMERIC", "DEC"), "decimal"),
    **dict.fromkeys(("FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8"), "float"),
    **dict.fromkeys(("BOOLEAN", "BOOL", "LOGICAL"), "boolean"),
    **dict.fromkeys(("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR", "NVARCHAR", "ENUM"), "string"),
    **dict.fromkeys(("BLOB", "BYTEA", "BINARY", "VARBINARY", "BIT", "BITSTRING"), "binary"),
    "DATE": "date",
    **dict.fromkeys(("TIME", "TIME_NS", "TIME WITH TIME ZONE", "TIMETZ"), "time"),
    **dict.fromkeys(("TIMESTAMP", "DATETIME", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP_US"), "timestamp"),
    **dict.fromkeys(("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMPTZ_NS"), "timestamp_tz"),
    "INTERVAL": "interval",
    **dict.fromkeys(("JSON", "VARIANT"), "json"),
    **dict.fromkeys(("UUID", "GUID"), "uuid"),
    **dict.fromkeys(("STRUCT", "MAP", "ROW"), "struct"),
    "LIST": "array",
    "GEOMETRY": "geography",
}


@lru_cache(maxsize=1024)  # a catalog repeats a handful of type names thousands of times
def normalize_type(data_type: str) -> NormalizedType:
    """The normalized type of a DuckDB type name."""
    name = " ".join(data_type.strip().upper().split())
    if name.endswith("]"):  # INTEGER[] (list), INTEGER[3] (array), STRUCT(...)[]
        return "array"
    base = name.split("(", 1)[0].strip()  # DECIMAL(12,2), ENUM('a'), STRUCT(a INTEGER), MAP(K, V), UNION(...)
    return _BY_NAME.get(base, "other")


__all__ = ["normalize_type"]

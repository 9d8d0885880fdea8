"""PostgreSQL (and Redshift) type names -> the shared `NormalizedType` vocabulary.

Input is what `format_type()` prints (`character varying(64)`, `timestamp(3) with time zone`, `integer[]`), what
psycopg shows for a result column (`int4`, `timestamptz`), or what Redshift's SVV views list (`super`, `varbyte`).
`pg_type.typcategory` is used as a fallback for enums, domains and extension types so nothing lands in `other` that
PostgreSQL itself already classifies.
"""

from __future__ import annotations

import re
from functools import lru_cache

from connectors.catalog import NormalizedType

_BY_NAME: dict[str, NormalizedType] = {
    # integers
    "smallint": "integer", "integer": "integer", "bigint": "integer", "int": "integer", "int2": "integer",
    "int4": "integer", "int8": "integer", "smallserial": "integer", "serial": "integer", "bigserial": "integer",
    "serial2": "integer", "serial4": "integer", "serial8": "integer", "oid": "integer", "xid": "integer",
    # exact and approximate numbers
    "numeric": "decimal", "decimal": "decimal", "money": "decimal",
    "real": "float", "double precision": "float", "float4": "float", "float8": "float", "float": "float",
    "boolean": "boolean", "bool": "boolean",
    # text
    "character varying": "string", "varchar": "string", "character": "string", "char": "string", "bpchar": "string",
    "text": "string", "name": "string", '"char"': "string", "citext": "string", "xml": "string", "inet": "string",
    "cidr": "string", "macaddr": "string", "macaddr8": "string", "nvarchar": "string", "nchar": "string",
    "bytea": "binary", "varbyte": "binary", "binary varying": "binary", "varbinary": "binary",
    "date": "date",
    "time": "time", "time without time zone": "time", "time with time zone": "time", "timetz": "time",
    "timestamp": "timestamp", "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamp_tz", "timestamptz": "timestamp_tz",
    "interval": "interval", "interval year to month": "interval", "interval day to second": "interval",
    "json": "json", "jsonb": "json", "super": "json",
    "uuid": "uuid",
    "geometry": "geography", "geography": "geography",
}

# pg_type.typcategory -> normalized type, for names the table above does not know (enums, domains, extensions).
_BY_CATEGORY: dict[str, NormalizedType] = {
    "A": "array", "B": "boolean", "D": "timestamp", "E": "string", "N": "decimal", "S": "string", "T": "interval",
    "I": "string", "C": "struct",
}

_MODIFIERS = re.compile(r"\([^)]*\)")


def base_type_name(data_type: str) -> str:
    """`timestamp(3) with time zone` -> `timestamp with time zone`; `character varying(20)` -> `character varying`."""
    name = _MODIFIERS.sub("", data_type.strip().lower())
    return " ".join(name.split())


@lru_cache(maxsize=4096)  # a catalog repeats a handful of type names tens of thousands of times
def normalize_type(data_type: str, category: str | None = None) -> NormalizedType:
    """The normalized type of a PostgreSQL/Redshift type name; `category` is `pg_type.typcategory` when known."""
    name = base_type_name(data_type)
    if name.endswith("[]") or name.startswith("_") and name[1:] in _BY_NAME:
        return "array"
    if name in _BY_NAME:
        return _BY_NAME[name]
    # schema-qualified extension types: public.geometry, public.citext
    unqualified = name.rsplit(".", 1)[-1].strip('"')
    if unqualified in _BY_NAME:
        return _BY_NAME[unqualified]
    if category and category in _BY_CATEGORY:
        return _BY_CATEGORY[category]
    return "other"

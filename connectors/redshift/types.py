"""Redshift type names -> `NormalizedType`.

SVV_ALL_COLUMNS reports local columns with PostgreSQL-style names (`character varying`, `timestamp without time
zone`) plus Redshift's own (`super`, `varbyte`, `geometry`, `hllsketch`), and external (Spectrum) columns with Hive
names (`string`, `int`, `double`, `array<int>`, `struct<a:int>`, `map<string,int>`). PostgreSQL's table covers the
first kind; the rest is here.
"""

from __future__ import annotations

from connectors.catalog import NormalizedType
from connectors.postgres.types import base_type_name, normalize_type as normalize_postgres_type

_HIVE: dict[str, NormalizedType] = {
    "string": "string", "int": "integer", "tinyint": "integer", "double": "float", "binary": "binary",
    "hllsketch": "other", "varbyte": "binary", "binary varying": "binary", "super": "json",
    "timestamptz": "timestamp_tz", "timetz": "time",
}


def normalize_type(data_type: str) -> NormalizedType:
    name = base_type_name(data_type)
    if name.startswith("array<"):
        return "array"
    if name.startswith(("struct<", "map<")):
        return "struct"
    if name in _HIVE:
        return _HIVE[name]
    return normalize_postgres_type(name)


def display_type(data_type: str, char_length: int | None, precision: int | None, scale: int | None) -> str:
    """SVV_ALL_COLUMNS splits the type from its modifiers; put them back the way `format_type` prints them."""
    name = data_type.strip()
    low = name.lower()
    if "(" in name or "<" in name:
        return name
    if low in ("character varying", "varchar", "character", "char", "nvarchar", "bpchar") and char_length:
        return f"{name}({char_length})"
    if low in ("numeric", "decimal") and precision is not None:
        return f"{name}({precision},{scale or 0})"
    return name

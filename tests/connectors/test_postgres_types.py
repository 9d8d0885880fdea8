"""PostgreSQL type names (as format_type and psycopg print them) -> the shared normalized vocabulary."""

from __future__ import annotations

import pytest

from connectors.postgres.types import base_type_name, normalize_type


@pytest.mark.parametrize(
    ("name", "category", "expected"),
    [
        ("integer", None, "integer"),
        ("int8", None, "integer"),
        ("numeric(12,2)", None, "decimal"),
        ("money", None, "decimal"),
        ("double precision", None, "float"),
        ("character varying(64)", None, "string"),
        ("character(15)", None, "string"),
        ('"char"', None, "string"),
        ("bytea", None, "binary"),
        ("timestamp(3) without time zone", None, "timestamp"),
        ("timestamp with time zone", None, "timestamp_tz"),
        ("timestamptz", None, "timestamp_tz"),
        ("time with time zone", None, "time"),
        ("interval", None, "interval"),
        ("jsonb", None, "json"),
        ("uuid", None, "uuid"),
        ("integer[]", None, "array"),
        ("_int4", None, "array"),
        ("character varying(20)[]", None, "array"),
        ("public.geometry", None, "geography"),
        ("mood", "E", "string"),  # an enum
        ("ltree", "U", "other"),
        ("tsvector", None, "other"),
        ("inet", None, "string"),
    ],
)
def test_normalize(name: str, category: str | None, expected: str) -> None:
    assert normalize_type(name, category) == expected


def test_base_name_drops_modifiers_only() -> None:
    assert base_type_name("timestamp(6) with time zone") == "timestamp with time zone"
    assert base_type_name("NUMERIC(10, 2)") == "numeric"

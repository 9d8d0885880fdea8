"""The table lookup every source's `profile()` shares (`connectors.profiling`): name parsing and catalog matching.

The lookup only calls `connector.introspect(filters)`, so these tests hand it a small in-memory catalog that applies
the filters the way every catalog reader does (`CatalogFilters.*_ok`); the real introspection paths are covered by
each source's profile tests against its server or stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from connectors.catalog import Catalog, CatalogFilters, Database, Schema, Table, TableRef
from connectors.errors import NotFoundError, QueryError
from connectors.profiling import (
    check_connection_database,
    find_database_table,
    find_schema_table,
    parse_table_ref,
)


@dataclass
class CatalogStandIn:
    """Answers `introspect(filters)` from (database, schema, table) names and records the filters it was given."""

    entries: list[tuple[str, str, str]]
    seen: list[CatalogFilters] = field(default_factory=list)

    def introspect(self, filters: CatalogFilters) -> Catalog:
        self.seen.append(filters)
        databases: dict[str, dict[str, list[Table]]] = {}
        for d, s, t in self.entries:
            if filters.database_ok(d) and filters.schema_ok(s) and filters.table_ok(t):
                databases.setdefault(d, {}).setdefault(s, []).append(Table(name=t))
        return Catalog(
            source_type="stand-in",
            databases=[
                Database(name=d, schemas=[Schema(name=s, tables=tables) for s, tables in schemas.items()])
                for d, schemas in databases.items()
            ],
        )


def test_parse_reads_each_dialects_quoting_and_keeps_case() -> None:
    assert parse_table_ref('"My Schema"."Orders"', "postgres") == TableRef(name="Orders", schema="My Schema")
    assert parse_table_ref("`db`.`Pets`", "mysql", max_parts=2) == TableRef(name="Pets", schema="db")
    assert parse_table_ref("[dbo].[Singer]", "tsql") == TableRef(name="Singer", schema="dbo")
    assert parse_table_ref("main.default.events", "databricks") == TableRef(name="events", schema="default", database="main")
    ref = TableRef(name="t", schema="s", database="d")
    assert parse_table_ref(ref, "mysql", max_parts=2) is ref


@pytest.mark.parametrize("name", ["a.b.c.d", "", "s.", "f(x)"])
def test_parse_refuses_what_is_not_a_table_name(name: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_table_ref(name, "postgres")
    assert info.value.code == "invalid_argument"


def test_parse_with_two_parts_refuses_three_and_says_what_it_expected() -> None:
    with pytest.raises(QueryError, match=r"expected table or database\.table") as info:
        parse_table_ref("a.b.c", "mysql", max_parts=2, expected="table or database.table")
    assert info.value.code == "invalid_argument"


def test_connection_database_check_refuses_another_database() -> None:
    check_connection_database(TableRef(name="t", database="sales"), "sales")
    check_connection_database(TableRef(name="t"), "sales")
    check_connection_database(TableRef(name="t", database="SALES"), "sales", ignore_case=True)
    with pytest.raises(NotFoundError, match="'SALES'") as info:
        check_connection_database(TableRef(name="t", database="SALES"), "sales")
    assert info.value.details == {"table": "t", "database": "SALES"}


def test_glob_characters_in_names_are_matched_literally() -> None:
    catalog = CatalogStandIn([("db", "a*", "t[1]"), ("db", "ab", "t1")])
    assert find_schema_table(catalog, "t[1]", "a*")[0] == "a*"
    assert catalog.seen[-1].include_tables == ["t[[]1]"] and catalog.seen[-1].include_schemas == ["a[*]"]


def test_exact_case_wins_over_case_insensitive_matches() -> None:
    catalog = CatalogStandIn([("db", "public", "Orders"), ("db", "public", "orders")])
    schema, table = find_schema_table(catalog, "orders", "public")
    assert (schema, table.name) == ("public", "orders")


def test_a_bare_name_in_several_schemas_prefers_the_default_schema_else_is_ambiguous() -> None:
    catalog = CatalogStandIn([("db", "public", "t"), ("db", "sales", "t")])
    assert find_schema_table(catalog, "t", preferred_schema="public")[0] == "public"
    with pytest.raises(QueryError, match=r"ambiguous \(public\.t, sales\.t\); give the database") as info:
        find_schema_table(catalog, "t", qualify_hint="the database")
    assert info.value.code == "ambiguous_table"


def test_a_missing_table_is_not_found_with_what_was_looked_for() -> None:
    with pytest.raises(NotFoundError, match=r"table sales\.nothing not found") as info:
        find_schema_table(CatalogStandIn([("db", "sales", "t")]), "nothing", "sales")
    assert info.value.details == {"table": "nothing", "schema": "sales"}


def test_database_lookup_narrows_by_database_and_matches_schema_case_insensitively() -> None:
    """Snowflake stores unquoted names upper case; a lower-case schema from the credentials still finds them."""
    catalog = CatalogStandIn([("DB", "PUBLIC", "STUDENT"), ("OTHER", "PUBLIC", "STUDENT")])
    database, schema, table = find_database_table(catalog, "student", "public", "db", qualify_hint="database and schema")
    assert (database, schema, table.name) == ("DB", "PUBLIC", "STUDENT")
    with pytest.raises(QueryError, match=r"\(DB\.PUBLIC\.STUDENT, OTHER\.PUBLIC\.STUDENT\); give catalog and schema"):
        find_database_table(catalog, "student", None, None, qualify_hint="catalog and schema")
    with pytest.raises(NotFoundError, match=r"table DB\.PUBLIC\.nothing not found") as info:
        find_database_table(catalog, "nothing", "PUBLIC", "DB", qualify_hint="database and schema")
    assert info.value.details == {"table": "nothing", "schema": "PUBLIC", "database": "DB"}


def test_bigquery_table_names_with_too_many_parts_are_refused_not_cut_short() -> None:
    from connectors.bigquery.profile import parse_table_ref as bigquery_ref

    assert bigquery_ref("`my-proj.ds.t`").database == "my-proj"
    with pytest.raises(QueryError, match="not a table name"):
        bigquery_ref("a.b.c.d")

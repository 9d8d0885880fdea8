"""The reviewing state's checks: catalog references (against the demo warehouse's introspected catalog), numbers in an
answer against query results (formatting and rounding tolerated, invented numbers caught), and a stored metric
re-executed and checked."""

from __future__ import annotations

import pytest

from connectors import Catalog, Connector
from store import metrics as metric_store
from tasks.analyst_agent.review_checks import (
    answer_problems,
    check_references,
    numbers_in_text,
    recheck_metric,
    unsupported_numbers,
)
from tasks.analyst_agent.tools import SqlResult, ToolEnv, execute_sql
from tests.tasks.analyst_agent.tools_support import (  # noqa: F401 - fixtures
    demo_catalog,
    demo_connector,
    demo_env,
    demo_path,
    store_url,
)


# -- references ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT c.name, sum(o.total) FROM orders o JOIN marketing_channels c ON c.channel_id = o.channel_id GROUP BY 1",
        "SELECT name, total FROM orders JOIN marketing_channels USING (channel_id)",
        "SELECT * FROM demo.main.orders WHERE status = 'shipped'",
        'SELECT "Total" FROM "Orders"',  # case-insensitive on purpose
        "WITH q AS (SELECT channel_id, sum(total) AS revenue FROM orders GROUP BY 1) "
        "SELECT m.name, q.revenue FROM q JOIN marketing_channels m USING (channel_id) ORDER BY revenue DESC",
        "SELECT x.n FROM (SELECT count(*) AS n FROM customers) AS x",
        "SELECT date_trunc('month', ordered_at) AS month, count(*) AS n FROM orders GROUP BY month ORDER BY month",
        "SELECT channel, revenue FROM revenue_by_channel",  # a view
        "SELECT g FROM generate_series(1, 3) AS t(g)",
        "SELECT o.order_id FROM orders o WHERE o.customer_id IN (SELECT customer_id FROM customers WHERE country = 'FR')",
    ],
)
def test_sql_over_real_tables_and_columns_passes(demo_catalog: Catalog, sql: str) -> None:
    check = check_references(sql, "duckdb", demo_catalog)
    assert check.ok, check.problems
    assert check.unknown_tables == [] and check.unknown_columns == []


def test_invented_tables_and_columns_are_named(demo_catalog: Catalog) -> None:
    check = check_references("SELECT region, sum(total) FROM sales JOIN orders USING (order_id) GROUP BY 1", "duckdb", demo_catalog)
    assert not check.ok and check.unknown_tables == ["sales"]
    assert check.problems == ["table sales does not exist in the catalog"]

    check = check_references("SELECT o.revenue, o.total FROM orders o", "duckdb", demo_catalog)
    assert not check.ok and check.unknown_columns == ["orders.revenue"]
    assert check.problems == ["column revenue does not exist in table orders"]
    assert check.tables == ["demo.main.orders"]

    check = check_references("SELECT region FROM orders WHERE total > 10", "duckdb", demo_catalog)
    assert check.unknown_columns in (["region"], ["orders.region"])
    check = check_references(
        "SELECT m.name, m.budget FROM orders o JOIN marketing_channels m USING (channel_id)", "duckdb", demo_catalog
    )
    assert check.unknown_columns == ["marketing_channels.budget"]
    check = check_references("SELECT * FROM other_db.main.orders", "duckdb", demo_catalog)
    assert check.unknown_tables == ["other_db.main.orders"]
    broken = check_references("SELEC FROM", "duckdb", demo_catalog)
    assert not broken.ok and broken.problems[0].startswith("the SQL does not parse as duckdb")
    two = check_references("SELECT 1; SELECT 2", "duckdb", demo_catalog)
    assert two.problems == ["expected one statement, found 2"]


# -- numbers -----------------------------------------------------------------------------------------------------------
RESULT = [["Email", 1234.5, 0.1234, 87], ["Paid Search", 1_187_654.321, 0.4567, 12]]


@pytest.mark.parametrize(
    "answer",
    [
        "Email brought 1,234.5 dollars.",
        "Email brought $1234.50 over 87 orders.",
        "Email: 1,235 (rounded).",
        "Paid Search made $1.19M, Email about $1.2k.",
        "Paid Search made 1.2 million.",
        "Email's share was 12% and Paid Search's 45.7%.",
        "Email's share was 12.34 percent.",
        "There are 2 channels in the result.",
        "In Q3 2025 (2025-07-01 to 2025-09-30), at 10:30, Email led.",
        "The top 3 channels, as you asked: Email first.",
        "Paid Search's revenue fell to -1,187,654.32.",
    ],
)
def test_numbers_from_the_results_pass_however_they_are_written(answer: str) -> None:
    assert unsupported_numbers(answer, [RESULT], context=["Which top 3 channels brought the most revenue in 2025?"]) == []


@pytest.mark.parametrize(
    "answer, invented",
    [
        ("Email brought $1,334.50.", ["$1,334.50"]),
        ("Email brought 1,234.6 dollars.", ["1,234.6"]),
        ("Email's share was 13%.", ["13%"]),
        ("Paid Search made $1.3M.", ["$1.3M"]),
        ("Email had 88 orders and 12 refunds and 5 returns.", ["88", "5"]),
        ("Growth was 250% year over year.", ["250%"]),
    ],
)
def test_numbers_nothing_returned_are_caught(answer: str, invented: list[str]) -> None:
    found = unsupported_numbers(answer, [RESULT])
    assert [n.text for n in found] == invented
    assert answer_problems(answer, [RESULT])[0].startswith(f"the answer states {invented[0]}")


def test_number_parsing_keeps_precision_and_units() -> None:
    parsed = {n.text: (n.value, n.tolerance, n.percent) for n in numbers_in_text("a 1,200 b 3.50 c $2.5bn d 7% e -4")}
    assert parsed == {
        "1,200": (1200.0, 50.0, False),
        "3.50": (3.5, 0.005, False),
        "$2.5bn": (2.5e9, 0.05e9, False),
        "7%": (7.0, 0.5, True),
        "-4": (-4.0, 0.5, False),
    }
    assert numbers_in_text("on 2025-09-30T10:00:00 and 2025-07 at 09:15") == []
    assert numbers_in_text("Q3, H1, 1st, 2nd, v2, x86, #1") == []
    assert answer_problems("no numbers here", [RESULT]) == []


def test_results_can_be_sql_results_with_text_and_date_cells(demo_env: ToolEnv) -> None:
    result = execute_sql(demo_env, "SELECT '2025-09-30'::DATE AS day, '1,234 units' AS note, 0.25 AS share")
    assert isinstance(result, SqlResult) and result.ok
    assert unsupported_numbers("On 30 September 2025: 1234 units, a 25% share, 1 row.", [result]) == []
    assert [n.text for n in unsupported_numbers("On 31 September: 26%.", [result])] == ["31", "26%"]


# -- metrics re-executed -------------------------------------------------------------------------------------------------
def _stored(env: ToolEnv, sql: str, chart: dict) -> metric_store.Metric:
    return metric_store.create_metric(
        name="m", description="", sql=sql, chart=chart, data_source_id=env.data_source_id, database_url=env.database_url
    )


def test_recheck_metric_finds_what_is_wrong(demo_env: ToolEnv, demo_connector: Connector) -> None:
    good = recheck_metric(demo_env, _stored(demo_env, "SELECT status, count(*) AS n FROM orders GROUP BY 1", {"type": "bar", "x": "status", "y": "n"}))
    assert good.ok and good.problems == [] and good.result.row_count > 1
    assert good.record() == {"metric_id": good.metric_id, "ok": True, "problems": [], "row_count": good.result.row_count}

    empty_sql = "SELECT status, count(*) AS n FROM orders WHERE status = 'teleported' GROUP BY 1"
    empty = recheck_metric(demo_env, _stored(demo_env, empty_sql, {"type": "table"}))
    assert not empty.ok and empty.problems[0].endswith("returns no rows")
    assert recheck_metric(demo_env, _stored(demo_env, empty_sql, {"type": "table"}), empty_is_explained=True).ok

    gone = recheck_metric(demo_env, _stored(demo_env, "SELECT total_revenue FROM orders", {"type": "number"}))
    assert not gone.ok
    assert any("fails when re-executed" in p and "total_revenue" in p for p in gone.problems)
    assert any("column total_revenue does not exist in" in p for p in gone.problems)

    drifted = recheck_metric(demo_env, _stored(demo_env, "SELECT count(*) AS orders FROM orders", {"type": "number", "y": "n"}))
    assert not drifted.ok and "the chart uses n" in drifted.problems[0]


# -- references on PostgreSQL and MariaDB catalogs (mixed-case names, schemas, two-part names) --------------------------
from connectors import CatalogFilters  # noqa: E402
from connectors.postgres import PostgresConnector  # noqa: E402
from tests.connectors.mysql_support import mysql_admin, mysql_tester, spider_mysql  # noqa: E402,F401 - fixtures
from tests.connectors.postgres_fixtures import pg_credentials, spider_pg, unique_app_name  # noqa: E402,F401 - fixtures


@pytest.mark.postgres
def test_references_on_a_postgres_catalog(pg_credentials, spider_pg) -> None:  # noqa: F811
    with PostgresConnector(pg_credentials, application_name=unique_app_name("review")) as conn:
        catalog = conn.introspect(CatalogFilters(include_schemas=["cpg_pets_1"]))
        env_dialect = conn.dialect
    good = check_references(
        'SELECT s."LName", count(*) FROM cpg_pets_1."Student" s JOIN cpg_pets_1."Has_Pet" h ON h."StuID" = s."StuID" '
        'GROUP BY s."LName"',
        env_dialect,
        catalog,
    )
    assert good.ok, good.problems
    assert sorted(t.split(".")[-1] for t in good.tables) == ["Has_Pet", "Student"]
    bad = check_references('SELECT s."Salary" FROM cpg_pets_1."Student" s', env_dialect, catalog)
    assert bad.unknown_columns == ["Student.salary"] and not bad.ok
    wrong_schema = check_references('SELECT 1 FROM cpg_other."Student"', env_dialect, catalog)
    assert wrong_schema.unknown_tables == ["cpg_other.student"]


@pytest.mark.mysql
def test_references_on_a_mariadb_catalog(mysql_tester, spider_mysql) -> None:  # noqa: F811
    import connectors

    with connectors.connect(mysql_tester) as conn:
        catalog = conn.introspect(CatalogFilters(include_schemas=["cmy_pets_1"]))
        dialect = conn.dialect
    assert catalog.table_count >= 3
    good = check_references(
        "SELECT p.PetType, avg(p.weight) FROM cmy_pets_1.Pets p JOIN cmy_pets_1.Has_Pet h ON h.PetID = p.PetID "
        "GROUP BY p.PetType",
        dialect,
        catalog,
    )
    assert good.ok, good.problems
    bad = check_references("SELECT p.colour FROM cmy_pets_1.Pets p", dialect, catalog)
    assert bad.unknown_columns == ["Pets.colour"]

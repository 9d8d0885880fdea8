"""The demo warehouse: deterministic (the same seed builds the same rows), introspected with its keys and comments
through the DuckDB connector, internally consistent (every total adds up, every date fits), and shaped like a real
shop (seasonality, skewed product sales, repeat customers, NULLs) so analytics questions get plausible answers."""

from __future__ import annotations

import hashlib
import threading
from datetime import date
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest

from connectors import connect
from connectors.duckdb import DuckDBConnector
from demo import REFERENCE_DATE, START_DATE, DemoStats, build_demo_warehouse, demo_credentials
from demo.schema import COLUMN_COMMENTS, TABLE_COMMENTS, VIEWS

TABLES = ("marketing_channels", "campaigns", "products", "customers", "orders", "order_items", "payments")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> DemoStats:
    return build_demo_warehouse(tmp_path_factory.mktemp("demo") / "demo.duckdb")


@pytest.fixture(scope="module")
def demo(built: DemoStats) -> Iterator[DuckDBConnector]:
    with connect(demo_credentials(built.path)) as conn:
        assert isinstance(conn, DuckDBConnector)
        yield conn


def table_digests(path: Path) -> dict[str, str]:
    """SHA-256 of each table's rows, sorted, as DuckDB prints them."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        digests = {}
        for table in TABLES:
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
            digests[table] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return digests
    finally:
        conn.close()


def scalar(conn: DuckDBConnector, sql: str) -> Any:
    return conn.query(sql).rows[0][0]


def test_the_same_seed_builds_the_same_rows(built: DemoStats, tmp_path: Path) -> None:
    again = build_demo_warehouse(tmp_path / "again.duckdb", seed=built.seed)
    assert again.tables == built.tables
    assert table_digests(again.path) == table_digests(built.path)
    other = build_demo_warehouse(tmp_path / "other.duckdb", seed=built.seed + 1)
    different = {t for t, d in table_digests(other.path).items() if d != table_digests(built.path)[t]}
    assert different >= {"customers", "orders", "order_items", "payments", "products"}


def test_about_a_hundred_thousand_rows_in_seconds(built: DemoStats) -> None:
    assert list(built.tables) == list(TABLES) and built.views == tuple(VIEWS)
    assert 90_000 <= built.total_rows <= 120_000, built.tables
    assert built.tables["orders"] > 20_000 and built.tables["order_items"] > 2 * built.tables["orders"]
    assert built.reference_date == REFERENCE_DATE == date(2025, 6, 30)
    assert built.elapsed_s < 60  # ~3 s on an idle two-core machine
    assert built.path.is_file() and not list(built.path.parent.glob(".*building*"))


def test_the_connector_introspects_keys_comments_and_views(demo: DuckDBConnector, built: DemoStats) -> None:
    catalog = demo.introspect()
    main = catalog.database("demo").schema("main")
    assert sorted(t.name for t in main.tables) == sorted([*TABLES, *VIEWS])
    for name in TABLES:
        table = main.table(name)
        assert table.kind == "table" and table.row_count == built.tables[name], name
        assert table.primary_key and table.comment == TABLE_COMMENTS[name], name
        assert {c.name: c.comment for c in table.columns} == COLUMN_COMMENTS[name], name
        assert table.size_bytes is not None and table.size_bytes > 0
    assert main.table("order_items").primary_key == ["order_id", "line_number"]
    keys = {(t.name, tuple(fk.columns), fk.referred_table) for t in main.tables for fk in t.foreign_keys}
    assert keys == {
        ("campaigns", ("channel_id",), "marketing_channels"),
        ("customers", ("acquisition_channel_id",), "marketing_channels"),
        ("orders", ("customer_id",), "customers"),
        ("orders", ("channel_id",), "marketing_channels"),
        ("orders", ("campaign_id",), "campaigns"),
        ("order_items", ("order_id",), "orders"),
        ("order_items", ("product_id",), "products"),
        ("payments", ("order_id",), "orders"),
    }
    orders = main.table("orders")
    assert orders.column("total").data_type == "DECIMAL(12,2)" and orders.column("ordered_at").normalized_type == "timestamp"
    assert orders.column("campaign_id").nullable and not orders.column("customer_id").nullable
    for view in VIEWS:
        table = main.table(view)
        assert table.kind == "view" and table.comment == VIEWS[view][0] and "FROM" in (table.view_definition or "")


def test_profiles_read_the_demo_like_any_source(demo: DuckDBConnector) -> None:
    orders = demo.profile("orders", sample_size=5000)
    assert orders.sample_method == "tablesample" and orders.row_count and orders.row_count > 20_000
    status = next(c for c in orders.columns if c.name == "status")
    assert status.semantic_hint == "enum" and status.top_values[0].value == "completed"
    email = next(c for c in demo.profile("customers").columns if c.name == "email")
    assert email.semantic_hint == "email"


def test_every_amount_adds_up(demo: DuckDBConnector) -> None:
    assert scalar(demo, "SELECT count(*) FROM orders WHERE total <> subtotal - discount + shipping_fee") == 0
    mismatched_lines = """
        SELECT count(*) FROM orders o JOIN (
            SELECT order_id, sum(quantity * unit_price) AS subtotal, sum(discount) AS discount
              FROM order_items GROUP BY order_id) i USING (order_id)
         WHERE i.subtotal <> o.subtotal OR i.discount <> o.discount"""
    assert scalar(demo, mismatched_lines) == 0
    assert scalar(demo, "SELECT count(*) FROM orders WHERE order_id NOT IN (SELECT order_id FROM order_items)") == 0
    unpaid = "SELECT count(*) FROM orders o JOIN (SELECT order_id, sum(amount) AS paid FROM payments GROUP BY 1) p USING (order_id) WHERE p.paid <> o.total"
    assert scalar(demo, unpaid) == 0
    assert scalar(demo, "SELECT count(*) FROM orders WHERE shipping_fee > 0 AND subtotal - discount >= 75") == 0
    assert scalar(demo, "SELECT count(*) FROM products WHERE unit_cost >= unit_price") == 0


def test_every_date_fits_the_story(demo: DuckDBConnector) -> None:
    first, last = demo.query("SELECT min(ordered_at)::DATE, max(ordered_at)::DATE FROM orders").rows[0]
    assert first == START_DATE and last == REFERENCE_DATE
    assert scalar(demo, "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE o.ordered_at < c.created_at") == 0
    sold_off_shelf = """
        SELECT count(*) FROM order_items i JOIN orders o USING (order_id) JOIN products p USING (product_id)
         WHERE o.ordered_at::DATE < p.launched_on OR o.ordered_at::DATE >= p.discontinued_on"""
    assert scalar(demo, sold_off_shelf) == 0
    assert scalar(demo, "SELECT count(*) FROM orders WHERE shipped_at < ordered_at OR shipped_at::DATE > DATE '2025-06-30'") == 0
    assert scalar(demo, "SELECT count(*) FROM orders WHERE (shipped_at IS NULL) <> (status IN ('pending', 'cancelled'))") == 0
    campaign_outside = """
        SELECT count(*) FROM orders o JOIN campaigns c USING (campaign_id)
         WHERE o.ordered_at::DATE NOT BETWEEN c.started_on AND c.ended_on OR o.channel_id <> c.channel_id"""
    assert scalar(demo, campaign_outside) == 0
    assert scalar(demo, "SELECT count(*) FROM payments p JOIN orders o USING (order_id) WHERE p.paid_at < o.ordered_at") == 0


def test_revenue_by_channel_last_quarter_has_an_answer(demo: DuckDBConnector) -> None:
    rows = demo.query(
        "SELECT channel, orders, revenue FROM revenue_by_channel WHERE quarter = DATE '2025-04-01' ORDER BY revenue DESC"
    ).rows
    assert len(rows) == 8 and all(orders > 0 and revenue > 0 for _, orders, revenue in rows)
    direct = scalar(
        demo,
        "SELECT sum(total) FROM orders WHERE ordered_at >= DATE '2025-04-01' AND ordered_at < DATE '2025-07-01'"
        " AND status NOT IN ('cancelled', 'refunded')",
    )
    assert sum(revenue for _, _, revenue in rows) == direct
    top_channels = {channel for channel, _, _ in rows[:3]}
    assert top_channels & {"Organic Search", "Email", "Direct", "Paid Search"}


def test_the_shop_has_seasons_and_grows(demo: DuckDBConnector) -> None:
    monthly = {month: float(revenue) for month, revenue in demo.query("SELECT strftime(month, '%Y-%m'), revenue FROM monthly_revenue").rows}
    assert len(monthly) == 24
    assert monthly["2024-12"] > 1.4 * monthly["2024-10"] and monthly["2024-11"] > monthly["2024-10"]
    assert monthly["2025-02"] < monthly["2024-12"] / 1.5  # the January-February lull
    first_year = sum(v for k, v in monthly.items() if k < "2024-07")
    second_year = sum(v for k, v in monthly.items() if k >= "2024-07")
    assert 1.2 < second_year / first_year < 2.5
    black_friday = scalar(demo, "SELECT count(*) FROM orders WHERE coupon_code = 'BFCM25' AND month(ordered_at) NOT IN (11, 12)")
    assert black_friday == 0


def test_sales_are_skewed_and_customers_come_back(demo: DuckDBConnector) -> None:
    top_share = scalar(
        demo,
        """SELECT sum(units) FILTER (WHERE rank <= 30) / sum(units) FROM (
               SELECT product_id, sum(quantity) AS units, row_number() OVER (ORDER BY sum(quantity) DESC) AS rank
                 FROM order_items GROUP BY product_id)""",
    )
    assert top_share > 0.35  # the top 10 % of products sell over a third of the units
    orders_per_buyer = demo.query("SELECT orders FROM customer_lifetime_value WHERE orders > 0").rows
    repeat = sum(1 for (n,) in orders_per_buyer if n >= 2) / len(orders_per_buyer)
    assert 0.3 < repeat < 0.8
    assert max(n for (n,) in orders_per_buyer) >= 20
    never = scalar(demo, "SELECT count(*) FROM customer_lifetime_value WHERE orders = 0")
    assert never > 0


def test_some_values_are_missing_where_real_data_misses_them(demo: DuckDBConnector) -> None:
    nulls = demo.query(
        """SELECT (SELECT avg((birth_year IS NULL)::INT) FROM customers),
                  (SELECT avg((campaign_id IS NULL)::INT) FROM orders),
                  (SELECT avg((coupon_code IS NULL)::INT) FROM orders),
                  (SELECT avg((discontinued_on IS NULL)::INT) FROM products),
                  (SELECT avg((card_brand IS NULL)::INT) FROM payments)"""
    ).rows[0]
    assert all(0.0 < float(share) < 1.0 for share in nulls), nulls
    assert scalar(demo, "SELECT count(*) FROM payments WHERE (card_brand IS NULL) = (method = 'card')") == 0


def test_rebuilding_replaces_the_file_under_an_open_reader(tmp_path: Path) -> None:
    path = tmp_path / "demo.duckdb"
    build_demo_warehouse(path, seed=1)
    with connect(demo_credentials(path)) as reader:
        before = reader.query("SELECT count(*), sum(total) FROM orders").rows
        errors: list[BaseException] = []
        builder = threading.Thread(target=lambda: _build_into(path, errors))
        builder.start()
        builder.join(120)
        assert errors == []
        assert reader.query("SELECT count(*), sum(total) FROM orders").rows == before  # its own file, still whole
    with connect(demo_credentials(path)) as fresh:
        after = fresh.query("SELECT count(*), sum(total) FROM orders").rows
    assert after != before


def _build_into(path: Path, errors: list[BaseException]) -> None:
    try:
        build_demo_warehouse(path, seed=2)
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def test_demo_credentials_are_a_duckdb_source(built: DemoStats) -> None:
    creds = demo_credentials(built.path)
    assert creds == {"type": "duckdb", "path": str(built.path)}
    with connect(creds) as conn:
        assert conn.test_connection().ok

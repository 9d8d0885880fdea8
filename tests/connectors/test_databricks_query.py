"""Databricks query, catalog and profile paths at the cursor boundary, against recorded connector behaviour
(see databricks_support.py: the connector cannot talk to an open-source Spark Thrift server).

Proves what is sent and how answers are read: the guard runs before anything reaches the cursor, LIMIT max_rows+1 is
appended and `row_limit`/`fetchmany` ask for max_rows+1 rows, STATEMENT_TIMEOUT is set on the session only when it
changes, a cluster that refuses it falls back to the client timer, cancel() from another thread reaches the running
cursor, errors map by class and error class, and introspection assembles the catalog from the recorded
information_schema rows in six queries, or from SHOW / DESCRIBE TABLE EXTENDED for hive_metastore.
"""

from __future__ import annotations

import datetime
import decimal
import threading
import time

import pytest

pytest.importorskip("databricks.sql")

import sqlglot  # noqa: E402
from databricks.sql import exc as dbx  # noqa: E402

from connectors import (  # noqa: E402
    CatalogFilters,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    parse_credentials,
)
from connectors.databricks.catalog import (  # noqa: E402
    COLUMNS_SQL,
    FOREIGN_KEYS_SQL,
    PRIMARY_KEYS_SQL,
    SCHEMATA_SQL,
    TABLES_SQL,
    VIEWS_SQL,
    render,
)
from connectors.databricks.connection import DatabricksConnector  # noqa: E402
from tests.connectors.databricks_support import (  # noqa: E402
    Answer,
    RecordedConnection,
    description,
    rows,
    server_error,
)

EVENT_COLUMNS = description(("id", "bigint"), ("kind", "string"), ("amount", "decimal"), ("at", "timestamp"))
EVENT_ROWS = rows(
    ["id", "kind", "amount", "at"],
    [(i, "click", decimal.Decimal("0.10") * i, datetime.datetime(2024, 1, 1, 12, 0)) for i in range(1, 51)],
)


def _default_answer(sql: str) -> Answer:
    if sql.startswith("SET STATEMENT_TIMEOUT"):
        return Answer()
    return Answer(description=EVENT_COLUMNS, rows=EVENT_ROWS)


def _connector(answer=_default_answer, **creds: object) -> tuple[DatabricksConnector, RecordedConnection]:
    data = {
        "type": "databricks",
        "server_hostname": "adb-1.azuredatabricks.net",
        "http_path": "/sql/1.0/warehouses/abc",
        "access_token": "dapi-x",
        "catalog": "main",
        "schema": "default",
        **creds,
    }
    conn = DatabricksConnector(parse_credentials(data))
    recorded = RecordedConnection(answer)
    conn._conn = recorded  # the session databricks.sql.connect() would have opened
    return conn, recorded


# -- queries -------------------------------------------------------------------------------------------------------
def test_refused_statement_never_reaches_the_cursor() -> None:
    conn, recorded = _connector()
    for sql in (
        "DELETE FROM events",
        "COPY INTO events FROM 's3://b/p' FILEFORMAT = CSV",
        "OPTIMIZE events",
        "SELECT 1; DROP TABLE events",
        "INSERT OVERWRITE events SELECT * FROM staging",
        "SELECT reflect('java.lang.System', 'exit', 0)",
    ):
        with pytest.raises(ReadOnlyViolation):
            conn.query(sql)
    assert recorded.executed == [] and recorded.cursors == []


def test_limit_is_pushed_and_only_max_rows_plus_one_are_fetched() -> None:
    conn, recorded = _connector()
    result = conn.query("SELECT id, kind, amount, at FROM main.default.events ORDER BY id", max_rows=10, timeout=30)
    sql, params, row_limit = recorded.executed[-1]
    assert sql == "SELECT id, kind, amount, at FROM main.default.events ORDER BY id\nLIMIT 11"
    assert sqlglot.parse_one(sql, read="databricks").args["limit"].expression.name == "11"
    assert row_limit == 11 and recorded.cursors[-1].fetchmany_sizes == [11]
    assert result.row_count == 10 and result.truncated is True
    assert result.rows[0] == [1, "click", decimal.Decimal("0.10"), datetime.datetime(2024, 1, 1, 12, 0)]
    assert [(c.name, c.type) for c in result.columns] == [
        ("id", "bigint"), ("kind", "string"), ("amount", "decimal"), ("at", "timestamp"),
    ]


def test_own_limit_and_show_statements_are_sent_as_written() -> None:
    conn, recorded = _connector()
    conn.query("SELECT id FROM events LIMIT 3")
    assert recorded.statements[-1] == "SELECT id FROM events LIMIT 3"
    conn.query("SHOW TABLES IN main.default")
    assert recorded.statements[-1] == "SHOW TABLES IN main.default"


def test_statement_timeout_is_set_on_the_session_only_when_it_changes() -> None:
    conn, recorded = _connector()
    conn.query("SELECT id FROM events", timeout=30)
    conn.query("SELECT id FROM events", timeout=30)
    conn.query("SELECT id FROM events", timeout=2.5)
    sets = [s for s in recorded.statements if s.startswith("SET ")]
    assert sets == ["SET STATEMENT_TIMEOUT = 30", "SET STATEMENT_TIMEOUT = 3"]


def test_parameters_reach_the_cursor() -> None:
    conn, recorded = _connector()
    conn.query("SELECT id FROM events WHERE kind = :kind", params={"kind": "click"})
    sql, params, _ = recorded.executed[-1]
    assert params == {"kind": "click"} and sql.startswith("SELECT id FROM events WHERE kind = :kind")


def test_server_side_timeout_error_becomes_query_timeout() -> None:
    error = server_error(
        "QUERY_EXECUTION_TIMEOUT_EXCEEDED",
        "Query execution was cancelled due to exceeding the timeout (1s). You can increase the limit in seconds by "
        "setting STATEMENT_TIMEOUT.",
        "57KD0",
    )

    def answer(sql: str) -> Answer:
        return Answer() if sql.startswith("SET ") else Answer(error=error)

    conn, _ = _connector(answer)
    with pytest.raises(QueryTimeoutError):
        conn.query("SELECT count(*) FROM events a CROSS JOIN events b", timeout=1)


def test_cluster_without_statement_timeout_falls_back_to_the_client_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    canceled = dbx.ServerOperationError("Query was canceled", {"operation-id": "01ef-rec"})

    def answer(sql: str) -> Answer:
        if sql.startswith("SET STATEMENT_TIMEOUT"):
            return Answer(error=server_error("CONFIG_NOT_AVAILABLE", "Configuration STATEMENT_TIMEOUT is not available.", "42K0I"))
        return Answer(block_until_cancel=canceled)

    conn, recorded = _connector(answer)
    start = time.monotonic()
    with pytest.raises(QueryTimeoutError):
        conn.query("SELECT count(*) FROM events a CROSS JOIN events b", timeout=0.5)
    assert time.monotonic() - start < 2  # fired at the timeout itself: no server-side timeout to wait for
    assert recorded.cancels == 1
    assert conn._server_timeout_supported is False
    with pytest.raises(QueryTimeoutError):
        conn.query("SELECT 1", timeout=0.3)
    assert [s for s in recorded.statements if s.startswith("SET ")] == ["SET STATEMENT_TIMEOUT = 1"]  # not retried


def test_cancel_from_another_thread_reaches_the_running_cursor() -> None:
    canceled = dbx.ServerOperationError("Query was canceled", {"operation-id": "01ef-rec"})

    def answer(sql: str) -> Answer:
        return Answer() if sql.startswith("SET ") else Answer(block_until_cancel=canceled)

    conn, recorded = _connector(answer)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            conn.query("SELECT count(*) FROM events a CROSS JOIN events b", timeout=30)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert recorded.running.wait(5)
    conn.cancel()
    worker.join(5)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], QueryCanceledError)
    assert recorded.cancels == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (server_error("TABLE_OR_VIEW_NOT_FOUND", "The table or view `evnts` cannot be found.", "42P01"), QueryError),
        (server_error("PARSE_SYNTAX_ERROR", "Syntax error at or near 'FORM'.", "42601"), QueryError),
        (server_error("INSUFFICIENT_PERMISSIONS", "User does not have SELECT on Table 'main.hr.salary'.", "42501"), PermissionDeniedError),
        (server_error("NO_SUCH_CATALOG_EXCEPTION", "Catalog 'nope' was not found.", "42704"), NotFoundError),
    ],
)
def test_warehouse_errors_map_by_error_class(error: Exception, expected: type) -> None:
    def answer(sql: str) -> Answer:
        return Answer() if sql.startswith("SET ") else Answer(error=error)

    conn, _ = _connector(answer)
    with pytest.raises(expected) as info:
        conn.query("SELECT * FROM evnts")
    assert type(info.value) is expected
    assert info.value.details["error_class"] == str(error).split("]")[0].lstrip("[")


# -- catalog: Unity Catalog information_schema -------------------------------------------------------------------------
UNITY = {
    SCHEMATA_SQL: (["catalog_name", "schema_name", "comment"], [
        ("main", "default", None), ("main", "sales", "Sales data"), ("system", "access", None), ("dev", "scratch", None),
    ]),
    TABLES_SQL: (["table_catalog", "table_schema", "table_name", "table_type", "comment"], [
        ("main", "sales", "customers", "MANAGED", "One row per customer"),
        ("main", "sales", "orders", "MANAGED", None),
        ("main", "sales", "order_lines", "EXTERNAL", None),
        ("main", "sales", "v_revenue", "VIEW", None),
        ("main", "sales", "mv_daily", "MATERIALIZED_VIEW", None),
        ("system", "access", "audit", "MANAGED", None),
        ("dev", "scratch", "tmp", "MANAGED", None),
    ]),
    COLUMNS_SQL: (["table_catalog", "table_schema", "table_name", "column_name", "ordinal_position", "full_data_type", "is_nullable", "column_default", "comment"], [
        ("main", "sales", "customers", "customer_id", 1, "bigint", "NO", None, None),
        ("main", "sales", "customers", "email", 2, "string", "YES", None, "Primary contact"),
        ("main", "sales", "orders", "order_id", 1, "bigint", "NO", None, None),
        ("main", "sales", "orders", "customer_id", 2, "bigint", "YES", None, None),
        ("main", "sales", "orders", "placed_at", 3, "timestamp", "YES", "current_timestamp()", None),
        ("main", "sales", "order_lines", "order_id", 1, "bigint", "NO", None, None),
        ("main", "sales", "order_lines", "line_no", 2, "int", "NO", None, None),
        ("main", "sales", "order_lines", "price", 3, "decimal(10,2)", "YES", None, None),
        ("main", "sales", "order_lines", "tags", 4, "array<string>", "YES", None, None),
        ("main", "sales", "v_revenue", "revenue", 1, "decimal(20,2)", "YES", None, None),
        ("main", "sales", "mv_daily", "day", 1, "date", "YES", None, None),
        ("dev", "scratch", "tmp", "x", 1, "int", "YES", None, None),
    ]),
    VIEWS_SQL: (["table_catalog", "table_schema", "table_name", "view_definition"], [
        ("main", "sales", "v_revenue", "SELECT sum(price) AS revenue FROM main.sales.order_lines"),
        ("main", "sales", "mv_daily", "SELECT date(placed_at) AS day FROM main.sales.orders"),
    ]),
    PRIMARY_KEYS_SQL: (["table_catalog", "table_schema", "table_name", "constraint_name", "column_name"], [
        ("main", "sales", "customers", "customers_pk", "customer_id"),
        ("main", "sales", "orders", "orders_pk", "order_id"),
        ("main", "sales", "order_lines", "order_lines_pk", "order_id"),
        ("main", "sales", "order_lines", "order_lines_pk", "line_no"),
    ]),
    FOREIGN_KEYS_SQL: (["table_catalog", "table_schema", "table_name", "constraint_name", "column_name", "referred_catalog", "referred_schema", "referred_table", "referred_column"], [
        ("main", "sales", "orders", "orders_customer_fk", "customer_id", "main", "sales", "customers", "customer_id"),
        ("main", "sales", "order_lines", "order_lines_order_fk", "order_id", "main", "sales", "orders", "order_id"),
    ]),
}


def _catalog_statements(recorded: RecordedConnection) -> list[str]:
    return [s for s in recorded.statements if not s.startswith("SET STATEMENT_TIMEOUT")]


def _unity_answer(sql: str) -> Answer:
    if sql.startswith("SET STATEMENT_TIMEOUT"):
        return Answer()
    for template, (names, values) in UNITY.items():
        if sql == render(template, None) or sql.split("WHERE")[0] == template.split("WHERE")[0]:
            return Answer(description=description(*[(n, "string") for n in names]), rows=rows(names, values))
    raise AssertionError(f"unexpected statement: {sql}")


def test_unity_catalog_is_read_in_six_bulk_queries() -> None:
    conn, recorded = _connector(_unity_answer)
    catalog = conn.introspect()
    assert catalog.round_trips == 6 and len(_catalog_statements(recorded)) == 6
    assert recorded.statements[0] == "SET STATEMENT_TIMEOUT = 300"  # catalog statements are bounded on the server
    assert [d.name for d in catalog.databases] == ["main", "dev"]  # the system catalog is left out
    sales = catalog.database("main").schema("sales")
    assert [t.name for t in sales.tables] == ["customers", "orders", "order_lines", "v_revenue", "mv_daily"]
    customers = sales.table("customers")
    assert customers.comment == "One row per customer" and customers.primary_key == ["customer_id"]
    assert [(c.ordinal, c.name, c.data_type, c.normalized_type, c.nullable) for c in customers.columns] == [
        (1, "customer_id", "bigint", "integer", False),
        (2, "email", "string", "string", True),
    ]
    assert customers.column("email").comment == "Primary contact"
    lines = sales.table("order_lines")
    assert lines.kind == "external" and lines.primary_key == ["order_id", "line_no"]
    assert [c.normalized_type for c in lines.columns] == ["integer", "integer", "decimal", "array"]
    assert [(fk.columns, fk.referred_database, fk.referred_schema, fk.referred_table, fk.referred_columns) for fk in lines.foreign_keys] == [
        (["order_id"], "main", "sales", "orders", ["order_id"]),
    ]
    assert sales.table("orders").column("placed_at").normalized_type == "timestamp_tz"
    assert sales.table("v_revenue").kind == "view" and "sum(price)" in sales.table("v_revenue").view_definition
    assert sales.table("mv_daily").kind == "materialized_view"


def test_literal_catalog_filters_are_pushed_into_the_queries() -> None:
    conn, recorded = _connector(_unity_answer)
    catalog = conn.introspect(CatalogFilters(include_databases=["main"], include_schemas=["sales"], exclude_tables=["v_*", "mv_*"]))
    assert all("IN ('main')" in sql for sql in _catalog_statements(recorded))
    assert sorted(t.name for _, _, t in catalog.iter_tables()) == ["customers", "order_lines", "orders"]
    assert len(_catalog_statements(recorded)) == 5  # no view selected: no view-definition query


# -- catalog: hive_metastore fallback -----------------------------------------------------------------------------------
DESCRIBE_ORDERS = [
    ("order_id", "bigint", None),
    ("placed_at", "timestamp", "when the order was placed"),
    ("country", "string", None),
    ("# Partition Information", "", ""),
    ("# col_name", "data_type", "comment"),
    ("country", "string", None),
    ("", "", ""),
    ("# Detailed Table Information", "", ""),
    ("Catalog", "hive_metastore", ""),
    ("Database", "legacy", ""),
    ("Table", "orders", ""),
    ("Type", "MANAGED", ""),
    ("Comment", "Orders before the migration", ""),
    ("Statistics", "123456 bytes, 789 rows", ""),
    ("Provider", "delta", ""),
]
DESCRIBE_VIEW = [
    ("n", "bigint", None),
    ("", "", ""),
    ("# Detailed Table Information", "", ""),
    ("Type", "VIEW", ""),
    ("View Text", "SELECT count(*) AS n FROM legacy.orders", ""),
]


def _hive_answer(sql: str) -> Answer:
    cols3 = ["col_name", "data_type", "comment"]
    if sql.startswith("SET STATEMENT_TIMEOUT"):
        return Answer()
    if "system.information_schema" in sql:
        return Answer(error=server_error("NO_SUCH_CATALOG_EXCEPTION", "Catalog 'system' was not found.", "42704"))
    if sql == "SHOW SCHEMAS IN hive_metastore":
        return Answer(description=description(("databaseName", "string")), rows=rows(["databaseName"], [("legacy",), ("information_schema",)]))
    if sql == "SHOW TABLES IN hive_metastore.`legacy`":
        names = ["database", "tableName", "isTemporary"]
        return Answer(description=description(*[(n, "string") for n in names]), rows=rows(names, [("legacy", "orders", False), ("legacy", "v_count", False), ("", "tmp_view", True)]))
    if sql == "DESCRIBE TABLE EXTENDED hive_metastore.`legacy`.`orders`":
        return Answer(description=description(*[(n, "string") for n in cols3]), rows=rows(cols3, DESCRIBE_ORDERS))
    if sql == "DESCRIBE TABLE EXTENDED hive_metastore.`legacy`.`v_count`":
        return Answer(description=description(*[(n, "string") for n in cols3]), rows=rows(cols3, DESCRIBE_VIEW))
    raise AssertionError(f"unexpected statement: {sql}")


def test_workspace_without_unity_catalog_is_read_from_hive_metastore() -> None:
    conn, recorded = _connector(_hive_answer, catalog="hive_metastore")
    catalog = conn.introspect()
    assert [d.name for d in catalog.databases] == ["hive_metastore"]
    legacy = catalog.database("hive_metastore").schema("legacy")
    orders = legacy.table("orders")
    assert [(c.name, c.data_type, c.normalized_type) for c in orders.columns] == [
        ("order_id", "bigint", "integer"), ("placed_at", "timestamp", "timestamp_tz"), ("country", "string", "string"),
    ]
    assert orders.column("placed_at").comment == "when the order was placed"
    assert orders.comment == "Orders before the migration" and orders.row_count == 789 and orders.size_bytes == 123456
    view = legacy.table("v_count")
    assert view.kind == "view" and view.view_definition == "SELECT count(*) AS n FROM legacy.orders"
    assert [t.name for t in legacy.tables] == ["orders", "v_count"]  # the temporary view is skipped
    # 1 failed Unity query + SHOW SCHEMAS + SHOW TABLES + one DESCRIBE per table
    assert catalog.round_trips == 5 == len(_catalog_statements(recorded))


def test_profile_statements_pass_the_guard_and_carry_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.catalog import Column, Table
    import connectors.databricks.profile as profile_module

    table = Table(
        name="events",
        columns=[
            Column(ordinal=1, name="id", data_type="bigint", normalized_type="integer", nullable=False),
            Column(ordinal=2, name="kind", data_type="string", normalized_type="string"),
        ],
        row_count=None,
    )
    monkeypatch.setattr(profile_module, "find_table", lambda connector, ref: ("main", "default", table))

    def answer(sql: str) -> Answer:
        if sql.startswith("SET "):
            return Answer()
        names = [s.alias_or_name for s in sqlglot.parse_one(sql, read="databricks").selects]
        if "c0_nn" in names:
            return Answer(description=description(*[(n, "bigint") for n in names]), rows=rows(names, [tuple(50 for _ in names)]))
        return Answer(description=description(("i", "int"), ("v", "string"), ("n", "bigint")), rows=rows(["i", "v", "n"], [(1, "click", 50)]))

    conn, recorded = _connector(answer)
    profile = conn.profile("main.default.events")
    assert profile.table == "events" and profile.sampled_rows == 50
    assert profile.columns[1].top_values[0].value == "click"
    sent = [s for s in recorded.statements if not s.startswith("SET ")]
    assert len(sent) == 2 and all("LIMIT" in s.upper() for s in sent)

"""The BigQuery connector against crucible (BigQuery's REST API served locally, spoken by google-cloud-bigquery).

crucible has no INFORMATION_SCHEMA, so introspection here runs the REST listing path (list_datasets, list_tables,
get_table) — after the connector tried INFORMATION_SCHEMA and fell back, which is itself under test. crucible runs a
query synchronously inside the job insert and never stops it, so timeout and cancel are proved client-side (the
error within the bound, the job canceled by id best effort, the connector usable afterwards); BigQuery's own
timeout/cancel reasons are covered in test_bigquery_unit.py from recorded errors.
"""

from __future__ import annotations

import csv
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlglot

from tests.connectors.bigquery_support import (  # noqa: F401  (fixtures)
    PROJECT,
    credentials,
    crucible_endpoint,
    raw_client,
    run_sql,
    spider_dataset,
    spider_in_crucible,
)

from connectors import (  # noqa: E402
    AuthError,
    CatalogFilters,
    NotFoundError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    ReadOnlyViolation,
    connect,
    parse_credentials,
)

SPIDER_QUESTIONS = Path(__file__).resolve().parents[2] / "data" / "spider-dev" / "questions.csv"
SLOW_SQL = "SELECT COUNT(DISTINCT MD5(CAST(x AS STRING))) FROM UNNEST(GENERATE_ARRAY(1, 8000000)) AS x"
NESTED = "tbq_nested"


@pytest.fixture(scope="module")
def nested_dataset(crucible_endpoint: str) -> str:
    client = raw_client(crucible_endpoint)
    client.delete_dataset(NESTED, delete_contents=True, not_found_ok=True)
    client.create_dataset(NESTED)
    run_sql(
        client,
        f"CREATE TABLE {NESTED}.orders (id INT64, customer STRING, address STRUCT<city STRING, zip STRING>, "
        "tags ARRAY<STRING>, items ARRAY<STRUCT<sku STRING, qty INT64>>)",
        f"INSERT INTO {NESTED}.orders (id, customer, address, tags, items) VALUES "
        "(1, 'ada', STRUCT('Paris' AS city, '75001' AS zip), ['new', 'vip'], [STRUCT('A1' AS sku, 2 AS qty), STRUCT('B2' AS sku, 1 AS qty)]), "
        "(2, 'bob', STRUCT('Lyon' AS city, '69001' AS zip), [], []), (3, 'cy', NULL, ['new'], [STRUCT('A1' AS sku, 5 AS qty)])",
        f"CREATE VIEW {NESTED}.big_orders AS SELECT id, customer FROM {NESTED}.orders WHERE id > 1",
    )
    for i in range(4, 31):
        run_sql(client, f"INSERT INTO {NESTED}.orders (id, customer) VALUES ({i}, 'c{i}')")
    client.close()
    return NESTED


def _row_count(endpoint: str, table: str) -> int:
    client = raw_client(endpoint)
    try:
        return int(list(client.query(f"SELECT COUNT(*) FROM {table}").result())[0][0])
    finally:
        client.close()


def test_connection_test_succeeds(crucible_endpoint: str) -> None:
    with connect(credentials(crucible_endpoint)) as conn:
        result = conn.test_connection()
    assert result.ok is True and result.error is None and result.latency_ms and result.latency_ms > 0


def test_role_capabilities_without_test_iam_permissions_are_unknown_and_the_connection_stays_usable(
    crucible_endpoint: str, nested_dataset: str
) -> None:
    """crucible lists the datasets and tables but answers tables.testIamPermissions with 501: every capability
    unknown, the reason said, the connection test still ok."""
    from connectors.capabilities import CAPABILITIES

    with connect(credentials(crucible_endpoint)) as conn:
        test = conn.test_connection()
        assert test.ok and test.role is not None
        assert test.role.unknown() == list(CAPABILITIES)
        assert "tables not tested: testIamPermissions is not available here (501)" in test.role.findings
        assert conn.query("SELECT 1 AS one").rows == [[1]]


def test_unreachable_endpoint_is_a_retryable_network_error_quickly(crucible_endpoint: str) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    start = time.monotonic()
    with connect(credentials(f"http://127.0.0.1:{closed}")) as conn:
        result = conn.test_connection()
    assert result.ok is False and result.error is not None
    assert result.error["type"] == "NetworkError" and result.error["retryable"] is True
    assert time.monotonic() - start < 10  # seconds of retries, not the library's default ten minutes


def test_query_pushes_the_row_limit_and_types_nested_columns(crucible_endpoint: str, nested_dataset: str) -> None:
    with connect(credentials(crucible_endpoint, default_dataset=nested_dataset)) as conn:
        result = conn.query("SELECT id, customer, address, tags, items FROM orders ORDER BY id", max_rows=2)
        full = conn.query("SELECT id FROM orders", max_rows=30)
    assert result.row_count == 2 and result.truncated is True
    assert [(c.name, c.type) for c in result.columns] == [
        ("id", "INT64"), ("customer", "STRING"), ("address", "STRUCT<city STRING, zip STRING>"),
        ("tags", "ARRAY<STRING>"), ("items", "ARRAY<STRUCT<sku STRING, qty INT64>>"),
    ]
    first = result.rows[0]
    assert first[:2] == [1, "ada"] and first[2] == {"city": "Paris", "zip": "75001"} and first[3] == ["new", "vip"]
    assert first[4] == [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}]
    assert full.row_count == 30 and full.truncated is False


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM {t} WHERE TRUE",
        "UPDATE {t} SET customer = 'x' WHERE TRUE",
        "INSERT INTO {t} (id) VALUES (99)",
        "CREATE OR REPLACE TABLE {t} AS SELECT 1 AS id",
        "DROP TABLE {t}",
        "MERGE {t} AS d USING (SELECT 1 AS id) AS s ON d.id = s.id WHEN MATCHED THEN DELETE",
        "SELECT 1; DELETE FROM {t} WHERE TRUE",
    ],
)
def test_refused_statements_never_reach_bigquery(crucible_endpoint: str, nested_dataset: str, statement: str) -> None:
    table = f"{nested_dataset}.orders"
    before = _row_count(crucible_endpoint, table)
    with connect(credentials(crucible_endpoint)) as conn:
        with pytest.raises(ReadOnlyViolation):
            conn.query(statement.format(t=table))
    assert _row_count(crucible_endpoint, table) == before == 30


def test_missing_table_is_not_found_and_bad_sql_a_query_error(crucible_endpoint: str, nested_dataset: str) -> None:
    with connect(credentials(crucible_endpoint, default_dataset=nested_dataset)) as conn:
        with pytest.raises(NotFoundError) as info:
            conn.query("SELECT * FROM no_such_table")
        assert info.value.details["reason"] == "notFound" and info.value.details["status"] == 404
        with pytest.raises(QueryError):
            conn.query("SELECT no_such_column FROM orders")


def test_timeout_raises_query_timeout_within_bound_and_connector_recovers(crucible_endpoint: str) -> None:
    with connect(credentials(crucible_endpoint)) as conn:
        start = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            conn.query(SLOW_SQL, timeout=1)
        assert time.monotonic() - start < 3.0
        assert conn.query("SELECT 1 AS x").rows == [[1]]


def test_a_job_insert_sent_again_after_it_created_the_job_waits_for_that_job(crucible_endpoint: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The client sends a job insert again when the first timed out in transport; when the first had created the job,
    the second gets "Already Exists" (seen once in CI on a loaded host, as a QueryError). The job id is the
    connector's own, so the job is its query's: it waits for it. Here the first insert is made before the call."""
    import uuid as uuid_module

    from connectors.bigquery import connection as bigquery_connection

    fixed = uuid_module.uuid4()
    monkeypatch.setattr(bigquery_connection.uuid, "uuid4", lambda: fixed)
    with connect(credentials(crucible_endpoint)) as conn:
        client = conn._connection()
        client.query("SELECT 7 AS x", job_id=f"taskpack_{fixed.hex}").result()  # the first insert, already done
        assert conn.query("SELECT 7 AS x").rows == [[7]]


def test_cancel_from_another_thread_stops_waiting_within_bound(crucible_endpoint: str) -> None:
    with connect(credentials(crucible_endpoint)) as conn:
        conn.test_connection()
        timer = threading.Timer(0.3, conn.cancel)
        start = time.monotonic()
        timer.start()
        with pytest.raises(QueryCanceledError):
            conn.query(SLOW_SQL, timeout=60)
        assert time.monotonic() - start < 3.0
        conn.cancel()  # nothing running: harmless, and not sticky
        assert conn.query("SELECT 2 AS x").rows == [[2]]


def test_dry_run_guard_refuses_a_query_over_maximum_bytes_billed_before_running_it(crucible_endpoint: str, nested_dataset: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """crucible has no dry runs: the estimate is stubbed on the connector, the refusal and the crucible error are real."""
    from connectors.bigquery.connection import BigQueryConnector

    creds = parse_credentials(credentials(crucible_endpoint, maximum_bytes_billed=1_000_000))
    with BigQueryConnector(creds, dry_run_first=True) as conn:  # type: ignore[arg-type]
        sent: list[str] = []
        monkeypatch.setattr(conn, "estimate_bytes", lambda sql, params=None, timeout=30: sent.append(sql) or 5_000_000)
        with pytest.raises(QueryError) as info:
            conn.query(f"SELECT * FROM {nested_dataset}.orders")
        assert info.value.code == "bytes_limit_exceeded" and info.value.details["estimated_bytes"] == 5_000_000
        assert sent == [f"SELECT * FROM {nested_dataset}.orders"]
    with BigQueryConnector(creds) as conn:  # type: ignore[arg-type]
        with pytest.raises(QueryError, match="dry-run"):
            conn.estimate_bytes("SELECT 1")


# -- introspection ----------------------------------------------------------------------------------------------------

_EXPECTED = {"INT": "integer", "BIGINT": "integer", "SMALLINT": "integer", "TINYINT": "integer", "FLOAT": "float",
             "DOUBLE": "float", "VARCHAR": "string", "CHAR": "string", "TEXT": "string", "DATE": "date",
             "DATETIME": "timestamp", "DECIMAL": "decimal"}


def test_introspection_falls_back_to_the_api_and_matches_loaded_spider_datasets(crucible_endpoint: str, spider_in_crucible) -> None:  # type: ignore[no-untyped-def]
    progress: list[dict[str, Any]] = []
    with connect(credentials(crucible_endpoint)) as conn:
        catalog = conn.introspect(CatalogFilters(include_schemas=list(spider_in_crucible)), progress=lambda s, f: progress.append(f))
    assert [d.name for d in catalog.databases] == [PROJECT]
    project = catalog.database(PROJECT)
    assert sorted(s.name for s in project.schemas) == sorted(spider_in_crucible)
    for dataset, specs in spider_in_crucible.items():
        schema = project.schema(dataset)
        assert sorted(t.name for t in schema.tables) == sorted(s.name for s in specs)
        for spec in specs:
            table = schema.table(spec.name)
            assert [c.name for c in table.columns] == [name for name, _, _ in spec.columns]
            assert [c.normalized_type for c in table.columns] == [_EXPECTED[k.this.value] for _, k, _ in spec.columns]
            assert table.kind == "table" and table.row_count is not None
    assert [p["done"] for p in progress] == [1, 2]


def test_nested_and_repeated_fields_become_dotted_paths_and_views_are_listed(crucible_endpoint: str, nested_dataset: str) -> None:
    with connect(credentials(crucible_endpoint, default_dataset=nested_dataset)) as conn:
        catalog = conn.introspect()
    schema = catalog.database(PROJECT).schema(nested_dataset)
    orders = schema.table("orders")
    assert [(c.name, c.data_type, c.normalized_type) for c in orders.columns] == [
        ("id", "INT64", "integer"),
        ("customer", "STRING", "string"),
        ("address", "STRUCT<city STRING, zip STRING>", "struct"),
        ("address.city", "STRING", "string"),
        ("address.zip", "STRING", "string"),
        ("tags", "ARRAY<STRING>", "array"),
        ("items", "ARRAY<STRUCT<sku STRING, qty INT64>>", "array"),
        ("items[].sku", "STRING", "string"),
        ("items[].qty", "INT64", "integer"),
    ]
    assert [c.ordinal for c in orders.columns] == list(range(1, 10))
    assert orders.row_count == 30
    view = schema.table("big_orders")
    # crucible returns no view.query in tables.get (view definitions are tested on recorded INFORMATION_SCHEMA rows)
    assert view.kind == "view" and view.row_count is None and [c.name for c in view.columns] == ["id", "customer"]
    # default dataset only (no list_datasets): the refused INFORMATION_SCHEMA query, list_tables, and one get_table
    # per table — the API path grows with the number of tables by nature, which is why it is only the fallback
    assert catalog.round_trips == 1 + 1 + 2


def test_information_schema_only_mode_reports_the_emulator_gap_instead_of_falling_back(crucible_endpoint: str) -> None:
    from connectors.bigquery.connection import BigQueryConnector

    creds = parse_credentials(credentials(crucible_endpoint, default_dataset=NESTED))
    with BigQueryConnector(creds, catalog_source="information_schema") as conn:  # type: ignore[arg-type]
        with pytest.raises(QueryError, match="INFORMATION_SCHEMA"):
            conn.introspect()


def test_spider_gold_queries_transpiled_to_bigquery_pass_the_guard_and_run(crucible_endpoint: str, spider_in_crucible) -> None:  # type: ignore[no-untyped-def]
    with SPIDER_QUESTIONS.open(newline="") as f:
        gold = [(r["database"], r["sql"]) for r in csv.DictReader(f) if spider_dataset(r["database"]) in spider_in_crucible]
    ran, failed = 0, []
    for spider_db, sql in gold:
        with connect(credentials(crucible_endpoint, default_dataset=spider_dataset(spider_db))) as conn:
            bq_sql = sqlglot.transpile(sql, read="mysql", write="bigquery")[0]
            try:
                conn.query(bq_sql, max_rows=100)
                ran += 1
            except ReadOnlyViolation:
                raise
            except Exception as exc:  # emulator gaps are tolerated, guard refusals are not
                failed.append((bq_sql, type(exc).__name__, str(exc)[:120]))
    assert len(gold) > 80
    assert ran / len(gold) >= 0.8, failed[:5]


def test_profile_of_a_spider_table(crucible_endpoint: str, spider_in_crucible) -> None:  # type: ignore[no-untyped-def]
    with connect(credentials(crucible_endpoint, default_dataset=spider_dataset("pets_1"))) as conn:
        profile = conn.profile("Student")
        with pytest.raises(NotFoundError):
            conn.profile("no_such_table")
    assert profile.sample_method == "full" and profile.sampled_rows == 34
    by_name = {c.name: c for c in profile.columns}
    assert by_name["StuID"].semantic_hint == "identifier" and by_name["StuID"].distinct_count == 34
    assert {v.value for v in by_name["Sex"].top_values} == {"F", "M"}


# -- service-account keys through a loopback token endpoint -------------------------------------------------------------

@pytest.fixture()
def token_endpoint() -> Iterator[dict[str, Any]]:
    """A loopback OAuth token endpoint: grants a token, or answers `invalid_grant` when state['reject'] is set."""
    state: dict[str, Any] = {"reject": False, "requests": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state["requests"] += 1
            if state["reject"]:
                status, body = 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            else:
                status, body = 200, {"access_token": "ya29.test-token", "expires_in": 3600, "token_type": "Bearer"}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["uri"] = f"http://127.0.0.1:{server.server_address[1]}/token"
    yield state
    server.shutdown()
    server.server_close()


def _service_account_key(token_uri: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {"type": "service_account", "project_id": PROJECT, "private_key_id": "kid-0042", "private_key": pem,
            "client_email": "reader@taskpack-test.iam.gserviceaccount.com", "client_id": "1", "token_uri": token_uri}


@pytest.mark.parametrize("form", ["object", "json_string", "file_path"])
def test_service_account_key_in_each_form_authenticates(crucible_endpoint: str, token_endpoint: dict, tmp_path: Path, form: str, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    key = _service_account_key(token_endpoint["uri"])
    value: Any = {"object": key, "json_string": json.dumps(key)}.get(form)
    if form == "file_path":
        path = tmp_path / "key.json"
        path.write_text(json.dumps(key))
        value = str(path)
    with connect(credentials(crucible_endpoint, service_account_key=value)) as conn:
        result = conn.test_connection()
        assert key["private_key"] not in repr(conn.credentials)
    assert result.ok is True and token_endpoint["requests"] >= 1
    assert not [r for r in caplog.records if key["private_key"][40:80] in r.getMessage()]


def test_rejected_service_account_is_a_non_retryable_auth_error_without_the_key(crucible_endpoint: str, token_endpoint: dict, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    token_endpoint["reject"] = True
    key = _service_account_key(token_endpoint["uri"])
    with connect(credentials(crucible_endpoint, service_account_key=key)) as conn:
        result = conn.test_connection()
        with pytest.raises(AuthError) as info:
            conn.query("SELECT 1")
    assert result.ok is False and result.error is not None
    assert result.error["type"] == "AuthError" and result.error["retryable"] is False
    assert "invalid_grant" in result.error["message"]
    texts = [json.dumps(result.error), str(info.value), repr(info.value)] + [r.getMessage() for r in caplog.records]
    assert not [t for t in texts if key["private_key"][40:80] in t or "kid-0042" in t]


def test_unreachable_token_endpoint_is_a_network_error(crucible_endpoint: str) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    key = _service_account_key(f"http://127.0.0.1:{closed}/token")
    with connect(credentials(crucible_endpoint, service_account_key=key)) as conn:
        result = conn.test_connection()
    assert result.ok is False and result.error is not None and result.error["type"] in ("NetworkError", "AuthError")
    assert result.error["type"] == "NetworkError", result.error

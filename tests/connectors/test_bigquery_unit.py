"""BigQuery pieces that need no server: catalog SQL, INFORMATION_SCHEMA rows, error mapping, job configuration,
types and credentials.

crucible (the live stand-in) has no INFORMATION_SCHEMA, so that path is tested here: its statements are parsed with
sqlglot's bigquery dialect, and the reader is driven end to end on *recorded rows* shaped like BigQuery's documented
INFORMATION_SCHEMA.TABLES/VIEWS/TABLE_OPTIONS/COLUMNS/COLUMN_FIELD_PATHS columns and `__TABLES__`. Errors are
the google.api_core exceptions the client raises, with BigQuery's documented `reason` codes.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

pytest.importorskip("google.cloud.bigquery")
from google.api_core import exceptions as api  # noqa: E402
from google.auth import exceptions as auth_exc  # noqa: E402
from google.cloud import bigquery  # noqa: E402

from connectors import (  # noqa: E402
    AuthError,
    CatalogFilters,
    CredentialsError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    parse_credentials,
)
from connectors.bigquery.auth import google_credentials  # noqa: E402
from connectors.bigquery.catalog import (  # noqa: E402
    BigQueryCatalogReader,
    dataset_statements,
    region_statements,
    schema_field_rows,
    flatten,
)
from connectors.bigquery.errors import map_error  # noqa: E402
from connectors.bigquery.statements import job_config, parameter_type, query_parameters  # noqa: E402
from connectors.bigquery.types import normalize_type, sql_type  # noqa: E402


# -- catalog SQL ------------------------------------------------------------------------------------------------------

def _tables_in(sql: str) -> set[str]:
    tree = sqlglot.parse_one(sql, read="bigquery")
    assert isinstance(tree, exp.Select)
    return {".".join(p for p in (t.catalog, t.db, t.name) if p) for t in tree.find_all(exp.Table)}


def test_dataset_statements_parse_and_read_that_datasets_information_schema() -> None:
    statements = dataset_statements("my-project", "sales_eu")
    tables = _tables_in(statements["tables"])
    assert {t.split(".")[-1].upper() for t in tables} == {"TABLES", "VIEWS", "TABLE_OPTIONS", "__TABLES__"}
    assert all(t.startswith("my-project.sales_eu") for t in tables), tables
    columns = _tables_in(statements["columns"])
    assert {t.split(".")[-1].upper() for t in columns} == {"COLUMNS", "COLUMN_FIELD_PATHS"}
    tree = sqlglot.parse_one(statements["tables"], read="bigquery")
    assert len(list(tree.find_all(exp.Join))) == 3  # one statement, not one per table


def test_region_statements_read_the_region_views_with_table_storage() -> None:
    statements = region_statements("my-project", "EU")
    tables = _tables_in(statements["tables"])
    assert "my-project.region-eu.INFORMATION_SCHEMA.TABLE_STORAGE" in {t.replace("`", "") for t in tables} or any(
        t.endswith("TABLE_STORAGE") and "region-eu" in t for t in tables
    )
    tree = sqlglot.parse_one(statements["tables"], read="bigquery")
    selected = {e.alias_or_name for e in tree.expressions}
    assert {"table_schema", "table_name", "table_type", "view_definition", "description", "row_count", "size_bytes"} <= selected
    assert any("region-eu" in t for t in _tables_in(statements["columns"]))


TABLE_ROWS = [
    {"table_schema": "shop", "table_name": "orders", "table_type": "BASE TABLE", "view_definition": None,
     "description": '"One row per order"', "row_count": 1200, "size_bytes": 99_000},
    {"table_schema": "shop", "table_name": "big_orders", "table_type": "VIEW",
     "view_definition": "SELECT * FROM shop.orders WHERE total > 100", "description": None, "row_count": None, "size_bytes": None},
    {"table_schema": "shop", "table_name": "daily", "table_type": "MATERIALIZED VIEW", "view_definition": None,
     "description": None, "row_count": 30, "size_bytes": 700},
    {"table_schema": "shop", "table_name": "events_ext", "table_type": "EXTERNAL", "view_definition": None,
     "description": None, "row_count": None, "size_bytes": None},
]


def _col(table: str, column: str, ordinal: int, path: str, data_type: str, nullable: str = "YES", description: str | None = None) -> dict[str, Any]:
    return {"table_schema": "shop", "table_name": table, "column_name": column, "ordinal_position": ordinal,
            "is_nullable": nullable, "column_default": "NULL", "field_path": path, "data_type": data_type, "description": description}


COLUMN_ROWS = [
    _col("orders", "id", 1, "id", "INT64", "NO", "order id"),
    _col("orders", "address", 2, "address", "STRUCT<city STRING, geo STRUCT<lat FLOAT64, lng FLOAT64>>"),
    _col("orders", "address", 2, "address.city", "STRING"),
    _col("orders", "address", 2, "address.geo", "STRUCT<lat FLOAT64, lng FLOAT64>"),
    _col("orders", "address", 2, "address.geo.lat", "FLOAT64"),
    _col("orders", "address", 2, "address.geo.lng", "FLOAT64"),
    _col("orders", "lines", 3, "lines", "ARRAY<STRUCT<sku STRING, tags ARRAY<STRING>>>"),
    _col("orders", "lines", 3, "lines.sku", "STRING"),
    _col("orders", "lines", 3, "lines.tags", "ARRAY<STRING>"),
    _col("orders", "total", 4, "total", "NUMERIC(12, 2)"),
    _col("orders", "placed_at", 5, "placed_at", "TIMESTAMP"),
    _col("big_orders", "id", 1, "id", "INT64"),
]


class RecordedBigQuery:
    def __init__(self, *, denied: bool = False) -> None:
        self.sent: list[str] = []
        self.denied = denied

    def __call__(self, sql: str) -> list[dict[str, Any]]:
        self.sent.append(sql)
        if self.denied:
            raise PermissionDeniedError("Access Denied: Table INFORMATION_SCHEMA.TABLES", details={"reason": "accessDenied"})
        return TABLE_ROWS if "INFORMATION_SCHEMA.TABLES" in sql else COLUMN_ROWS


class RecordedListing:
    """list_datasets as the REST API answers it (the only client call the INFORMATION_SCHEMA path makes)."""

    def __init__(self) -> None:
        self.calls = 0

    def list_datasets(self, project: str, **_: Any) -> list[Any]:
        self.calls += 1
        return [bigquery.DatasetReference(project, "shop"), bigquery.DatasetReference(project, "staging")]


def test_reader_builds_tables_with_flattened_nested_columns_from_recorded_rows() -> None:
    run = RecordedBigQuery()
    reader = BigQueryCatalogReader(client=RecordedListing(), run=run, project="p", default_dataset="shop")
    catalog = reader.read()
    shop = catalog.database("p").schema("shop")
    orders = shop.table("orders")
    assert (orders.kind, orders.row_count, orders.size_bytes, orders.comment) == ("table", 1200, 99_000, "One row per order")
    assert [(c.name, c.normalized_type, c.nullable) for c in orders.columns] == [
        ("id", "integer", False),
        ("address", "struct", True),
        ("address.city", "string", True),
        ("address.geo", "struct", True),
        ("address.geo.lat", "float", True),
        ("address.geo.lng", "float", True),
        ("lines", "array", True),
        ("lines[].sku", "string", True),
        ("lines[].tags", "array", True),
        ("total", "decimal", True),
        ("placed_at", "timestamp_tz", True),
    ]
    assert orders.column("id").comment == "order id" and orders.column("id").default is None
    view = shop.table("big_orders")
    assert view.kind == "view" and "total > 100" in (view.view_definition or "") and view.row_count is None
    assert shop.table("daily").kind == "materialized_view" and shop.table("events_ext").kind == "external"
    assert catalog.round_trips == 2 == len(run.sent)


def test_reader_sends_two_statements_per_dataset_or_two_per_region() -> None:
    per_dataset = RecordedBigQuery()
    listing = RecordedListing()
    catalog = BigQueryCatalogReader(client=listing, run=per_dataset, project="p").read()
    assert [s.name for s in catalog.database("p").schemas] == ["shop", "staging"]
    # list_datasets + (tables, columns) for shop + tables for staging (no tables there: its columns query is skipped)
    assert catalog.round_trips == 1 + 2 + 1 and listing.calls == 1 and len(per_dataset.sent) == 3
    regional = RecordedBigQuery()
    catalog = BigQueryCatalogReader(client=RecordedListing(), run=regional, project="p", location="EU").read()
    assert len(regional.sent) == 2 and all("region-eu" in sql for sql in regional.sent)
    assert catalog.round_trips == 1 + 2
    assert [t.name for t in catalog.database("p").schema("shop").tables] == ["big_orders", "daily", "events_ext", "orders"]
    assert catalog.database("p").schema("staging").tables == []  # recorded region rows hold only `shop`


def test_reader_filters_tables_and_datasets() -> None:
    catalog = BigQueryCatalogReader(client=RecordedListing(), run=RecordedBigQuery(), project="p").read(
        CatalogFilters(include_schemas=["shop"], exclude_tables=["*orders"])
    )
    assert [t.name for _, _, t in catalog.iter_tables()] == ["daily", "events_ext"]


def test_information_schema_only_mode_raises_the_access_error() -> None:
    reader = BigQueryCatalogReader(client=RecordedListing(), run=RecordedBigQuery(denied=True), project="p",
                                   default_dataset="shop", source="information_schema")
    with pytest.raises(PermissionDeniedError):
        reader.read()


def test_rest_schema_fields_flatten_like_information_schema() -> None:
    """A recorded REST schema (tables.get) with REQUIRED, descriptions and repeated records."""
    fields = [
        bigquery.SchemaField("id", "INTEGER", mode="REQUIRED", description="order id"),
        bigquery.SchemaField("address", "RECORD", fields=[
            bigquery.SchemaField("city", "STRING"),
            bigquery.SchemaField("geo", "RECORD", fields=[bigquery.SchemaField("lat", "FLOAT")]),
        ]),
        bigquery.SchemaField("lines", "RECORD", mode="REPEATED", fields=[
            bigquery.SchemaField("sku", "STRING", mode="REQUIRED"),
            bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
        ]),
        bigquery.SchemaField("total", "NUMERIC", precision=12, scale=2),
        bigquery.SchemaField("ok", "BOOLEAN"),
    ]
    columns = flatten(schema_field_rows(fields))
    assert [(c.name, c.data_type, c.nullable) for c in columns] == [
        ("id", "INT64", False),
        ("address", "STRUCT<city STRING, geo STRUCT<lat FLOAT64>>", True),
        ("address.city", "STRING", True),
        ("address.geo", "STRUCT<lat FLOAT64>", True),
        ("address.geo.lat", "FLOAT64", True),
        ("lines", "ARRAY<STRUCT<sku STRING, tags ARRAY<STRING>>>", True),
        ("lines[].sku", "STRING", False),
        ("lines[].tags", "ARRAY<STRING>", True),
        ("total", "NUMERIC(12, 2)", True),
        ("ok", "BOOL", True),
    ]
    assert columns[0].comment == "order id"
    assert sql_type(bigquery.SchemaField("d", "DATETIME")) == "DATETIME"


@pytest.mark.parametrize(
    ("data_type", "normalized"),
    [("INT64", "integer"), ("INTEGER", "integer"), ("NUMERIC(10, 2)", "decimal"), ("BIGNUMERIC", "decimal"),
     ("FLOAT64", "float"), ("BOOL", "boolean"), ("STRING(20)", "string"), ("BYTES", "binary"), ("DATE", "date"),
     ("TIME", "time"), ("DATETIME", "timestamp"), ("TIMESTAMP", "timestamp_tz"), ("INTERVAL", "interval"),
     ("JSON", "json"), ("GEOGRAPHY", "geography"), ("ARRAY<INT64>", "array"), ("STRUCT<a INT64>", "struct"),
     ("RANGE<DATE>", "other")],
)
def test_bigquery_types_normalize(data_type: str, normalized: str) -> None:
    assert normalize_type(data_type) == normalized


# -- errors -----------------------------------------------------------------------------------------------------------

def _api(cls: type, message: str, reason: str | None) -> Exception:
    return cls(message, errors=[{"reason": reason, "message": message}] if reason else [])


@pytest.mark.parametrize(
    ("exc", "expected", "retryable"),
    [
        (_api(api.Forbidden, "Access Denied: Table p:d.t: User does not have permission", "accessDenied"), PermissionDeniedError, False),
        (_api(api.Unauthorized, "Request had invalid authentication credentials", "unauthorized"), AuthError, False),
        (auth_exc.RefreshError("invalid_grant: Invalid JWT Signature.", {"error": "invalid_grant"}), AuthError, False),
        (auth_exc.DefaultCredentialsError("Could not automatically determine credentials."), AuthError, False),
        (_api(api.NotFound, "Not found: Dataset p:nope", "notFound"), NotFoundError, False),
        (_api(api.BadRequest, "Job timed out after 1 sec", "timeout"), QueryTimeoutError, False),
        (api.DeadlineExceeded("Deadline of 10.0s exceeded"), QueryTimeoutError, False),
        (concurrent.futures.TimeoutError(), QueryTimeoutError, False),
        (_api(api.ServiceUnavailable, "The service is currently unavailable", "backendError"), QueryError, True),
        (api.ServiceUnavailable("The service is currently unavailable"), NetworkError, True),
        (api.RetryError("Timeout of 5.0s exceeded", cause=ConnectionError("refused")), NetworkError, True),
        (_api(api.Forbidden, "Quota exceeded: Your project exceeded quota for free query bytes scanned", "quotaExceeded"), QueryError, True),
        (_api(api.BadRequest, "Syntax error: Unexpected identifier", "invalidQuery"), QueryError, False),
    ],
)
def test_client_exceptions_map_by_class_and_reason(exc: Exception, expected: type, retryable: bool) -> None:
    error = map_error(exc)
    assert type(error) is expected
    assert error.retryable is retryable


def test_bytes_billed_limit_has_its_own_code() -> None:
    exc = _api(api.BadRequest, "Query exceeded limit for bytes billed: 1000000. 10485760 or higher required.", "bytesBilledLimitExceeded")
    error = map_error(exc)
    assert type(error) is QueryError and error.code == "bytes_limit_exceeded"


def test_stopped_job_is_a_cancel_when_requested_and_a_timeout_otherwise() -> None:
    exc = _api(api.BadRequest, "Job execution was cancelled: User requested cancellation", "stopped")
    assert type(map_error(exc, canceled=True)) is QueryCanceledError
    assert type(map_error(exc, canceled=False, timeout_s=3)) is QueryTimeoutError


def test_a_key_echoed_in_an_error_is_redacted() -> None:
    error = map_error(_api(api.BadRequest, "bad value 'sekret-key-material'", "invalid"), secrets=["sekret-key-material"])
    assert "sekret-key-material" not in error.message


# -- job configuration and parameters ------------------------------------------------------------------------------

def test_job_config_carries_timeout_cost_guard_and_default_dataset() -> None:
    creds = parse_credentials({"type": "bigquery", "project_id": "p", "default_dataset": "shop", "maximum_bytes_billed": 10_000_000})
    config = job_config(creds, timeout_s=2.5)  # type: ignore[arg-type]
    assert int(config.job_timeout_ms) == 2500 and config.maximum_bytes_billed == 10_000_000
    assert config.default_dataset.project == "p" and config.default_dataset.dataset_id == "shop"
    assert config.dry_run is False and job_config(creds, timeout_s=1, dry_run=True).dry_run is True  # type: ignore[arg-type]
    plain = job_config(parse_credentials({"type": "bigquery", "project_id": "p"}), timeout_s=0.1)  # type: ignore[arg-type]
    assert plain.maximum_bytes_billed is None and plain.default_dataset is None and int(plain.job_timeout_ms) == 1000


def test_parameters_are_typed_from_python_values() -> None:
    named = query_parameters({"n": 3, "ok": True, "x": 1.5, "s": "a", "d": dt.date(2024, 1, 2),
                              "ts": dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc), "dtm": dt.datetime(2024, 1, 2),
                              "amount": Decimal("1.25"), "ids": [1, 2]})
    as_api = {p.name: p.to_api_repr()["parameterType"] for p in named}
    assert as_api["n"]["type"] == "INT64" and as_api["ok"]["type"] == "BOOL" and as_api["x"]["type"] == "FLOAT64"
    assert as_api["d"]["type"] == "DATE" and as_api["ts"]["type"] == "TIMESTAMP" and as_api["dtm"]["type"] == "DATETIME"
    assert as_api["amount"]["type"] == "NUMERIC" and as_api["ids"] == {"type": "ARRAY", "arrayType": {"type": "INT64"}}
    positional = query_parameters([7, "x"])
    assert [p.name for p in positional] == [None, None] and [p.value for p in positional] == [7, "x"]
    assert parameter_type(b"\x00") == "BYTES"
    with pytest.raises(QueryError, match="cannot bind"):
        query_parameters({"bad": object()})
    with pytest.raises(QueryError, match="mixes types"):
        query_parameters({"mixed": [1, "a"]})


# -- credentials --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [({}, "project_id"), ({"project_id": "p", "maximum_bytes_billed": 0}, "maximum_bytes_billed"),
     ({"project_id": "p", "dataset": "x"}, "dataset")],
)
def test_invalid_bigquery_credentials_name_the_field(fields: dict, bad_field: str) -> None:
    with pytest.raises(CredentialsError) as info:
        parse_credentials({"type": "bigquery", **fields})
    assert bad_field in [e["field"] for e in info.value.details["errors"]]


@pytest.mark.parametrize(
    ("key", "fragment"),
    [("/no/such/key.json", "neither a JSON object nor a readable file path"),
     ('{"type": "service_account", "private_key": "-----BEGIN', "not valid JSON"),
     ({"type": "authorized_user", "client_id": "x"}, "expected a 'service_account' key"),
     ({"type": "service_account", "private_key": "pk-secret-value"}, "lacks client_email, token_uri")],
)
def test_unusable_service_account_keys_are_auth_errors_without_the_key(key: Any, fragment: str) -> None:
    creds = parse_credentials({"type": "bigquery", "project_id": "p", "service_account_key": key})
    with pytest.raises(AuthError) as info:
        google_credentials(creds)  # type: ignore[arg-type]
    assert fragment in info.value.message
    assert "pk-secret-value" not in info.value.message and "BEGIN" not in info.value.message
    assert "pk-secret-value" not in repr(creds)


def test_application_default_credentials_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    key = {"type": "service_account", "project_id": "p", "private_key_id": "k", "private_key": pem,
           "client_email": "adc@p.iam.gserviceaccount.com", "token_uri": "http://127.0.0.1:9/token"}
    path = tmp_path / "adc.json"
    path.write_text(json.dumps(key))
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # never probe a metadata server from a test
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    creds = parse_credentials({"type": "bigquery", "project_id": "p"})
    found = google_credentials(creds)  # type: ignore[arg-type]
    assert found.service_account_email == "adc@p.iam.gserviceaccount.com"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(AuthError, match="no application default credentials"):
        google_credentials(creds)  # type: ignore[arg-type]


class RecordedRestClient(RecordedListing):
    """tables.list / tables.get answers as recorded REST resources (Table.from_api_repr parses them as the client does)."""

    TABLES = {
        "orders": {"tableReference": {"projectId": "p", "datasetId": "shop", "tableId": "orders"}, "type": "TABLE",
                   "description": "One row per order", "numRows": "1200", "numBytes": "99000",
                   "schema": {"fields": [{"name": "id", "type": "INTEGER", "mode": "REQUIRED"},
                                         {"name": "lines", "type": "RECORD", "mode": "REPEATED",
                                          "fields": [{"name": "sku", "type": "STRING"}]}]}},
        "big_orders": {"tableReference": {"projectId": "p", "datasetId": "shop", "tableId": "big_orders"}, "type": "VIEW",
                       "view": {"query": "SELECT * FROM shop.orders WHERE total > 100", "useLegacySql": False},
                       "schema": {"fields": [{"name": "id", "type": "INTEGER"}]}},
    }

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    def list_tables(self, dataset: str, **_: Any) -> list[Any]:
        from google.cloud.bigquery.table import TableListItem

        return [TableListItem({"tableReference": r["tableReference"], "type": r["type"]}) for r in self.TABLES.values()]

    def get_table(self, ref: Any, **_: Any) -> Any:
        self.gets += 1
        return bigquery.Table.from_api_repr(self.TABLES[ref.table_id])


def test_access_denied_on_information_schema_falls_back_to_the_rest_listing() -> None:
    client = RecordedRestClient()
    reader = BigQueryCatalogReader(client=client, run=RecordedBigQuery(denied=True), project="p", default_dataset="shop")
    catalog = reader.read()
    assert reader.used_api_fallback is True and client.gets == 2
    shop = catalog.database("p").schema("shop")
    orders = shop.table("orders")
    assert (orders.row_count, orders.size_bytes, orders.comment) == (1200, 99000, "One row per order")
    assert [(c.name, c.data_type, c.nullable) for c in orders.columns] == [
        ("id", "INT64", False), ("lines", "ARRAY<STRUCT<sku STRING>>", True), ("lines[].sku", "STRING", True)
    ]
    view = shop.table("big_orders")
    assert view.kind == "view" and view.view_definition == "SELECT * FROM shop.orders WHERE total > 100"
    assert catalog.round_trips == 1 + 1 + 2  # the denied query, tables.list, tables.get x2


def test_api_mode_never_touches_information_schema() -> None:
    run = RecordedBigQuery()
    reader = BigQueryCatalogReader(client=RecordedRestClient(), run=run, project="p", default_dataset="shop", source="api")
    assert [t.name for _, _, t in reader.read().iter_tables()] == ["big_orders", "orders"]
    assert run.sent == []

"""Databricks against a real workspace, when one is given (skipped otherwise: no Databricks can run here, and the
connector cannot talk to an open-source Spark Thrift server):

    TEST_DATABRICKS_SERVER_HOSTNAME=adb-....azuredatabricks.net
    TEST_DATABRICKS_HTTP_PATH=/sql/1.0/warehouses/...
    TEST_DATABRICKS_TOKEN=dapi...                      (or TEST_DATABRICKS_CLIENT_ID + TEST_DATABRICKS_CLIENT_SECRET)
    TEST_DATABRICKS_CATALOG=main                        (optional)
"""

from __future__ import annotations

import os
import threading
import time

import pytest

pytest.importorskip("databricks.sql")

from connectors import QueryCanceledError, QueryTimeoutError, ReadOnlyViolation, connect  # noqa: E402

HOST = os.environ.get("TEST_DATABRICKS_SERVER_HOSTNAME")
HTTP_PATH = os.environ.get("TEST_DATABRICKS_HTTP_PATH")
pytestmark = pytest.mark.skipif(
    not (HOST and HTTP_PATH), reason="TEST_DATABRICKS_SERVER_HOSTNAME / TEST_DATABRICKS_HTTP_PATH not set"
)
SLOW_SQL = "SELECT count(*) FROM range(0, 100000000000) a CROSS JOIN range(0, 1000) b"


def _credentials() -> dict[str, object]:
    creds: dict[str, object] = {"type": "databricks", "server_hostname": HOST, "http_path": HTTP_PATH}
    if os.environ.get("TEST_DATABRICKS_TOKEN"):
        creds["access_token"] = os.environ["TEST_DATABRICKS_TOKEN"]
    else:
        creds["client_id"] = os.environ.get("TEST_DATABRICKS_CLIENT_ID")
        creds["client_secret"] = os.environ.get("TEST_DATABRICKS_CLIENT_SECRET")
    if os.environ.get("TEST_DATABRICKS_CATALOG"):
        creds["catalog"] = os.environ["TEST_DATABRICKS_CATALOG"]
    return creds


def test_live_connection_query_and_catalog() -> None:
    with connect(_credentials()) as conn:
        test = conn.test_connection()
        assert test.ok, test.error
        result = conn.query("SELECT id FROM range(0, 100)", max_rows=7)
        assert result.row_count == 7 and result.truncated is True
        catalog_name = os.environ.get("TEST_DATABRICKS_CATALOG")
        from connectors import CatalogFilters

        catalog = conn.introspect(CatalogFilters(include_databases=[catalog_name]) if catalog_name else None)
        assert catalog.round_trips is not None
        with pytest.raises(ReadOnlyViolation):
            conn.query("CREATE TABLE x AS SELECT 1")


def test_live_timeout_and_cancel() -> None:
    with connect(_credentials()) as conn:
        start = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            conn.query(SLOW_SQL, timeout=5)
        assert time.monotonic() - start < 30
        timer = threading.Timer(3.0, conn.cancel)
        timer.start()
        with pytest.raises(QueryCanceledError):
            conn.query(SLOW_SQL, timeout=120)
        timer.join()

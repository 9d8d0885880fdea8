"""SQL Server against a real server, when one is given: `TEST_SQLSERVER_URL=mssql://user:password@host:port/database`
(optional query parameters `encrypt`, `trust_server_certificate`, `driver`, `instance`).

No SQL Server can run on this machine, so these tests skip without the variable (the documented exception to
"tests use the real service"); everything else about the connector is proved in the other test_sqlserver_*.py files.
"""

from __future__ import annotations

import os
import threading
import time
from urllib.parse import parse_qs, unquote, urlparse

import pytest

pytest.importorskip("pyodbc")

from connectors import QueryCanceledError, QueryTimeoutError, ReadOnlyViolation, connect  # noqa: E402

URL = os.environ.get("TEST_SQLSERVER_URL")
pytestmark = pytest.mark.skipif(not URL, reason="TEST_SQLSERVER_URL is not set (no SQL Server on this machine)")
# Slow enough to outlast a 1 s timeout on any server; read-only, so the guard accepts it.
SLOW_SQL = (
    "SELECT COUNT_BIG(*) FROM sys.all_objects a CROSS JOIN sys.all_objects b "
    "CROSS JOIN sys.all_objects c CROSS JOIN sys.all_objects d"
)


def _credentials() -> dict[str, object]:
    url = urlparse(URL or "")
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    creds: dict[str, object] = {
        "type": "sqlserver",
        "host": url.hostname,
        "port": url.port or 1433,
        "database": url.path.lstrip("/") or "master",
        "username": unquote(url.username or ""),
        "password": unquote(url.password or ""),
        "encrypt": query.get("encrypt", "true").lower() == "true",
        "trust_server_certificate": query.get("trust_server_certificate", "false").lower() == "true",
    }
    for key in ("driver", "instance"):
        if key in query:
            creds[key] = query[key]
    return creds


def test_live_connection_query_and_catalog() -> None:
    with connect(_credentials()) as conn:
        test = conn.test_connection()
        assert test.ok, test.error
        result = conn.query("SELECT name FROM sys.all_objects ORDER BY name", max_rows=7)
        assert result.row_count == 7 and result.truncated is True
        catalog = conn.introspect()
        assert catalog.round_trips is not None and catalog.round_trips <= 5
        with pytest.raises(ReadOnlyViolation):
            conn.query("SELECT * INTO #x FROM sys.objects")


def test_live_timeout_and_cancel() -> None:
    with connect(_credentials()) as conn:
        start = time.monotonic()
        with pytest.raises(QueryTimeoutError):
            conn.query(SLOW_SQL, timeout=1)
        assert time.monotonic() - start < 5
        timer = threading.Timer(1.0, conn.cancel)
        timer.start()
        with pytest.raises(QueryCanceledError):
            conn.query(SLOW_SQL, timeout=60)
        timer.join()
        assert conn.query("SELECT 1 AS one").rows == [[1]]

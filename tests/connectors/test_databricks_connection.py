"""Databricks: authentication arguments and the real driver path (databricks-sql-connector over HTTPS/Thrift).

The network tests use the real connector against local HTTPS endpoints (a self-signed certificate made with openssl
for the test, `_tls_no_verify`) that answer every request with one HTTP status, and against a closed port: that is
what a bad token (401), a forbidden workspace (403), a wrong HTTP path (404) and an unreachable host look like to the
driver. Query, catalog and profile behaviour is tested at the cursor boundary in test_databricks_query.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("databricks.sql")

from connectors import AuthError, ConnectorError, NetworkError, NotFoundError, parse_credentials  # noqa: E402
from connectors.databricks.auth import connect_kwargs, server_hostname  # noqa: E402
from connectors.databricks.connection import DatabricksConnector  # noqa: E402

TOKEN = "dapi-rec0rded-T0KEN-5512"
CLIENT_SECRET = "dose-rec0rded-SECRET-7781"


def _pat(**overrides: object):
    data: dict[str, object] = {
        "type": "databricks",
        "server_hostname": "127.0.0.1",
        "http_path": "/sql/1.0/warehouses/abc123",
        "access_token": TOKEN,
        "catalog": "main",
        "schema": "default",
    }
    data.update(overrides)
    return parse_credentials(data)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("openssl is needed to make the test certificate")
        pytest.skip("openssl not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def _https_server(certificate: tuple[Path, Path], status: int) -> tuple[HTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture
def endpoint(certificate: tuple[Path, Path]) -> Iterator:
    servers: list[HTTPServer] = []

    def start(status: int) -> int:
        server, port = _https_server(certificate, status)
        servers.append(server)
        return port

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _connector(port: int, **overrides: object) -> DatabricksConnector:
    return DatabricksConnector(
        _pat(**overrides),
        driver_options={"_port": port, "_tls_no_verify": True, "_retry_stop_after_attempts_count": 1},
    )


# -- the real driver path -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "expected"), [(401, AuthError), (403, AuthError), (404, NotFoundError)])
def test_http_status_from_the_workspace_maps_to_the_right_error(endpoint, status: int, expected: type) -> None:
    conn = _connector(endpoint(status))
    result = conn.test_connection()
    conn.close()
    assert result.ok is False
    assert result.error["type"] == expected.__name__
    assert result.error["details"]["http_code"] == status
    assert result.error["retryable"] is False


def test_unreachable_host_is_a_retryable_network_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with _connector(port) as conn:
        with pytest.raises(NetworkError) as info:
            conn.query("SELECT 1")
    assert info.value.retryable is True


def test_refused_statement_fails_before_the_session_opens(endpoint) -> None:
    from connectors import ReadOnlyViolation

    conn = _connector(endpoint(401))
    with pytest.raises(ReadOnlyViolation):
        conn.query("COPY INTO events FROM 's3://bucket/x' FILEFORMAT = CSV")
    assert conn._conn is None
    conn.close()


def test_token_never_appears_in_errors_logs_or_reprs(endpoint, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the connector's own debug logging included
    conn = _connector(endpoint(401))
    result = conn.test_connection()
    with pytest.raises(ConnectorError) as info:
        conn.query("SELECT 1")
    conn.close()
    for text in (
        caplog.text,
        json.dumps(result.model_dump(mode="json")),
        repr(info.value),
        json.dumps(info.value.to_dict()),
        repr(conn.credentials),
        json.dumps(conn.credentials.safe_dict()),
    ):
        assert TOKEN not in text and "T0KEN" not in text


# -- authentication arguments ----------------------------------------------------------------------------------------
def test_personal_access_token_goes_to_connect_as_access_token() -> None:
    kwargs = connect_kwargs(_pat())
    assert kwargs["access_token"] == TOKEN
    assert kwargs["server_hostname"] == "127.0.0.1" and kwargs["http_path"] == "/sql/1.0/warehouses/abc123"
    assert kwargs["catalog"] == "main" and kwargs["schema"] == "default"
    assert kwargs["enable_telemetry"] is False
    assert "credentials_provider" not in kwargs


def test_workspace_url_is_accepted_as_server_hostname() -> None:
    assert server_hostname(_pat(server_hostname="https://adb-123.4.azuredatabricks.net/")) == "adb-123.4.azuredatabricks.net"


def test_oauth_m2m_builds_a_service_principal_credentials_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    sdk_core = pytest.importorskip("databricks.sdk.core")  # OAuth M2M needs databricks-sdk beside the connector

    seen = {}

    def fake_oauth_service_principal(config):  # records what the SDK would be given; no network
        seen["host"], seen["client_id"], seen["client_secret"] = config.host, config.client_id, config.client_secret
        return lambda: {"Authorization": "Bearer recorded"}

    class RecordedConfig:  # the real Config resolves the workspace over the network on construction
        def __init__(self, host: str, client_id: str, client_secret: str) -> None:
            self.host, self.client_id, self.client_secret = host, client_id, client_secret

    monkeypatch.setattr(sdk_core, "oauth_service_principal", fake_oauth_service_principal)
    monkeypatch.setattr(sdk_core, "Config", RecordedConfig)
    creds = parse_credentials(
        {
            "type": "databricks",
            "server_hostname": "adb-123.4.azuredatabricks.net",
            "http_path": "/sql/1.0/warehouses/abc123",
            "client_id": "6f1e-sp",
            "client_secret": CLIENT_SECRET,
        }
    )
    kwargs = connect_kwargs(creds)
    assert "access_token" not in kwargs
    header_factory = kwargs["credentials_provider"]()
    assert header_factory() == {"Authorization": "Bearer recorded"}
    assert seen == {"host": "https://adb-123.4.azuredatabricks.net", "client_id": "6f1e-sp", "client_secret": CLIENT_SECRET}
    assert CLIENT_SECRET not in repr(creds)


def test_credentials_need_one_authentication_method() -> None:
    from connectors import CredentialsError

    base = {"type": "databricks", "server_hostname": "h", "http_path": "/p"}
    with pytest.raises(CredentialsError):
        parse_credentials(base)
    with pytest.raises(CredentialsError) as info:
        parse_credentials({**base, "access_token": TOKEN, "client_id": "x", "client_secret": CLIENT_SECRET})
    assert TOKEN not in str(info.value) and CLIENT_SECRET not in str(info.value)


# -- without the driver ----------------------------------------------------------------------------------------------
def test_without_the_connector_package_connectors_imports_and_connect_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['databricks'] = None\n"
        "sys.modules['databricks.sql'] = None\n"
        "import connectors\n"
        "try:\n"
        "    connectors.connect({'type': 'databricks', 'server_hostname': 'h', 'http_path': '/p', 'access_token': 't'})\n"
        "except connectors.MissingDriverError as exc:\n"
        "    print(exc.extra, '|', exc.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    extra, message = out.stdout.strip().split(" | ")
    assert extra == "databricks" and "analyst-taskpack[databricks]" in message

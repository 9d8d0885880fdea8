"""SQL Server: driver choice, connection strings, and the real driver path through FreeTDS.

No SQL Server runs here, so the network-facing tests use the real stack (pyodbc -> unixODBC -> FreeTDS -> TCP) against
local sockets that refuse, accept-and-close, or accept-and-stay-silent, which is what a down, broken or unreachable
server looks like to the driver. They need the FreeTDS ODBC driver (`.ci/setup-sqlserver.sh`) and fail under CI=true
when it is missing. Live tests against a real server are in test_sqlserver_live.py (TEST_SQLSERVER_URL).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Iterator

import pytest

pyodbc = pytest.importorskip("pyodbc")

from connectors import ConnectorError, MissingDriverError, NetworkError, connect, parse_credentials  # noqa: E402
from connectors.sqlserver.odbc import (  # noqa: E402
    MissingODBCDriverError,
    build_connection_string,
    choose_driver,
    odbc_value,
)

PASSWORD = "Tds;Secret}pw-8842"


def _require_freetds() -> None:
    if "FreeTDS" in pyodbc.drivers():
        return
    message = "the FreeTDS ODBC driver is not registered (run .ci/setup-sqlserver.sh)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _creds(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "sqlserver",
        "host": "127.0.0.1",
        "port": 1433,
        "database": "spider",
        "username": "analyst",
        "password": PASSWORD,
        "connect_timeout": 2,
    }
    base.update(overrides)
    return base


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung server or a black-holing firewall)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    yield srv.getsockname()[1]
    srv.close()


@pytest.fixture
def hangup_server() -> Iterator[int]:
    """A TCP port that accepts and immediately closes (something that is not SQL Server, or a dying one)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join(2)
    srv.close()


# -- driver choice -------------------------------------------------------------------------------------------------
def test_microsoft_driver_is_preferred_over_freetds() -> None:
    installed = ["FreeTDS", "ODBC Driver 17 for SQL Server", "ODBC Driver 18 for SQL Server", "PostgreSQL Unicode"]
    assert choose_driver(installed) == "ODBC Driver 18 for SQL Server"
    assert choose_driver(["FreeTDS", "ODBC Driver 17 for SQL Server"]) == "ODBC Driver 17 for SQL Server"
    assert choose_driver(["PostgreSQL Unicode", "FreeTDS"]) == "FreeTDS"
    assert choose_driver(["SQL Server Native Client 11.0"]) == "SQL Server Native Client 11.0"


def test_no_sql_server_driver_is_a_clear_error() -> None:
    with pytest.raises(MissingODBCDriverError) as info:
        choose_driver(["PostgreSQL Unicode", "MySQL ODBC 8.0"])
    assert "tdsodbc" in info.value.message and "ODBC Driver 18" in info.value.message
    assert info.value.details["installed"] == ["PostgreSQL Unicode", "MySQL ODBC 8.0"]
    with pytest.raises(MissingODBCDriverError) as info:
        choose_driver([])
    assert info.value.details["installed"] == []


def test_requested_driver_must_be_installed() -> None:
    assert choose_driver(["FreeTDS"], requested="FreeTDS") == "FreeTDS"
    with pytest.raises(MissingODBCDriverError, match="ODBC Driver 18 for SQL Server"):
        choose_driver(["FreeTDS"], requested="ODBC Driver 18 for SQL Server")


def test_connector_reports_a_missing_requested_driver_without_touching_the_network() -> None:
    with connect(_creds(driver="ODBC Driver 99 for SQL Server")) as conn:
        result = conn.test_connection()
    assert result.ok is False
    assert result.error["code"] == "missing_odbc_driver"
    assert "ODBC Driver 99" in result.error["message"]


# -- connection strings --------------------------------------------------------------------------------------------
def test_microsoft_connection_string_carries_every_setting() -> None:
    creds = parse_credentials(_creds(port=14330, encrypt=True, trust_server_certificate=True))
    cs = build_connection_string(creds, "ODBC Driver 18 for SQL Server")
    rendered = cs.render()
    assert rendered.startswith("DRIVER=ODBC Driver 18 for SQL Server;Server=tcp:127.0.0.1,14330;Database=spider;")
    for part in ("UID=analyst;", "Encrypt=yes;", "TrustServerCertificate=yes;", "ApplicationIntent=ReadOnly;"):
        assert part in rendered
    assert cs.tls_verified is False  # the certificate is trusted blindly
    strict = build_connection_string(parse_credentials(_creds(encrypt=True)), "ODBC Driver 18 for SQL Server")
    assert "TrustServerCertificate=no;" in strict.render() and strict.tls_verified is True


def test_named_instance_goes_through_sql_browser_unless_a_port_is_given() -> None:
    creds = {k: v for k, v in _creds(instance="SQLEXPRESS").items() if k != "port"}
    ms = build_connection_string(parse_credentials(creds), "ODBC Driver 18 for SQL Server").render()
    assert "Server=127.0.0.1\\SQLEXPRESS;" in ms
    tds = build_connection_string(parse_credentials(creds), "FreeTDS").render()
    assert "Server=127.0.0.1\\SQLEXPRESS;" in tds and "Port=" not in tds
    with_port = build_connection_string(parse_credentials(_creds(instance="SQLEXPRESS", port=15000)), "FreeTDS").render()
    assert "Server=127.0.0.1;Port=15000;" in with_port  # FreeTDS takes a port or an instance: the explicit port wins


def test_freetds_connection_string_uses_freetds_spellings() -> None:
    cs = build_connection_string(parse_credentials(_creds(encrypt=False)), "FreeTDS")
    rendered = cs.render()
    for part in ("Server=127.0.0.1;Port=1433;", "TDS_Version=7.4;", "Encryption=request;", "ApplicationIntent=ReadOnly;"):
        assert part in rendered
    assert "Encrypt=" not in rendered and "TrustServerCertificate" not in rendered
    assert cs.tls_verified is False
    assert "Encryption=require;" in build_connection_string(parse_credentials(_creds(encrypt=True)), "FreeTDS").render()


def test_values_with_separators_are_braced_so_they_cannot_inject_keywords() -> None:
    assert odbc_value("plain") == "plain"
    assert odbc_value("a;b") == "{a;b}"
    assert odbc_value("x}y") == "{x}}y}"
    assert odbc_value(" padded ") == "{ padded }"
    rendered = build_connection_string(parse_credentials(_creds()), "FreeTDS").render()
    assert rendered.endswith("PWD={Tds;Secret}}pw-8842};")


def test_password_stays_out_of_repr_and_redacted_string() -> None:
    cs = build_connection_string(parse_credentials(_creds()), "FreeTDS")
    assert PASSWORD not in repr(cs)
    assert "pw-8842" not in cs.redacted() and "PWD=**********;" in cs.redacted()


# -- the real driver path -------------------------------------------------------------------------------------------
def test_closed_port_gives_a_retryable_network_error_through_freetds() -> None:
    _require_freetds()
    with connect(_creds(port=_closed_port())) as conn:
        result = conn.test_connection()
        assert result.ok is False
        assert result.error["type"] == "NetworkError" and result.error["retryable"] is True
        assert result.error["details"]["sqlstate"] in ("08S01", "08001")
        with pytest.raises(NetworkError):
            conn.query("SELECT 1")


def test_silent_server_times_out_as_a_network_error_within_the_connect_timeout(silent_server: int) -> None:
    _require_freetds()
    start = time.monotonic()
    with connect(_creds(port=silent_server, connect_timeout=1)) as conn:
        result = conn.test_connection()
    elapsed = time.monotonic() - start
    assert result.ok is False and result.error["type"] == "NetworkError"
    assert result.error["details"]["sqlstate"] == "HYT00"
    assert elapsed < 5


def test_server_that_hangs_up_gives_a_network_error(hangup_server: int) -> None:
    _require_freetds()
    with connect(_creds(port=hangup_server)) as conn:
        with pytest.raises(NetworkError) as info:
            conn.query("SELECT 1")
    assert info.value.retryable is True


def test_a_refused_statement_fails_before_any_connection_attempt(silent_server: int) -> None:
    _require_freetds()
    from connectors import ReadOnlyViolation

    with connect(_creds(port=silent_server, connect_timeout=5)) as conn:
        start = time.monotonic()
        with pytest.raises(ReadOnlyViolation):
            conn.query("DELETE FROM singer")
        assert time.monotonic() - start < 0.5  # no 5 s login attempt: the guard answered first
        assert conn._conn is None


def test_password_never_appears_in_errors_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    _require_freetds()
    caplog.set_level(logging.DEBUG)
    creds = _creds(port=_closed_port())
    conn = connect(creds)
    result = conn.test_connection()
    with pytest.raises(ConnectorError) as info:
        conn.query("SELECT 1")
    conn.close()
    seen = [
        caplog.text,
        json.dumps(result.model_dump(mode="json")),
        repr(info.value),
        str(info.value),
        json.dumps(info.value.to_dict()),
        repr(conn.credentials),
        json.dumps(conn.credentials.safe_dict()),
        repr(conn.connection_string()),
    ]
    for text in seen:
        assert PASSWORD not in text and "pw-8842" not in text


def test_close_is_idempotent_and_a_closed_connector_refuses_work() -> None:
    conn = connect(_creds(port=_closed_port()))
    conn.close()
    conn.close()
    assert conn.closed
    with pytest.raises(ConnectorError) as info:
        conn.query("SELECT 1")
    assert info.value.code == "connector_closed"


# -- without the driver ----------------------------------------------------------------------------------------------
def test_without_pyodbc_connectors_imports_and_connect_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['pyodbc'] = None\n"  # makes `import pyodbc` raise ImportError
        "import connectors\n"
        "try:\n"
        "    connectors.connect({'type': 'sqlserver', 'host': 'h', 'database': 'd', 'username': 'u', 'password': 'p'})\n"
        "except connectors.MissingDriverError as exc:\n"
        "    print(exc.extra, '|', exc.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    extra, message = out.stdout.strip().split(" | ")
    assert extra == "sqlserver"
    assert "analyst-taskpack[sqlserver]" in message and "pyodbc" in message


def test_missing_driver_error_class_is_exported() -> None:
    assert issubclass(MissingDriverError, ConnectorError)

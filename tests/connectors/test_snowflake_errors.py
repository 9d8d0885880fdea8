"""Snowflake error classification.

fakesnow accepts any password and never times out or cancels, so most classes are tested against *recorded driver
behaviour*: the exceptions snowflake-connector-python raises (class, errno, sqlstate and message as documented by
Snowflake and seen in the driver's `errorcode.py` / `network.py` / `auth/_auth.py`). The login failure is replayed
through the real driver: a loopback HTTP endpoint answers the login request with Snowflake's recorded 390100 body,
and the driver's own auth code raises what it raises against Snowflake. A closed port is tested for real.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator

import pytest

pytest.importorskip("snowflake.connector")
from snowflake.connector import errors as sf  # noqa: E402

from connectors import (  # noqa: E402
    AuthError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    connect,
)
from connectors.snowflake.errors import map_error  # noqa: E402
from connectors.snowflake.pool import WarmPool  # noqa: E402
from connectors.snowflake.connection import SnowflakeConnector  # noqa: E402
from connectors.credentials import parse_credentials  # noqa: E402

SECRET = "S3cret-pw-for-errors-662"


@pytest.mark.parametrize(
    ("exc", "expected", "retryable"),
    [
        # login: Snowflake code 390100, the driver sets SQLSTATE 28000 for credential rejections
        (sf.DatabaseError(msg="Failed to connect to DB: acct.snowflakecomputing.com:443. Incorrect username or password was specified.", errno=390100, sqlstate="28000"), AuthError, False),
        (sf.DatabaseError(msg="JWT token is invalid.", errno=390144, sqlstate="28000"), AuthError, False),
        (sf.ProgrammingError(msg="Invalid OAuth access token.", errno=390303, sqlstate="08001"), AuthError, False),
        (sf.DatabaseError(msg="Failed to connect to DB", errno=250001, sqlstate="08001"), AuthError, False),
        # the socket never reached Snowflake (recorded against a closed port)
        (sf.OperationalError(msg="250001: Could not connect to Snowflake backend after 2 attempt(s).Aborting", errno=250001), NetworkError, True),
        (sf.OperationalError(msg="Failed to execute request: HTTPSConnectionPool(...)", errno=250003), NetworkError, True),
        (sf.ServiceUnavailableError(msg="503 Service Unavailable"), NetworkError, True),
        (sf.ProgrammingError(msg="SQL compilation error:\nObject 'DB.S.NOPE' does not exist or not authorized.", errno=2003, sqlstate="42S02"), NotFoundError, False),
        (sf.ProgrammingError(msg="SQL access control error:\nInsufficient privileges to operate on table 'T'", errno=3001, sqlstate="42501"), PermissionDeniedError, False),
        (sf.ForbiddenError(msg="403 Forbidden"), PermissionDeniedError, False),
        (sf.ProgrammingError(msg="Statement reached its statement or warehouse timeout of 1 second(s) and was canceled.", errno=630, sqlstate="57014"), QueryTimeoutError, False),
        (sf.ProgrammingError(msg="SQL compilation error:\nsyntax error line 1 at position 0 unexpected 'selec'.", errno=1003, sqlstate="42000"), QueryError, False),
        (sf.ProgrammingError(msg="Numeric value 'abc' is not recognized", errno=100038, sqlstate="22018"), QueryError, False),
    ],
)
def test_driver_exceptions_map_by_errno_and_sqlstate(exc: Exception, expected: type, retryable: bool) -> None:
    error = map_error(exc, secrets=[SECRET])
    assert type(error) is expected
    assert error.retryable is retryable
    assert error.details["driver_error"] == type(exc).__name__


def test_canceled_statement_is_a_cancel_when_we_asked_and_a_timeout_otherwise() -> None:
    exc = sf.ProgrammingError(msg="SQL execution canceled", errno=604, sqlstate="57014", sfqid="01b2-q")
    assert type(map_error(exc, secrets=[], canceled=True)) is QueryCanceledError
    timeout = map_error(exc, secrets=[], canceled=False, timed_out=True, timeout_s=5)
    assert type(timeout) is QueryTimeoutError and "5 s" in timeout.message
    assert timeout.details["query_id"] == "01b2-q"


def test_a_secret_echoed_by_the_driver_is_redacted() -> None:
    exc = sf.ProgrammingError(msg=f"bad literal '{SECRET}'", errno=1003, sqlstate="42000")
    error = map_error(exc, secrets=[SECRET])
    assert SECRET not in error.message and "**********" in error.message


# -- through the real driver ------------------------------------------------------------------------------------------

LOGIN_REJECTED = {"data": None, "code": "390100", "message": "Incorrect username or password was specified.", "success": False, "headers": None}


@pytest.fixture()
def rejecting_login_endpoint() -> Iterator[int]:
    """Loopback HTTP endpoint answering every request with Snowflake's recorded 390100 login rejection."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps(LOGIN_REJECTED).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _creds(port: int) -> dict:
    return {"type": "snowflake", "account": "acct", "username": "ANALYST", "password": SECRET,
            "host": "127.0.0.1", "port": port, "protocol": "http"}


def test_wrong_password_is_a_non_retryable_auth_error_in_the_connection_test(rejecting_login_endpoint: int) -> None:
    with SnowflakeConnector(parse_credentials(_creds(rejecting_login_endpoint)), pool=WarmPool()) as conn:  # type: ignore[arg-type]
        result = conn.test_connection()
    assert result.ok is False
    assert result.error is not None
    assert result.error["type"] == "AuthError" and result.error["retryable"] is False
    assert result.error["details"]["errno"] == 390100
    assert SECRET not in json.dumps(result.error)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_closed_port_is_a_retryable_network_error() -> None:
    with connect(_creds(_closed_port())) as conn:
        result = conn.test_connection()
        with pytest.raises(NetworkError) as info:
            conn.query("SELECT 1")
    assert result.ok is False and result.error is not None
    assert result.error["type"] == "NetworkError" and result.error["retryable"] is True
    assert info.value.retryable is True and SECRET not in str(info.value)

"""MySQL/MariaDB failures become the right ConnectorError, and the password never shows anywhere.

The server-side cases run against the real MariaDB. MySQL-only error numbers (3024, MySQL's statement timeout) cannot
be produced here: those cases build the exception exactly as PyMySQL raises it for that server packet
(`OperationalError(errno, message)`, recorded from PyMySQL's `err.raise_mysql_exception` mapping).
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import pymysql
import pytest

from connectors import (
    AuthError,
    ConnectorError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    QueryCanceledError,
    QueryError,
    QueryTimeoutError,
    connect,
)
from connectors.mysql.errors import map_error
from tests.connectors.mysql_support import (  # noqa: F401 - fixtures
    SLOW_MYSQL_QUERY,
    TEST_PASSWORD,
    mysql_admin,
    mysql_tester,
    running_statements,
    spider_mysql,
    suite_processes,
    wait_for_connections,
)

pytestmark = pytest.mark.mysql


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raise(credentials: dict[str, Any], sql: str = "SELECT 1", **kwargs: Any) -> ConnectorError:
    with pytest.raises(ConnectorError) as info:
        with connect(credentials) as conn:
            conn.query(sql, **kwargs)
    return info.value


def test_wrong_password_is_an_auth_error_not_retryable(mysql_tester):
    error = _raise({**mysql_tester, "password": "definitely-wrong"})
    assert isinstance(error, AuthError) and not error.retryable
    assert error.details["mysql_errno"] == 1045


def test_wrong_password_in_test_connection_lands_in_error(mysql_tester):
    with connect({**mysql_tester, "password": "definitely-wrong"}) as conn:
        result = conn.test_connection()
    assert not result.ok and result.error["type"] == "AuthError" and result.error["retryable"] is False


def test_closed_port_is_a_retryable_network_error(mysql_tester):
    error = _raise({**mysql_tester, "port": _closed_port(), "connect_timeout": 2})
    assert isinstance(error, NetworkError) and error.retryable
    assert error.details["mysql_errno"] == 2003


def test_missing_database_is_not_found(mysql_tester):
    error = _raise({**mysql_tester, "database": "cmy_no_such_database"})
    # the tester may not see a database it has no grant on, so MariaDB may answer 1044 instead of 1049
    assert isinstance(error, (NotFoundError, PermissionDeniedError))


def test_missing_database_as_root_is_not_found(mysql_url, mysql_admin):
    from tests.connectors.mysql_support import _url_parts

    parts = _url_parts(mysql_url)
    error = _raise({"type": "mysql", "host": parts["host"], "port": parts["port"], "username": parts["user"], "database": "cmy_no_such_database"})
    assert isinstance(error, NotFoundError) and not error.retryable
    assert error.details["mysql_errno"] == 1049


def test_reading_a_table_without_grant_is_permission_denied(mysql_tester, spider_mysql):
    error = _raise(mysql_tester, "SELECT User FROM mysql.user")
    assert isinstance(error, PermissionDeniedError)
    assert error.details["mysql_errno"] == 1142


def test_syntax_error_is_a_query_error(mysql_tester, spider_mysql):
    error = _raise(mysql_tester, "SELECT * FROM cars_data WHERE Id = 1 ORDER BY")
    assert isinstance(error, QueryError)


@pytest.mark.parametrize(
    ("errno", "expected", "retryable"),
    [
        (1045, AuthError, False),
        (2003, NetworkError, True),
        (2006, NetworkError, True),
        (2013, NetworkError, True),
        (1049, NotFoundError, False),
        (1044, PermissionDeniedError, False),
        (1142, PermissionDeniedError, False),
        (1227, PermissionDeniedError, False),
        (1969, QueryTimeoutError, False),
        (3024, QueryTimeoutError, False),  # MySQL's max_execution_time
        (1213, QueryError, True),  # deadlock: trying again can help
        (1064, QueryError, False),
    ],
)
def test_error_numbers_map_to_classes(errno, expected, retryable):
    error = map_error(pymysql.err.OperationalError(errno, "server says no"), secrets=[])
    assert type(error) is expected
    assert error.retryable is retryable
    assert error.details["mysql_errno"] == errno


def test_interrupted_means_cancel_or_timeout_only_when_the_connector_did_it():
    interrupted = pymysql.err.OperationalError(1317, "Query execution was interrupted")
    assert type(map_error(interrupted, secrets=[], canceled=True)) is QueryCanceledError
    assert type(map_error(interrupted, secrets=[], timed_out=True)) is QueryTimeoutError
    other = map_error(interrupted, secrets=[])
    assert type(other) is QueryError and other.code == "query_interrupted"


def test_closed_connection_interface_error_is_network():
    error = map_error(pymysql.err.InterfaceError(0, ""), secrets=[])
    assert isinstance(error, NetworkError) and error.retryable


def test_scrub_removes_a_password_a_message_might_carry():
    error = map_error(pymysql.err.OperationalError(1064, "near 'hunter2-secret'"), secrets=["hunter2-secret"])
    assert "hunter2-secret" not in error.message and "***" in error.message


def test_password_never_appears_in_logs_errors_or_reprs(mysql_tester, mysql_admin, spider_mysql, caplog):
    """Every failure path with the real password in the credentials; then scan everything that came out."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def collect(error: BaseException) -> None:
        texts.extend([str(error), repr(error)])
        if isinstance(error, ConnectorError):
            texts.append(str(error.to_dict()))
        cause = error.__cause__ or error.__context__
        if cause is not None:
            texts.extend([str(cause), repr(cause)])

    wrong_database = {**mysql_tester, "database": "cmy_no_such_database"}
    for credentials, sql, kwargs in (
        (mysql_tester, "SELECT * FROM no_such_table", {}),
        (mysql_tester, SLOW_MYSQL_QUERY, {"timeout": 0.5}),
        (mysql_tester, "SELECT User FROM mysql.user", {}),
        (mysql_tester, "DELETE FROM cars_data", {}),
        (mysql_tester, "SELECT %s", {"params": [TEST_PASSWORD]}),  # the password as data is fine in the result...
        ({**mysql_tester, "port": _closed_port(), "connect_timeout": 2}, "SELECT 1", {}),
        (wrong_database, "SELECT 1", {}),
    ):
        with connect(credentials) as conn:
            texts.extend([repr(conn.credentials), str(conn.credentials.safe_dict())])
            try:
                result = conn.query(sql, **kwargs)
            except Exception as error:  # noqa: BLE001 - every failure is scanned
                collect(error)
            else:
                assert result.rows == [[TEST_PASSWORD]]  # ...but it must not be logged
            texts.append(conn.test_connection().model_dump_json())
    with connect(mysql_tester) as conn:
        threading.Timer(0.3, conn.cancel).start()
        try:
            conn.query("SELECT SLEEP(5)")
        except Exception as error:  # noqa: BLE001
            collect(error)
    texts.append(caplog.text)
    texts.extend(str(record.__dict__) for record in caplog.records)
    assert len(texts) > 20
    leaks = [t for t in texts if TEST_PASSWORD in t]
    assert leaks == []


def test_connections_are_closed_after_failures(mysql_tester, mysql_admin, spider_mysql):
    baseline = wait_for_connections(mysql_admin, len(suite_processes(mysql_admin)))
    for credentials in ({**mysql_tester, "password": "wrong"}, {**mysql_tester, "database": "cmy_no_such_database"}):
        with pytest.raises(ConnectorError):
            with connect(credentials) as conn:
                conn.query("SELECT 1")
    with pytest.raises(PermissionDeniedError):
        with connect(mysql_tester) as conn:
            conn.query("SELECT User FROM mysql.user")
    assert wait_for_connections(mysql_admin, baseline) == baseline
    assert running_statements(mysql_admin) == []


def _server_has_tls(admin: pymysql.Connection) -> bool:
    with admin.cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES LIKE 'have_ssl'")
        row = cur.fetchone()
    return bool(row) and row[1] == "YES"


@pytest.mark.parametrize("mode", ["required", "verify_ca"])
def test_tls_modes_refuse_a_plain_connection(mode, mysql_tester, mysql_admin, spider_mysql):
    if _server_has_tls(mysql_admin):
        pytest.skip("the server offers TLS here; this test proves the refusal on a server without it")
    error = _raise({**mysql_tester, "ssl_mode": mode})
    assert isinstance(error, NetworkError) and error.code == "ssl_error" and not error.retryable


@pytest.mark.parametrize("mode", ["disabled", "preferred"])
def test_plain_and_opportunistic_tls_modes_connect(mode, mysql_tester, spider_mysql):
    with connect({**mysql_tester, "ssl_mode": mode}) as conn:
        cipher = conn.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'").rows[0][1]
    if mode == "disabled":
        assert cipher == ""


def test_close_from_another_thread_stops_the_running_query(mysql_tester, mysql_admin, spider_mysql):
    baseline = wait_for_connections(mysql_admin, len(suite_processes(mysql_admin)))
    conn = connect(mysql_tester)
    threading.Timer(0.5, conn.close).start()
    with pytest.raises(QueryCanceledError):
        conn.query("SELECT SLEEP(30)")
    assert conn.closed
    assert running_statements(mysql_admin) == []
    assert wait_for_connections(mysql_admin, baseline) == baseline

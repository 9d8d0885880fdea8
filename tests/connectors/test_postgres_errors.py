"""PostgreSQL failures classified into the connector error hierarchy, and the password never leaking.

The shared server trusts every local connection (pg_hba.conf: `trust`), so a wrong password cannot fail there. The
wrong-password tests run against a throwaway cluster started with `initdb -A scram-sha-256` (fixture `scram_server`),
which checks passwords for real; the NOLOGIN-role test shows the 28000 path on the shared server itself.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any, Iterator

import psycopg
import pytest

from connectors import AuthError, NetworkError, NotFoundError, PermissionDeniedError, connect, parse_credentials
from connectors.credentials import PostgresCredentials
from connectors.errors import ConnectorError
from connectors.postgres import PostgresConnector
from connectors.postgres.errors import map_connect_error, map_query_error
from tests.connectors.postgres_fixtures import (  # noqa: F401  (fixtures)
    SLOW_PG_QUERY,
    admin_connection,
    credentials_from_url,
    pg_credentials,
    scram_server,
    unique_app_name,
)

pytestmark = pytest.mark.postgres

WRONG_PASSWORD = "cpg-Wr0ng-Passw0rd-7f3a9c"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def _everything_said(error: ConnectorError) -> str:
    return " ".join([str(error), repr(error), error.message, json.dumps(error.to_dict(), default=str)])


def test_right_password_connects_to_the_scram_server(scram_server: dict[str, Any]) -> None:
    """The control for the wrong-password test: the same server accepts the right password."""
    with connect({"type": "postgres", "ssl_mode": "disable", **scram_server}) as conn:
        assert conn.query("SELECT current_user AS u").rows == [["cpg_owner"]]


def test_wrong_password_is_an_auth_error_not_retryable(scram_server: dict[str, Any]) -> None:
    creds = parse_credentials({"type": "postgres", "ssl_mode": "disable", **scram_server, "password": WRONG_PASSWORD})
    with connect(creds) as conn:
        with pytest.raises(AuthError) as excinfo:
            conn.query("SELECT 1")
        result = conn.test_connection()
    error = excinfo.value
    assert error.retryable is False and error.code == "auth_failed"
    assert "password authentication failed" in error.message
    assert WRONG_PASSWORD not in _everything_said(error)
    assert result.ok is False and result.error is not None and result.error["code"] == "auth_failed"
    assert WRONG_PASSWORD not in json.dumps(result.model_dump(mode="json"))


def test_missing_password_is_an_auth_error(scram_server: dict[str, Any]) -> None:
    creds = {k: v for k, v in scram_server.items() if k != "password"}
    with connect({"type": "postgres", "ssl_mode": "disable", **creds}) as conn:
        with pytest.raises(AuthError):
            conn.query("SELECT 1")


@pytest.fixture
def nologin_role(postgres_url: str) -> Iterator[str]:
    admin = admin_connection(postgres_url)
    admin.execute("DROP ROLE IF EXISTS cpg_nologin")
    admin.execute("CREATE ROLE cpg_nologin NOLOGIN")
    try:
        yield "cpg_nologin"
    finally:
        admin.execute("DROP ROLE IF EXISTS cpg_nologin")
        admin.close()


def test_role_that_may_not_log_in_is_an_auth_error(nologin_role: str, postgres_url: str) -> None:
    creds = credentials_from_url(postgres_url, username=nologin_role, password=WRONG_PASSWORD)
    with connect(creds) as conn:
        with pytest.raises(AuthError) as excinfo:
            conn.query("SELECT 1")
    assert excinfo.value.retryable is False
    assert "not permitted to log in" in excinfo.value.message
    assert WRONG_PASSWORD not in _everything_said(excinfo.value)


def test_unknown_role_is_an_auth_error(postgres_url: str) -> None:
    creds = credentials_from_url(postgres_url, username="cpg_nobody_by_this_name")
    with connect(creds) as conn:
        assert conn.test_connection().error["code"] == "auth_failed"  # type: ignore[index]


def test_closed_port_is_a_retryable_network_error(postgres_url: str) -> None:
    creds = credentials_from_url(postgres_url, port=_closed_port(), password=WRONG_PASSWORD)
    with connect(creds) as conn:
        with pytest.raises(NetworkError) as excinfo:
            conn.query("SELECT 1")
    assert excinfo.value.retryable is True and excinfo.value.code == "network_error"
    assert "Connection refused" in excinfo.value.message
    assert WRONG_PASSWORD not in _everything_said(excinfo.value)


def test_missing_database_is_not_found(postgres_url: str) -> None:
    creds = credentials_from_url(postgres_url, database="cpg_no_such_database")
    with connect(creds) as conn:
        with pytest.raises(NotFoundError) as excinfo:
            conn.introspect()
    assert excinfo.value.retryable is False and "cpg_no_such_database" in excinfo.value.message


def test_tls_required_by_client_but_not_offered_is_not_retryable(postgres_url: str) -> None:
    with connect(credentials_from_url(postgres_url, ssl_mode="require")) as conn:
        result = conn.test_connection()
    assert result.ok is False and result.error is not None
    assert result.error["type"] == "NetworkError" and result.error["retryable"] is False


@pytest.fixture
def limited_role(postgres_url: str) -> Iterator[str]:
    admin = admin_connection(postgres_url)
    for sql in [
        "DROP TABLE IF EXISTS public.cpg_secret_table",
        "DROP ROLE IF EXISTS cpg_limited",
        "CREATE ROLE cpg_limited LOGIN",
        "CREATE TABLE public.cpg_secret_table (a int)",
        "REVOKE ALL ON public.cpg_secret_table FROM PUBLIC",
    ]:
        admin.execute(sql)
    try:
        yield "cpg_limited"
    finally:
        admin.execute("DROP TABLE IF EXISTS public.cpg_secret_table")
        admin.execute("DROP ROLE IF EXISTS cpg_limited")
        admin.close()


def test_insufficient_privilege_is_permission_denied(limited_role: str, postgres_url: str) -> None:
    with connect(credentials_from_url(postgres_url, username=limited_role)) as conn:
        with pytest.raises(PermissionDeniedError) as excinfo:
            conn.query("SELECT * FROM public.cpg_secret_table")
        assert excinfo.value.details["sqlstate"] == "42501"
        assert conn.query("SELECT 1 AS still_fine").rows == [[1]]


def test_sqlstate_classes_map_to_the_hierarchy(pg_credentials: PostgresCredentials) -> None:
    """Real server errors (not constructed ones) through the mapper, by SQLSTATE."""
    with psycopg.connect(
        host=pg_credentials.host, port=pg_credentials.port, dbname=pg_credentials.database, user=pg_credentials.username,
        autocommit=True,
    ) as raw:
        def fail(sql: str) -> psycopg.Error:
            try:
                raw.execute(sql)
            except psycopg.Error as exc:
                return exc
            raise AssertionError(f"{sql} did not fail")

        syntax = map_query_error(fail("SELEC 1"), source="PostgreSQL", secrets=[])
        assert type(syntax).__name__ == "QueryError" and syntax.details["sqlstate"] == "42601" and not syntax.retryable
        terminated = map_query_error(
            fail("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '57P01', MESSAGE = 'admin shutdown'; END $$"),
            source="PostgreSQL", secrets=[],
        )
        assert isinstance(terminated, NetworkError) and terminated.retryable
        busy = map_query_error(
            fail("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'serialization'; END $$"),
            source="PostgreSQL", secrets=[],
        )
        assert busy.retryable and busy.code == "query_error"


def test_connect_error_mapping_redacts_a_password_echoed_by_the_driver() -> None:
    """No libpq message contains the password; if one ever did, the mapper masks it."""
    leaked = psycopg.OperationalError(f'connection failed: FATAL:  password authentication failed for user "x" ({WRONG_PASSWORD})')
    error = map_connect_error(leaked, source="PostgreSQL", secrets=[WRONG_PASSWORD])
    assert isinstance(error, AuthError)
    assert WRONG_PASSWORD not in _everything_said(error) and "**********" in error.message


def test_password_never_appears_in_logs_errors_or_reprs(
    scram_server: dict[str, Any], postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, psycopg's included
    said: list[str] = []
    good = parse_credentials({"type": "postgres", "ssl_mode": "disable", **scram_server})
    secret = scram_server["password"]
    bad = parse_credentials({"type": "postgres", "ssl_mode": "disable", **scram_server, "password": WRONG_PASSWORD})
    refused = credentials_from_url(postgres_url, port=_closed_port(), password=secret)
    said += [repr(good), str(good), json.dumps(good.safe_dict()), repr(bad)]

    for creds in (good, bad, refused):
        connector = PostgresConnector(creds, application_name=unique_app_name("leak"))  # type: ignore[arg-type]
        said.append(repr(connector))
        said.append(json.dumps(connector.test_connection().model_dump(mode="json")))
        for action in (
            lambda: connector.query("SELECT 1"),
            lambda: connector.query("SELECT * FROM cpg_nowhere"),
            lambda: connector.query(SLOW_PG_QUERY, timeout=0.2),
            lambda: connector.introspect(),
        ):
            try:
                action()
            except ConnectorError as exc:
                said.append(_everything_said(exc))
        connector.close()

    said += [record.getMessage() + json.dumps(record.__dict__, default=str) for record in caplog.records]
    transcript = "\n".join(said)
    assert "password authentication failed" in transcript  # the failures really happened and were captured
    assert secret not in transcript
    assert WRONG_PASSWORD not in transcript

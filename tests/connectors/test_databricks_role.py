"""Databricks role capabilities at the DB-API boundary, against recorded databricks-sql-connector answers
(databricks_support.py).

The connector cannot talk to an open-source Spark server, so what is proved here: the statements are valid Databricks
SQL that sqlglot reads, they reach the cursor outside the guard, the rows Unity Catalog's system.information_schema
returns (level, object, privilege_type) become the right capabilities, and a warehouse without Unity Catalog or
without is_member() ([TABLE_OR_VIEW_NOT_FOUND], [UNRESOLVED_ROUTINE] in the warehouse's error format) leaves its part
unknown while the connection test stays ok.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("databricks.sql")

import sqlglot  # noqa: E402

from connectors import parse_credentials  # noqa: E402
from connectors.capabilities import CAPABILITIES  # noqa: E402
from connectors.databricks.connection import VERSION_SQL, DatabricksConnector  # noqa: E402
from connectors.databricks.role import GRANTS_SQL, PRINCIPAL_SQL  # noqa: E402
from tests.connectors.databricks_support import Answer, RecordedConnection, description, rows, server_error  # noqa: E402

GRANT_NAMES = ["level", "object_name", "privilege_type"]


def recorded(grants: list[tuple[str, str, str]] | None, *, admin: bool = False, is_member_missing: bool = False) -> RecordedConnection:
    def answer(sql: str) -> Answer:
        if sql == VERSION_SQL:
            return Answer(description=description(("version()", "string")), rows=rows(["v"], [["4.1.0"]]))
        if sql == PRINCIPAL_SQL:
            if is_member_missing:
                return Answer(error=server_error("UNRESOLVED_ROUTINE", "Cannot resolve routine `is_member`.", "42883"))
            return Answer(description=description(("principal", "string"), ("workspace_admin", "boolean")),
                          rows=rows(["principal", "workspace_admin"], [["analyst@example.com", admin]]))
        if sql == "SELECT current_user()":
            return Answer(description=description(("current_user()", "string")), rows=rows(["u"], [["analyst@example.com"]]))
        if sql == GRANTS_SQL:
            if grants is None:
                return Answer(error=server_error("TABLE_OR_VIEW_NOT_FOUND", "The table or view `system`.`information_schema`.`catalog_privileges` cannot be found.", "42P01"))
            return Answer(description=description(*((n, "string") for n in GRANT_NAMES)), rows=rows(GRANT_NAMES, grants))
        raise AssertionError(f"unexpected statement: {sql}")

    return RecordedConnection(answer)


def role_of(conn_recorded: RecordedConnection) -> Any:
    conn = DatabricksConnector(parse_credentials({
        "type": "databricks", "server_hostname": "adb-1.azuredatabricks.net", "http_path": "/sql/1.0/warehouses/abc",
        "access_token": "dapi-x", "catalog": "main",
    }))  # type: ignore[arg-type]
    conn._conn = conn_recorded  # the session databricks.sql.connect() would have opened
    with conn:
        test = conn.test_connection()
    assert test.ok, test.error
    return test.role


def held(report: Any) -> set[str]:
    return {name for name in CAPABILITIES if getattr(report, name) is True}


def test_statements_are_valid_databricks_sql() -> None:
    for statement in (PRINCIPAL_SQL, GRANTS_SQL):
        sqlglot.parse_one(statement, read="databricks")
    assert "privilege_type NOT IN ('SELECT', 'USE CATALOG', 'USE SCHEMA'" in GRANTS_SQL


def test_principal_without_grants_beyond_reading() -> None:
    report = role_of(recorded([]))
    assert report.principal == "analyst@example.com"
    assert report.can_write is False and report.superuser is False and report.can_manage_roles is False
    assert report.can_read_server_files is False and report.can_write_server_files is False
    assert report.can_signal_sessions is None  # warehouse permissions are workspace ACLs
    assert report.read_only is None and report.read_only_session is False


def test_modify_ownership_volumes_and_manage_are_reported() -> None:
    grants = [
        ("schema", "main.sales", "CREATE TABLE"),
        ("table", "main.sales.orders", "MODIFY"),
        ("table", "main.sales.mine", "OWNERSHIP"),
        ("volume", "main.sales.landing", "READ VOLUME"),
        ("volume", "main.sales.exports", "WRITE VOLUME"),
        ("catalog", "main", "MANAGE"),
    ]
    report = role_of(recorded(grants))
    assert held(report) == {"can_write", "can_read_server_files", "can_write_server_files", "can_manage_roles"}
    assert report.write_grants == [
        "CREATE TABLE on schema main.sales", "MODIFY on table main.sales.orders", "OWNERSHIP on table main.sales.mine",
        "WRITE VOLUME on volume main.sales.exports",
    ]
    assert report.read_only is False


def test_workspace_admin_is_a_superuser() -> None:
    report = role_of(recorded([], admin=True))
    assert report.superuser is True and report.read_only is False


def test_no_unity_catalog_and_no_is_member_leave_those_parts_unknown() -> None:
    report = role_of(recorded(None, is_member_missing=True))
    assert report.principal == "analyst@example.com"
    assert report.unknown() == list(CAPABILITIES)
    assert "grants not read: system.information_schema refused (TABLE_OR_VIEW_NOT_FOUND)" in report.findings

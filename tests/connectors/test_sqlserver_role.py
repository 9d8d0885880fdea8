"""SQL Server role capabilities at the cursor boundary, against recorded pyodbc answers (sqlserver_support.py).

No SQL Server runs here. What is proved: the two statements are valid T-SQL that sqlglot reads as single SELECTs,
they reach the cursor outside the guard and are rolled back (never committed), and the rows the server's
permission functions return (IS_SRVROLEMEMBER / IS_MEMBER / HAS_PERMS_BY_NAME give 1, 0 or NULL; pyodbc hands them
over as int or None) become the right capabilities.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pyodbc")

import pyodbc  # noqa: E402
import sqlglot  # noqa: E402
from sqlglot import exp  # noqa: E402

from connectors import connect  # noqa: E402
from connectors.capabilities import CAPABILITIES  # noqa: E402
from connectors.sqlserver.connection import SERVER_VERSION_SQL  # noqa: E402
from connectors.sqlserver.role import PERMISSIONS_SQL, WRITABLE_SQL  # noqa: E402
from tests.connectors.sqlserver_support import Answer, RecordedConnection, column, odbc_error  # noqa: E402

PERMISSION_COLUMNS = [
    "login_name", "user_name", "database_name", "sysadmin", "control_server", "db_owner", "bulk_operations",
    "database_bulk_operations", "backup_database", "xp_cmdshell", "alter_any_connection", "kill_database_connection",
    "alter_settings", "alter_any_login", "alter_any_user", "alter_any_role", "create_table", "create_view",
    "create_procedure", "alter_any_schema", "updateability",
]
WRITABLE_COLUMNS = ["schema_name", "object_name", "kind", "can_insert", "can_update", "can_delete", "can_alter", "total"]


def permissions(**held: Any) -> tuple[Any, ...]:
    row: dict[str, Any] = {name: 0 for name in PERMISSION_COLUMNS}
    row.update(login_name="analyst", user_name="analyst", database_name="spider", updateability="READ_WRITE",
               database_bulk_operations=None, kill_database_connection=None)  # NULL: not a permission on this edition
    row.update(held)
    return tuple(row[name] for name in PERMISSION_COLUMNS)


def recorded(permission_row: tuple[Any, ...], writable_rows: list[tuple[Any, ...]] | None = None) -> RecordedConnection:
    def answer(sql: str) -> Answer:
        if sql == SERVER_VERSION_SQL:
            return Answer(description=[column("v", str)], rows=[("16.0.4135.4",)])
        if sql == PERMISSIONS_SQL:
            return Answer(description=[column(n, int) for n in PERMISSION_COLUMNS], rows=[permission_row])
        if sql == WRITABLE_SQL:
            return Answer(description=[column(n, int) for n in WRITABLE_COLUMNS], rows=writable_rows or [])
        raise AssertionError(f"unexpected statement: {sql}")

    return RecordedConnection(answer)


def role_of(conn_recorded: RecordedConnection) -> Any:
    conn = connect({"type": "sqlserver", "host": "db.example", "database": "spider", "username": "analyst", "password": "pw"})
    conn._conn = conn_recorded  # the connection pyodbc would have opened
    with conn:
        test = conn.test_connection()
    assert test.ok, test.error
    assert conn_recorded.commits == 0 and conn_recorded.rollbacks >= 2
    return test.role


def held(report: Any) -> set[str]:
    return {name for name in CAPABILITIES if getattr(report, name) is True}


def test_statements_are_single_tsql_selects() -> None:
    for statement in (PERMISSIONS_SQL, WRITABLE_SQL):
        parsed = sqlglot.parse(statement, read="tsql")
        assert len(parsed) == 1 and isinstance(parsed[0], exp.Select)


def test_user_with_only_select_is_read_only() -> None:
    report = role_of(recorded(permissions()))
    assert {name: getattr(report, name) for name in CAPABILITIES} == {name: False for name in CAPABILITIES}
    assert report.read_only is True and report.principal == "analyst"
    assert report.read_only_session is False


def test_sysadmin_is_a_superuser() -> None:
    report = role_of(recorded(permissions(sysadmin=1, control_server=1)))
    assert held(report) == set(CAPABILITIES)
    assert report.findings[0] == "superuser: member of sysadmin: every permission check is bypassed"


def test_object_writes_are_named_and_counted() -> None:
    rows = [("dbo", "orders", "table", 1, 1, 0, 0, 23), ("dbo", "v_sales", "view", 0, 0, 1, 0, 23)]
    report = role_of(recorded(permissions(), rows))
    assert report.write_grants == ["INSERT, UPDATE on table dbo.orders", "DELETE on view dbo.v_sales", "and 21 more"]
    assert held(report) == {"can_write"}


def test_server_permissions_map_to_their_capabilities() -> None:
    report = role_of(recorded(permissions(
        bulk_operations=1, backup_database=1, xp_cmdshell=1, alter_any_connection=1, alter_settings=1, alter_any_role=1,
        create_table=1,
    )))
    assert held(report) == set(CAPABILITIES) - {"superuser"}
    assert "can_run_server_programs: EXECUTE on xp_cmdshell" in report.findings
    assert "can_write: CREATE TABLE in database spider" in report.findings


def test_read_only_database_and_database_user_name() -> None:
    report = role_of(recorded(permissions(updateability="READ_ONLY", user_name="reporting")))
    assert report.read_only_session is True
    assert report.principal == "analyst (database user reporting)"


def test_a_refused_permission_statement_leaves_the_connection_ok_and_capabilities_unknown() -> None:
    denied = odbc_error(pyodbc.ProgrammingError, "42000", "The SELECT permission was denied on the object 'objects'", 229)

    def answer(sql: str) -> Answer:
        if sql == SERVER_VERSION_SQL:
            return Answer(description=[column("v", str)], rows=[("16.0.4135.4",)])
        return Answer(error=denied)

    report = role_of(RecordedConnection(answer))
    assert report.read_only is None and report.unknown() == list(CAPABILITIES)
    assert report.findings[0].startswith("the role's privileges could not be read (permission_denied)")

"""Snowflake role capabilities through the real driver.

fakesnow answers CURRENT_USER() / CURRENT_ROLE() but not SHOW GRANTS: against it the connector must report every
capability unknown, with the reason, and stay connected (test_snowflake_fakesnow.py, which owns the fakesnow server
of the session: fakesnow.server() cannot be started twice in one process). The grant walk runs against the replay endpoint
(snowflake_replay.py) answering SHOW GRANTS TO USER / TO ROLE with rows in the column layout Snowflake documents
(https://docs.snowflake.com/en/sql-reference/sql/show-grants: created_on, privilege, granted_on, name, granted_to,
grantee_name, grant_option, granted_by; TO USER: created_on, role, granted_to, grantee_name, granted_by).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("snowflake.connector")

from tests.connectors.snowflake_replay import ReplaySnowflake, replay_snowflake  # noqa: F401,E402

from connectors import parse_credentials  # noqa: E402
from connectors.capabilities import CAPABILITIES  # noqa: E402
from connectors.snowflake.connection import SnowflakeConnector  # noqa: E402
from connectors.snowflake.pool import WarmPool  # noqa: E402
from connectors.snowflake.role import SESSION_SQL, grants_to_role_sql, grants_to_user_sql  # noqa: E402

GRANT_COLUMNS = ["created_on", "privilege", "granted_on", "name", "granted_to", "grantee_name", "grant_option", "granted_by"]
USER_COLUMNS = ["created_on", "role", "granted_to", "grantee_name", "granted_by"]
WHEN = "2024-05-01 10:00:00.000 -0700"


def grant(privilege: str, on: str, name: str, role: str, grant_option: str = "false") -> list[str | None]:
    return [WHEN, privilege, on, name, "ROLE", role, grant_option, "SECURITYADMIN"]


def record(replay: ReplaySnowflake, user: str, role: str, user_roles: list[str], grants: dict[str, list[list[str | None]]]) -> None:
    replay.results[SESSION_SQL] = (["USER_NAME", "ROLE_NAME"], [[user, role]])
    replay.results[grants_to_user_sql(user)] = (USER_COLUMNS, [[WHEN, r, "USER", user, "USERADMIN"] for r in user_roles])
    for name, rows in grants.items():
        replay.results[grants_to_role_sql(name)] = (GRANT_COLUMNS, rows)


def role_of(replay: ReplaySnowflake) -> Any:
    creds = parse_credentials({"type": "snowflake", "account": "acct", "username": "ANALYST", "password": "replay-pw-1",
                               "host": "127.0.0.1", "port": replay.port, "protocol": "http", "warehouse": "WH"})
    with SnowflakeConnector(creds, pool=WarmPool()) as conn:  # type: ignore[arg-type]
        test = conn.test_connection()
    assert test.ok, test.error
    return test.role


def held(report: Any) -> set[str]:
    return {name for name in CAPABILITIES if getattr(report, name) is True}


READER_GRANTS = {
    "ANALYST_RO": [
        grant("USAGE", "WAREHOUSE", "WH", "ANALYST_RO"),
        grant("USAGE", "DATABASE", "SALES", "ANALYST_RO"),
        grant("USAGE", "SCHEMA", "SALES.PUBLIC", "ANALYST_RO"),
        grant("SELECT", "TABLE", "SALES.PUBLIC.ORDERS", "ANALYST_RO"),
        grant("USAGE", "ROLE", "READER_BASE", "ANALYST_RO"),
    ],
    "READER_BASE": [grant("SELECT", "VIEW", "SALES.PUBLIC.BIG_ORDERS", "READER_BASE"),
                    grant("REFERENCES", "TABLE", "SALES.PUBLIC.ORDERS", "READER_BASE")],
    "PUBLIC": [],
}


def test_role_with_usage_and_select_only_is_read_only(replay_snowflake: ReplaySnowflake) -> None:
    record(replay_snowflake, "ANALYST", "ANALYST_RO", ["ANALYST_RO"], READER_GRANTS)
    report = role_of(replay_snowflake)
    assert report.principal == "ANALYST"
    assert {name: getattr(report, name) for name in CAPABILITIES} == {name: False for name in CAPABILITIES}
    assert report.read_only is True and report.read_only_session is False
    asked = [q["sqlText"] for q in replay_snowflake.queries]
    for role in ("ANALYST_RO", "READER_BASE", "PUBLIC"):  # the inherited role was walked, PUBLIC always is
        assert grants_to_role_sql(role) in asked


def test_writes_stage_and_warehouse_rights_are_reported_with_the_role_they_come_from(replay_snowflake: ReplaySnowflake) -> None:
    grants = {
        "ETL": [
            grant("INSERT", "TABLE", "SALES.PUBLIC.ORDERS", "ETL"),
            grant("CREATE TABLE", "SCHEMA", "SALES.PUBLIC", "ETL"),
            grant("OPERATE", "WAREHOUSE", "WH", "ETL"),
            grant("READ", "STAGE", "SALES.PUBLIC.LANDING", "ETL"),
            grant("SELECT", "TABLE", "SALES.PUBLIC.CUSTOMERS", "ETL", grant_option="true"),
        ],
        "PUBLIC": [],
    }
    record(replay_snowflake, "ANALYST", "ANALYST_RO", ["ANALYST_RO", "ETL"], {**READER_GRANTS, **grants})
    report = role_of(replay_snowflake)
    assert held(report) == {"can_write", "can_signal_sessions", "can_read_server_files", "can_manage_roles"}
    assert report.write_grants == [
        "INSERT on table SALES.PUBLIC.ORDERS (via role ETL)", "CREATE TABLE on schema SALES.PUBLIC (via role ETL)",
    ]
    assert report.can_write_server_files is False and report.superuser is False
    assert "can_manage_roles: may grant SELECT on table SALES.PUBLIC.CUSTOMERS (via role ETL) to others" in report.findings


def test_accountadmin_anywhere_in_the_users_roles_is_a_superuser(replay_snowflake: ReplaySnowflake) -> None:
    record(replay_snowflake, "ANALYST", "ANALYST_RO", ["ANALYST_RO", "ACCOUNTADMIN"],
           {**READER_GRANTS, "ACCOUNTADMIN": [grant("USAGE", "ROLE", "SYSADMIN", "ACCOUNTADMIN")], "SYSADMIN": []})
    report = role_of(replay_snowflake)
    assert held(report) == set(CAPABILITIES)
    assert "superuser: holds role ACCOUNTADMIN" in report.findings


def test_a_role_that_cannot_be_read_leaves_the_rest_unknown(replay_snowflake: ReplaySnowflake) -> None:
    record(replay_snowflake, "ANALYST", "ANALYST_RO", ["ANALYST_RO", "HIDDEN"], READER_GRANTS)
    replay_snowflake.refusals[grants_to_role_sql("HIDDEN")] = (
        "003001", "42501", "SQL access control error: Insufficient privileges to operate on role 'HIDDEN'"
    )
    report = role_of(replay_snowflake)
    assert report.read_only is None and held(report) == set()
    assert "role HIDDEN: its grants could not be read" in report.findings


def test_show_grants_to_user_refused_still_reads_the_current_role(replay_snowflake: ReplaySnowflake) -> None:
    record(replay_snowflake, "ANALYST", "ANALYST_RO", [], READER_GRANTS)
    replay_snowflake.refusals[grants_to_user_sql("ANALYST")] = (
        "003001", "42501", "SQL access control error: Insufficient privileges to operate on user 'ANALYST'"
    )
    report = role_of(replay_snowflake)
    assert report.read_only is True


"""Role capabilities on the real MariaDB: each user (and role) is created for the test, connected as, and what
`test_connection()` reports is compared with what it was given, both what it may and may not do.

MySQL 8 cannot run here; its SHOW GRANTS lines (roles as `r`@`%`, dynamic privileges, partial revokes) and the
`SHOW GRANTS ... USING` statement it needs are tested at the parsing level with lines in the format MySQL 8.0
prints (https://dev.mysql.com/doc/refman/8.0/en/show-grants.html).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors import connect
from connectors.capabilities import CAPABILITIES
from connectors.mysql.role import Grant, parse_grant, read_role, set_role_sql, show_grants_using_sql
from tests.connectors.role_lab import MariaLab, maria_lab  # noqa: F401 - fixture

pytestmark = pytest.mark.mysql


def role_of(lab: MariaLab, user: str) -> Any:
    with connect(lab.credentials(user)) as conn:
        test = conn.test_connection()
        assert conn.query("SELECT CURRENT_ROLE() AS r").rows == [[None]]  # SET ROLE never touched this session
    assert test.ok, test.error
    assert test.role is not None
    return test.role


def held(report: Any) -> set[str]:
    return {name for name in CAPABILITIES if getattr(report, name) is True}


def test_user_with_only_select_is_read_only(maria_lab: MariaLab) -> None:
    user = maria_lab.user("reader")
    maria_lab.execute(f"GRANT SHOW VIEW ON `{maria_lab.database}`.* TO '{user}'@'%'")
    report = role_of(maria_lab, user)
    assert report.principal == f"{user}@%"
    assert {name: getattr(report, name) for name in CAPABILITIES} == {name: False for name in CAPABILITIES}
    assert report.read_only is True and report.write_grants == []
    assert report.read_only_session is True


def test_insert_on_a_table_is_a_write_named_by_table(maria_lab: MariaLab) -> None:
    user = maria_lab.user("inserter")
    maria_lab.execute(f"GRANT INSERT ON `{maria_lab.database}`.orders TO '{user}'@'%'")
    report = role_of(maria_lab, user)
    assert held(report) == {"can_write"} and report.read_only is False
    assert report.write_grants == [f"INSERT on {maria_lab.database}.orders"]


def test_column_update_is_a_write(maria_lab: MariaLab) -> None:
    user = maria_lab.user("columns")
    maria_lab.execute(f"GRANT UPDATE (total) ON `{maria_lab.database}`.orders TO '{user}'@'%'")
    assert role_of(maria_lab, user).write_grants == [f"UPDATE on {maria_lab.database}.orders"]


def test_file_privilege_reads_and_writes_server_files(maria_lab: MariaLab) -> None:
    user = maria_lab.user("file")
    maria_lab.execute(f"GRANT FILE ON *.* TO '{user}'@'%'")
    report = role_of(maria_lab, user)
    assert held(report) == {"can_read_server_files", "can_write_server_files"}
    assert report.can_write is False and report.superuser is False
    assert any(f.startswith("can_read_server_files: FILE on *.* (") and "secure_file_priv" in f for f in report.findings)


def test_privileges_given_through_nested_roles_are_counted(maria_lab: MariaLab) -> None:
    user = maria_lab.user("via_role")
    outer, inner = maria_lab.role("outer"), maria_lab.role("inner")
    maria_lab.execute(f"GRANT DELETE ON `{maria_lab.database}`.* TO `{inner}`")
    maria_lab.execute(f"GRANT CONNECTION ADMIN ON *.* TO `{inner}`")
    maria_lab.execute(f"GRANT `{inner}` TO `{outer}`")
    maria_lab.execute(f"GRANT `{outer}` TO '{user}'@'%'")
    report = role_of(maria_lab, user)
    assert held(report) == {"can_write", "can_signal_sessions"}
    assert report.write_grants == [f"DELETE on {maria_lab.database}.*"]


def test_super_grant_option_and_admin_option(maria_lab: MariaLab) -> None:
    user = maria_lab.user("admin")
    other = maria_lab.role("handed")
    maria_lab.execute(f"GRANT SUPER ON *.* TO '{user}'@'%'")
    maria_lab.execute(f"GRANT SELECT ON `{maria_lab.database}`.customers TO '{user}'@'%' WITH GRANT OPTION")
    maria_lab.execute(f"GRANT `{other}` TO '{user}'@'%' WITH ADMIN OPTION")
    report = role_of(maria_lab, user)
    assert held(report) == {"superuser", "can_signal_sessions", "can_change_settings", "can_manage_roles"}
    assert f"can_manage_roles: WITH GRANT OPTION on {maria_lab.database}.customers" in report.findings
    assert f"can_manage_roles: may grant role {other} to others (WITH ADMIN OPTION)" in report.findings
    assert report.can_write is False


def test_process_is_named_but_stays_read_only(maria_lab: MariaLab) -> None:
    user = maria_lab.user("process")
    maria_lab.execute(f"GRANT PROCESS ON *.* TO '{user}'@'%'")
    report = role_of(maria_lab, user)
    assert report.read_only is True
    assert "PROCESS on *.*: sees every session's running statement" in report.findings


def test_all_privileges_on_everything_is_a_superuser(mysql_url: str) -> None:
    with connect({"type": "mysql", "host": "127.0.0.1", "username": "root", "database": "test"}) as conn:
        report = conn.test_connection().role
    assert report is not None and held(report) == set(CAPABILITIES)
    assert report.findings[0] == "superuser: ALL PRIVILEGES on *.*"


def test_password_hashes_from_show_grants_never_reach_the_report(maria_lab: MariaLab) -> None:
    user = maria_lab.user("hash")
    maria_lab.execute(f"GRANT INSERT ON `{maria_lab.database}`.orders TO '{user}'@'%'")
    text = json.dumps(role_of(maria_lab, user).model_dump(mode="json"))
    assert "IDENTIFIED" not in text and "PASSWORD" not in text and "*" not in text.replace("*.*", "")
    assert maria_lab.password not in text


# -- parsing SHOW GRANTS lines (MariaDB and MySQL 8 formats) ---------------------------------------------------------
def test_grant_lines_are_read_with_the_mysql_tokenizer() -> None:
    assert parse_grant("GRANT UPDATE (`a`, `b`), SELECT ON `x`.`t` TO `u`@`%` IDENTIFIED BY PASSWORD '*D8' WITH GRANT OPTION") == Grant(
        privileges=("UPDATE", "SELECT"), target="x.t", grant_option=True
    )
    assert parse_grant("GRANT CREATE TEMPORARY TABLES, DELETE HISTORY ON `we``ird TO x`.* TO 'u'@'localhost'") == Grant(
        privileges=("CREATE TEMPORARY TABLES", "DELETE HISTORY"), target="we`ird TO x.*"
    )
    assert parse_grant("GRANT `r1`@`%`,`r2`@`%` TO `u`@`%` WITH ADMIN OPTION") == Grant(
        roles=(("r1", "%"), ("r2", "%")), admin_option=True
    )
    assert parse_grant("GRANT `analyst` TO `u`@`%`") == Grant(roles=(("analyst", None),))
    assert parse_grant("GRANT EXECUTE ON PROCEDURE `db`.`p` TO `u`@`%`") == Grant(privileges=("EXECUTE",), target="PROCEDURE db.p")
    assert parse_grant("REVOKE INSERT ON `mysql`.* FROM `u`@`%`") is None
    assert parse_grant("not a grant") is None


def test_mysql8_lines_with_dynamic_privileges_and_roles() -> None:
    lines = [
        "GRANT USAGE ON *.* TO `u`@`%`",
        "GRANT BACKUP_ADMIN,CONNECTION_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `u`@`%`",
        "GRANT SELECT ON `shop`.* TO `u`@`%`",
        "GRANT `writer`@`%` TO `u`@`%`",
        "GRANT INSERT, UPDATE ON `shop`.`orders` TO `u`@`%`",  # what SHOW GRANTS ... USING adds for the role
    ]
    report = read_role("u@%", lines, {"transaction_read_only": "ON"})
    assert held(report) == {"can_signal_sessions", "can_change_settings", "can_write"}
    assert report.write_grants == ["INSERT on shop.orders", "UPDATE on shop.orders"]
    assert report.read_only_session is True
    assert show_grants_using_sql([("writer", "%"), ("we`ird", None)]) == (
        "SHOW GRANTS FOR CURRENT_USER() USING `writer`@`%`, `we``ird`"
    )
    assert set_role_sql(("we`ird", None)) == "SET ROLE `we``ird`"


def test_an_unread_role_leaves_what_nothing_granted_unknown() -> None:
    report = read_role("u@%", ["GRANT SELECT ON `shop`.* TO `u`@`%`", "GRANT `r` TO `u`@`%`"], {}, unread_roles=["r"])
    assert report.read_only is None and report.unknown() == list(CAPABILITIES)
    assert "role r: its grants could not be read" in report.findings
    granted = read_role("u@%", ["GRANT FILE ON *.* TO `u`@`%`"], {}, unread_roles=["r"])
    assert granted.read_only is False and granted.can_write is None


def test_writes_on_the_grant_tables_manage_roles() -> None:
    report = read_role("u@%", ["GRANT INSERT, UPDATE ON `mysql`.* TO `u`@`%`"], {})
    assert held(report) == {"can_write", "can_manage_roles"}
    assert "can_manage_roles: INSERT on mysql.*: may edit the grant tables" in report.findings
    assert held(read_role("u@%", ["GRANT DELETE ON *.* TO `u`@`%`"], {})) == {"can_write", "can_manage_roles"}
    assert held(read_role("u@%", ["GRANT DELETE ON `mysqlish`.* TO `u`@`%`"], {})) == {"can_write"}

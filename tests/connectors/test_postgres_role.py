"""Role capabilities on the real PostgreSQL: each role is created for the test, connected as, and what
`test_connection()` reports is compared with what the role was given (both what it may and may not do).

The Redshift part runs the Redshift statements against the same server: pg_user, pg_class, pg_namespace,
quote_ident and has_*_privilege exist in both; SVV_USER_GRANTS and Redshift's DROP table privilege do not, so a
stand-in schema holds a view with SVV_USER_GRANTS' documented columns (user_id, user_name, role_id, role_name,
admin_option; https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_USER_GRANTS.html) filled from pg_auth_members,
and a has_table_privilege(text, text) that answers DROP as PostgreSQL decides it (ownership) and delegates the
rest. PostgreSQL roles are cluster-wide, so the test's `crl_<run>_sys_operator` plays Redshift's `sys:operator`.
"""

from __future__ import annotations

from typing import Any, Iterator

import psycopg
import pytest
import sqlglot

from connectors import connect, parse_credentials
from connectors.capabilities import CAPABILITIES, MAX_LISTED
from connectors.postgres import PostgresConnector
from connectors.postgres import connection as pg_connection
from connectors.redshift import RedshiftConnector
from connectors.redshift.role import ROLES_SQL, USER_SQL, WRITABLE_SQL
from tests.connectors.role_lab import PgLab, pg_lab  # noqa: F401 - fixture

pytestmark = pytest.mark.postgres


def role_of(lab: PgLab, role: str) -> Any:
    with connect(lab.credentials(role)) as conn:
        test = conn.test_connection()
    assert test.ok, test.error
    assert test.role is not None
    return test.role


def held(report: Any) -> set[str]:
    return {name for name in CAPABILITIES if getattr(report, name) is True}


def test_superuser_is_reported_with_every_capability(pg_lab: PgLab) -> None:
    role = pg_lab.role("super", "SUPERUSER")
    report = role_of(pg_lab, role)
    assert report.principal == role
    assert held(report) == set(CAPABILITIES)
    assert report.read_only is False
    assert report.findings[0] == "superuser: rolsuper: every privilege check is bypassed"


def test_role_with_only_select_grants_is_read_only(pg_lab: PgLab) -> None:
    role = pg_lab.reader("reader")
    report = role_of(pg_lab, role)
    assert report.principal == role
    assert {name: getattr(report, name) for name in CAPABILITIES} == {name: False for name in CAPABILITIES}
    assert report.read_only is True
    assert report.write_grants == []
    assert report.read_only_session is True  # the connector's BEGIN READ ONLY / default_transaction_read_only
    assert report.findings == ["session: transactions are READ ONLY (default_transaction_read_only=on)"]


def test_insert_on_one_table_is_a_write_named_by_table(pg_lab: PgLab) -> None:
    role = pg_lab.reader("inserter")
    pg_lab.execute("GRANT INSERT ON shop.orders TO {r}", role)
    report = role_of(pg_lab, role)
    assert report.can_write is True and report.read_only is False
    assert report.write_grants == ["INSERT on table shop.orders"]
    assert held(report) == {"can_write"}


def test_column_update_trigger_truncate_and_view_grants_are_writes(pg_lab: PgLab) -> None:
    role = pg_lab.reader("columns")
    pg_lab.execute("GRANT UPDATE (note) ON shop.orders TO {r}; GRANT TRUNCATE, TRIGGER ON shop.customers TO {r};"
                   " GRANT DELETE ON shop.big_orders TO {r}", role)
    report = role_of(pg_lab, role)
    assert report.write_grants == [
        "DELETE on view shop.big_orders", "TRUNCATE, TRIGGER on table shop.customers", "UPDATE on table shop.orders",
    ]


def test_sequence_usage_is_a_write(pg_lab: PgLab) -> None:
    role = pg_lab.reader("sequence")
    pg_lab.execute("GRANT USAGE ON SEQUENCE shop.order_ids TO {r}", role)
    assert role_of(pg_lab, role).write_grants == ["USAGE on sequence shop.order_ids"]


def test_create_on_schema_and_database_and_role_attributes(pg_lab: PgLab) -> None:
    role = pg_lab.reader("creator", "CREATEDB CREATEROLE")
    pg_lab.execute(f'GRANT CREATE ON SCHEMA shop TO {{r}}; GRANT CREATE ON DATABASE "{pg_lab.database}" TO {{r}}', role)
    report = role_of(pg_lab, role)
    assert report.write_grants == ["CREATEDB: may create databases", f"CREATE on database {pg_lab.database}", "CREATE on schema shop"]
    assert report.can_manage_roles is True
    assert held(report) == {"can_write", "can_manage_roles"}


def test_server_file_and_signal_roles_are_reported_and_nothing_more(pg_lab: PgLab) -> None:
    role = pg_lab.reader("files")
    pg_lab.execute("GRANT pg_read_server_files, pg_signal_backend TO {r}", role)
    report = role_of(pg_lab, role)
    assert report.can_read_server_files is True and report.can_signal_sessions is True
    assert report.can_write_server_files is False and report.can_run_server_programs is False
    assert report.can_write is False and report.superuser is False
    assert "can_read_server_files: member of pg_read_server_files" in report.findings
    assert "can_signal_sessions: member of pg_signal_backend" in report.findings
    assert report.read_only is False


def test_membership_without_inherit_still_counts(pg_lab: PgLab) -> None:
    """NOINHERIT: the role does not use pg_write_server_files' rights until SET ROLE, which a statement past the guard
    could do; MEMBER, not USAGE, is what is checked."""
    role = pg_lab.reader("noinherit", "NOINHERIT")
    pg_lab.execute("GRANT pg_write_server_files, pg_execute_server_program, pg_write_all_data TO {r}", role)
    report = role_of(pg_lab, role)
    assert held(report) == {"can_write_server_files", "can_run_server_programs", "can_write"}
    assert report.write_grants == ["member of pg_write_all_data"]


def test_execute_granted_on_server_file_functions(pg_lab: PgLab) -> None:
    role = pg_lab.reader("functions")
    pg_lab.execute("GRANT EXECUTE ON FUNCTION pg_read_file(text) TO {r}; GRANT EXECUTE ON FUNCTION pg_reload_conf() TO {r}", role)
    report = role_of(pg_lab, role)
    assert held(report) == {"can_read_server_files", "can_change_settings"}
    assert "can_read_server_files: EXECUTE on pg_read_file(text)" in report.findings


def test_alter_system_on_a_parameter_is_changing_settings(pg_lab: PgLab) -> None:
    role = pg_lab.reader("settings")
    pg_lab.grant_parameter("ALTER SYSTEM", "work_mem", role)
    report = role_of(pg_lab, role)
    assert held(report) == {"can_change_settings"}
    assert "can_change_settings: ALTER SYSTEM or SET granted on parameter work_mem" in report.findings


def test_many_writable_tables_are_counted_and_the_first_named(pg_lab: PgLab) -> None:
    role = pg_lab.reader("many")
    pg_lab.execute("CREATE SCHEMA wide; GRANT USAGE ON SCHEMA wide TO {r}", role)
    for i in range(MAX_LISTED + 5):
        pg_lab.execute(f"CREATE TABLE wide.t{i:02d} (id int); GRANT INSERT ON wide.t{i:02d} TO {{r}}", role)
    report = role_of(pg_lab, role)
    assert len(report.write_grants) == MAX_LISTED + 1
    assert report.write_grants[0] == "INSERT on table wide.t00"
    assert report.write_grants[-1] == "and 5 more"


def test_a_probe_the_server_refuses_leaves_the_connection_ok_and_capabilities_unknown(
    pg_lab: PgLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    role = pg_lab.reader("refused")
    monkeypatch.setattr(pg_connection, "role_sql", lambda version: "SELECT * FROM no_such_catalog_view")
    with connect(pg_lab.credentials(role)) as conn:
        test = conn.test_connection()
        assert test.ok is True and test.role is not None
        assert test.role.read_only is None and test.role.unknown() == list(CAPABILITIES)
        assert test.role.findings == [
            "the role's privileges could not be read (query_error): PostgreSQL query failed: "
            'relation "no_such_catalog_view" does not exist'
        ]
        assert conn.query("SELECT count(*) FROM shop.orders").rows == [[20]]  # the failed probe was rolled back


def test_failed_connection_test_reports_no_role(pg_lab: PgLab) -> None:
    with connect({**pg_lab.credentials("crl_nobody_here")}) as conn:
        test = conn.test_connection()
    assert test.ok is False and test.role is None


# -- Redshift's statements, against PostgreSQL with stand-ins ---------------------------------------------------------
STANDIN = "crl_rs_standin"


@pytest.fixture(scope="module")
def redshift_standin(pg_lab: PgLab) -> Iterator[str]:
    pg_lab.execute(f"""
        CREATE SCHEMA {STANDIN};
        GRANT USAGE ON SCHEMA {STANDIN} TO PUBLIC;
        CREATE VIEW {STANDIN}.svv_user_grants AS
            SELECT u.oid::integer AS user_id, u.rolname::text AS user_name, r.oid::integer AS role_id,
                   regexp_replace(r.rolname, '^crl_[0-9a-f]+_sys_', 'sys:')::text AS role_name, m.admin_option
              FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member JOIN pg_roles r ON r.oid = m.roleid
             WHERE u.rolname = current_user;
        GRANT SELECT ON {STANDIN}.svv_user_grants TO PUBLIC;
        CREATE FUNCTION {STANDIN}.has_table_privilege(tab text, priv text) RETURNS boolean STABLE LANGUAGE sql AS $$
            SELECT CASE WHEN upper(priv) = 'DROP' THEN pg_has_role(c.relowner, 'MEMBER')
                        ELSE pg_catalog.has_table_privilege(tab, priv) END
              FROM pg_catalog.pg_class c WHERE c.oid = tab::regclass $$;
    """)
    yield STANDIN


class StandInRedshift(RedshiftConnector):
    def _on_connect(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"SET search_path = {STANDIN}, pg_catalog, public")


def redshift_role_of(lab: PgLab, role: str) -> Any:
    with StandInRedshift(parse_credentials(lab.credentials(role, "redshift"))) as conn:  # type: ignore[arg-type]
        test = conn.test_connection()
    assert test.ok, test.error
    return test.role


def test_redshift_statements_parse_as_redshift() -> None:
    for statement in (USER_SQL, WRITABLE_SQL, ROLES_SQL):
        sqlglot.parse_one(statement, read="redshift")


def test_redshift_superuser(pg_lab: PgLab, redshift_standin: str) -> None:
    role = pg_lab.role("rs_super", "SUPERUSER")
    report = redshift_role_of(pg_lab, role)
    assert held(report) == set(CAPABILITIES) and report.findings[0] == "superuser: usesuper: every privilege check is bypassed"


def test_redshift_reader_can_write_nothing_and_files_stay_unknown(pg_lab: PgLab, redshift_standin: str) -> None:
    role = pg_lab.reader("rs_reader")
    report = redshift_role_of(pg_lab, role)
    assert held(report) == set()
    assert report.can_write is False and report.superuser is False and report.can_signal_sessions is False
    assert report.can_read_server_files is None and report.can_write_server_files is None  # S3 via IAM: unknowable
    assert report.read_only is None
    assert report.read_only_session is True


def test_redshift_writes_drop_and_schema_create_are_named(pg_lab: PgLab, redshift_standin: str) -> None:
    role = pg_lab.reader("rs_writer")
    pg_lab.execute("GRANT INSERT, DELETE ON shop.orders TO {r}; GRANT CREATE ON SCHEMA shop TO {r};"
                   " CREATE TABLE shop.owned (id int); ALTER TABLE shop.owned OWNER TO {r}", role)
    report = redshift_role_of(pg_lab, role)
    assert report.write_grants == [
        "CREATE on schema shop", "INSERT, DELETE on table shop.orders",
        "INSERT, UPDATE, DELETE, DROP on table shop.owned",
    ]
    assert report.read_only is False


def test_redshift_system_role_and_admin_option(pg_lab: PgLab, redshift_standin: str) -> None:
    role = pg_lab.reader("rs_operator")
    operator = pg_lab.role("sys_operator")
    helper = pg_lab.role("helper")
    pg_lab.execute(f'GRANT "{operator}" TO {{r}}; GRANT "{helper}" TO {{r}} WITH ADMIN OPTION', role)
    report = redshift_role_of(pg_lab, role)
    assert report.can_signal_sessions is True and "can_signal_sessions: granted role sys:operator" in report.findings
    assert report.can_manage_roles is True
    assert f"can_manage_roles: may grant role crl_{pg_lab.run}_helper to others (WITH ADMIN OPTION)" in report.findings
    assert report.can_write is False


def test_redshift_without_svv_user_grants_still_reports_the_rest(pg_lab: PgLab) -> None:
    """A plain search_path (no stand-in): SVV_USER_GRANTS and Redshift's DROP privilege are missing, so the writable
    statement fails on PostgreSQL: the whole probe is reported unknown and the connection stays usable."""
    role = pg_lab.reader("rs_plain")
    with connect(pg_lab.credentials(role, "redshift")) as conn:
        test = conn.test_connection()
        assert test.ok and test.role is not None and test.role.read_only is None
        assert "unrecognized privilege type" in test.role.findings[0]
        assert conn.query("SELECT 1 AS one").rows == [[1]]


def test_postgres_connector_class_reports_through_connect(pg_lab: PgLab) -> None:
    with connect(pg_lab.credentials(pg_lab.reader("class"))) as conn:
        assert isinstance(conn, PostgresConnector)
        assert conn.role_capabilities().read_only is True

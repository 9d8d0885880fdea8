"""What the connected SQL Server login / database user may do beyond reading, from the server's own permission checks.

Two statements, both answered by the server's permission engine (so role memberships, Windows groups and
DENY are already folded in):
- PERMISSIONS_SQL: IS_SRVROLEMEMBER / IS_MEMBER for the fixed roles that matter, and HAS_PERMS_BY_NAME for the
  server and database permissions behind each capability (CONTROL SERVER, ADMINISTER BULK OPERATIONS, ALTER ANY
  CONNECTION, ALTER SETTINGS, ALTER ANY LOGIN, EXECUTE on xp_cmdshell, CREATE TABLE, BACKUP DATABASE, ...), plus the
  database's Updateability (READ_ONLY on a readable secondary or a read-only database);
- WRITABLE_SQL: the user's tables and views on which it holds INSERT, UPDATE, DELETE or ALTER, counted
  (COUNT(*) OVER () is computed before TOP) and the first ones named.
HAS_PERMS_BY_NAME answers NULL for a permission this edition does not have (server permissions on Azure SQL
Database): that is read as "not held", since the permission cannot be exercised there either.

SQL Server has no read-only session: the connector rolls every transaction back, and ApplicationIntent=ReadOnly
only routes to a readable secondary when there is one; `read_only_session` is True only when the database itself
is not updateable.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from connectors.capabilities import CAPABILITIES, MAX_LISTED, RoleCapabilities, RoleReport

PERMISSIONS_SQL = """
SELECT SUSER_SNAME() AS login_name,
       USER_NAME() AS user_name,
       DB_NAME() AS database_name,
       IS_SRVROLEMEMBER('sysadmin') AS sysadmin,
       HAS_PERMS_BY_NAME(NULL, NULL, 'CONTROL SERVER') AS control_server,
       IS_MEMBER('db_owner') AS db_owner,
       HAS_PERMS_BY_NAME(NULL, NULL, 'ADMINISTER BULK OPERATIONS') AS bulk_operations,
       HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'ADMINISTER DATABASE BULK OPERATIONS') AS database_bulk_operations,
       HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'BACKUP DATABASE') AS backup_database,
       HAS_PERMS_BY_NAME('master.sys.xp_cmdshell', 'OBJECT', 'EXECUTE') AS xp_cmdshell,
       HAS_PERMS_BY_NAME(NULL, NULL, 'ALTER ANY CONNECTION') AS alter_any_connection,
       HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'KILL DATABASE CONNECTION') AS kill_database_connection,
       HAS_PERMS_BY_NAME(NULL, NULL, 'ALTER SETTINGS') AS alter_settings,
       HAS_PERMS_BY_NAME(NULL, NULL, 'ALTER ANY LOGIN') AS alter_any_login,
       HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'ALTER ANY USER') AS alter_any_user,
       HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'ALTER ANY ROLE') AS alter_any_role,
       HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE TABLE') AS create_table,
       HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE VIEW') AS create_view,
       HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'CREATE PROCEDURE') AS create_procedure,
       HAS_PERMS_BY_NAME(DB_NAME(), 'DATABASE', 'ALTER ANY SCHEMA') AS alter_any_schema,
       CAST(DATABASEPROPERTYEX(DB_NAME(), 'Updateability') AS nvarchar(128)) AS updateability
"""

WRITABLE_SQL = f"""
SELECT TOP ({MAX_LISTED}) s.name AS schema_name, o.name AS object_name,
       CASE o.type WHEN 'V' THEN 'view' ELSE 'table' END AS kind,
       HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(o.name), 'OBJECT', 'INSERT') AS can_insert,
       HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(o.name), 'OBJECT', 'UPDATE') AS can_update,
       HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(o.name), 'OBJECT', 'DELETE') AS can_delete,
       HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(o.name), 'OBJECT', 'ALTER') AS can_alter,
       COUNT(*) OVER () AS total
  FROM sys.objects o
  JOIN sys.schemas s ON s.schema_id = o.schema_id
 WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0
   AND 1 IN (HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(o.name), 'OBJECT', 'INSERT'),
             HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(o.name), 'OBJECT', 'UPDATE'),
             HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(o.name), 'OBJECT', 'DELETE'),
             HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(o.name), 'OBJECT', 'ALTER'))
 ORDER BY s.name, o.name
"""

#: column of PERMISSIONS_SQL -> (capability, what holding it means)
CHECKS: dict[str, tuple[str, str]] = {
    "db_owner": ("can_write", "member of db_owner in database {database}"),
    "create_table": ("can_write", "CREATE TABLE in database {database}"),
    "create_view": ("can_write", "CREATE VIEW in database {database}"),
    "create_procedure": ("can_write", "CREATE PROCEDURE in database {database}"),
    "alter_any_schema": ("can_write", "ALTER ANY SCHEMA in database {database}"),
    "bulk_operations": ("can_read_server_files", "ADMINISTER BULK OPERATIONS (BULK INSERT, OPENROWSET(BULK))"),
    "database_bulk_operations": ("can_read_server_files", "ADMINISTER DATABASE BULK OPERATIONS"),
    "backup_database": ("can_write_server_files", "BACKUP DATABASE: writes backup files on the server"),
    "xp_cmdshell": ("can_run_server_programs", "EXECUTE on xp_cmdshell"),
    "alter_any_connection": ("can_signal_sessions", "ALTER ANY CONNECTION: may KILL other sessions"),
    "kill_database_connection": ("can_signal_sessions", "KILL DATABASE CONNECTION"),
    "alter_settings": ("can_change_settings", "ALTER SETTINGS: may run sp_configure / RECONFIGURE"),
    "alter_any_login": ("can_manage_roles", "ALTER ANY LOGIN"),
    "alter_any_user": ("can_manage_roles", "ALTER ANY USER in database {database}"),
    "alter_any_role": ("can_manage_roles", "ALTER ANY ROLE in database {database}"),
}


def read_role(permissions: Mapping[str, Any] | None, writable: Sequence[Mapping[str, Any]]) -> RoleCapabilities:
    """The capabilities the two statements' answers describe."""
    if permissions is None:
        return RoleCapabilities.not_reported("the permission checks returned no row")
    principal = permissions["login_name"]
    if permissions.get("user_name") and permissions["user_name"] != principal:
        principal = f"{principal} (database user {permissions['user_name']})"
    report = RoleReport(principal=principal)
    report.read_only_session = str(permissions.get("updateability") or "").upper() == "READ_ONLY"
    if report.read_only_session:
        report.note(f"session: database {permissions['database_name']} is READ_ONLY (Updateability)")
    super_reason = (
        "member of sysadmin" if permissions.get("sysadmin") == 1
        else "CONTROL SERVER" if permissions.get("control_server") == 1 else None
    )
    if super_reason:
        report.grant("superuser", f"{super_reason}: every permission check is bypassed")
        for capability in CAPABILITIES[1:]:
            report.grant(capability, f"as {super_reason}")
        return report.result()
    database = permissions["database_name"]
    for column, (capability, meaning) in CHECKS.items():
        if permissions.get(column) == 1:
            report.grant(capability, meaning.format(database=database))  # type: ignore[arg-type]
    places = []
    for row in writable:
        held = [p for p, key in (("INSERT", "can_insert"), ("UPDATE", "can_update"), ("DELETE", "can_delete"), ("ALTER", "can_alter")) if row.get(key) == 1]
        places.append(f"{', '.join(held)} on {row['kind']} {row['schema_name']}.{row['object_name']}")
    report.grant_each("can_write", places, writable[0]["total"] if writable else 0)
    report.deny(*CAPABILITIES)
    return report.result()

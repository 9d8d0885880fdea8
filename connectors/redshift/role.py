"""What the connected Redshift user may do beyond reading: pg_user, the has_*_privilege functions, system roles.

Redshift's HAS_TABLE_PRIVILEGE / HAS_SCHEMA_PRIVILEGE / HAS_DATABASE_PRIVILEGE are leader-node functions: a statement
that calls them may read only leader-node catalogs (pg_user, pg_class, pg_namespace), never an SVV view or a user
table, and they take one privilege at a time (SELECT, INSERT, UPDATE, DELETE, DROP, REFERENCES). So three
statements: the user's attributes, the relations and schemas it may change (every writable relation is listed by
name; Python counts and names the first ones), and its RBAC roles from SVV_USER_GRANTS (sys:superuser, sys:dba,
sys:secadmin, sys:operator; a cluster without RBAC answers nothing or refuses, which leaves roles out).

What Redshift cannot say: COPY and UNLOAD read and write S3 through IAM roles attached to the cluster (the
ASSUMEROLE privilege, granted to PUBLIC by default), which the catalog does not list, so the two server-file
capabilities stay unknown. Redshift has no server programs, ALTER SYSTEM or cross-user cancel below superuser.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from connectors.capabilities import CAPABILITIES, RoleCapabilities, RoleReport

USER_SQL = """
SELECT u.usename::varchar(128) AS usename, u.usesuper, u.usecreatedb,
       current_database()::varchar(128) AS database_name,
       has_database_privilege(current_database(), 'CREATE') AS database_create
  FROM pg_catalog.pg_user u
 WHERE u.usename = current_user
"""

#: schemas the user may CREATE in, and relations (tables, views) it may INSERT/UPDATE/DELETE/DROP, as (kind, schema,
#: name, insert, update, delete, drop) rows; leader-node catalogs only. A table is named (resolved) only in a schema
#: the user may use: resolving one elsewhere is an error, and without USAGE the table cannot be reached anyway.
#: Sent without parameters: '%' is literal.
WRITABLE_SQL = """
SELECT kind, schema_name, relation_name, can_insert, can_update, can_delete, can_drop FROM (
    SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'table' END AS kind,
           n.nspname::varchar(128) AS schema_name, c.relname::varchar(128) AS relation_name,
           CASE WHEN has_schema_privilege(n.nspname, 'USAGE')
                THEN has_table_privilege(quote_ident(n.nspname) || '.' || quote_ident(c.relname), 'INSERT') END AS can_insert,
           CASE WHEN has_schema_privilege(n.nspname, 'USAGE')
                THEN has_table_privilege(quote_ident(n.nspname) || '.' || quote_ident(c.relname), 'UPDATE') END AS can_update,
           CASE WHEN has_schema_privilege(n.nspname, 'USAGE')
                THEN has_table_privilege(quote_ident(n.nspname) || '.' || quote_ident(c.relname), 'DELETE') END AS can_delete,
           CASE WHEN has_schema_privilege(n.nspname, 'USAGE')
                THEN has_table_privilege(quote_ident(n.nspname) || '.' || quote_ident(c.relname), 'DROP') END AS can_drop
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'v')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_internal', 'pg_automv')
       AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%'
    UNION ALL
    SELECT 'schema', n.nspname::varchar(128), NULL, has_schema_privilege(n.nspname, 'CREATE'), FALSE, FALSE, FALSE
      FROM pg_catalog.pg_namespace n
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_internal', 'pg_automv')
       AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%'
) w
 WHERE can_insert OR can_update OR can_delete OR can_drop
 ORDER BY kind, schema_name, relation_name
"""

#: the roles granted to the user (RBAC); a user sees the roles granted to it
ROLES_SQL = """
SELECT role_name::varchar(128) AS role_name, admin_option
  FROM svv_user_grants
 WHERE user_name = current_user
 ORDER BY role_name
"""

#: Redshift system roles and what each gives (https://docs.aws.amazon.com/redshift/latest/dg/r_roles-default.html)
SYSTEM_ROLES: dict[str, tuple[str, ...]] = {
    "sys:superuser": CAPABILITIES,
    "sys:dba": ("can_write", "can_manage_roles"),
    "sys:secadmin": ("can_manage_roles",),
    "sys:operator": ("can_signal_sessions",),
}


def read_role(
    user: Mapping[str, Any] | None,
    writable: Sequence[Sequence[Any]],
    roles: Sequence[Sequence[Any]] | None,
    *,
    read_only_session: bool,
) -> RoleCapabilities:
    """The capabilities the three statements' answers describe; `roles` None = SVV_USER_GRANTS could not be read."""
    if user is None:
        return RoleCapabilities.not_reported("current_user is not in pg_user")
    report = RoleReport(principal=user["usename"])
    report.read_only_session = read_only_session
    if user["usesuper"]:
        report.grant("superuser", "usesuper: every privilege check is bypassed")
        for capability in CAPABILITIES[1:]:
            report.grant(capability, "as superuser")
        return report.result()
    if user["usecreatedb"]:
        report.grant("can_write", "CREATEDB: may create databases")
    if user["database_create"]:
        report.grant("can_write", f"CREATE on database {user['database_name']}")
    places = []
    for kind, schema, name, can_insert, can_update, can_delete, can_drop in writable:
        if kind == "schema":
            places.append(f"CREATE on schema {schema}")
            continue
        held = [p for p, ok in (("INSERT", can_insert), ("UPDATE", can_update), ("DELETE", can_delete), ("DROP", can_drop)) if ok]
        places.append(f"{', '.join(held)} on {kind} {schema}.{name}")
    report.grant_each("can_write", places)
    for role_name, admin_option in roles or ():
        for capability in SYSTEM_ROLES.get(role_name, ()):
            report.grant(capability, f"granted role {role_name}")  # type: ignore[arg-type]
        if admin_option:
            report.grant("can_manage_roles", f"may grant role {role_name} to others (WITH ADMIN OPTION)")
    if roles is None:
        report.note("SVV_USER_GRANTS unreadable: roles granted to the user are not counted")
    for capability in ("can_read_server_files", "can_write_server_files"):
        report.cannot_say(
            capability,  # type: ignore[arg-type]
            "COPY/UNLOAD reach S3 through the cluster's IAM roles (ASSUMEROLE), which the catalog does not list",
        )
    report.deny("superuser", "can_write", "can_run_server_programs", "can_signal_sessions", "can_change_settings", "can_manage_roles")
    if read_only_session:
        report.note("session: every transaction starts BEGIN READ ONLY")
    return report.result()

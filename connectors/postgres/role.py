"""What the connected PostgreSQL role may do beyond reading, from pg_roles and the has_*_privilege functions.

One statement, one row: the role's attributes (rolsuper, rolcreaterole, rolcreatedb, ...), its membership in the
predefined roles that reach outside the granted tables (pg_read_server_files, pg_write_server_files,
pg_execute_server_program, pg_signal_backend, pg_write_all_data, ...), the administration functions it was granted
EXECUTE on, parameters it may ALTER SYSTEM (15+), CREATE on the database and on schemas, and the relations it may
INSERT/UPDATE/DELETE/TRUNCATE or put a trigger on (column-level grants included), counted and the first ones named.
Membership is checked with `MEMBER` (not `USAGE`): a role that may `SET ROLE pg_read_server_files` holds its rights
even when it does not inherit them. A table privilege counts even in a schema the role may not use yet: one GRANT
USAGE away from being a write, it is reported rather than hidden.

It runs on the connector's own connection (not through `query()`: these are catalog reads, as introspection is),
inside the connector's read-only transaction, whose `transaction_read_only` it reports as `read_only_session`.
"""

from __future__ import annotations

from typing import Any, Mapping

from connectors.capabilities import CAPABILITIES, MAX_LISTED, RoleCapabilities, RoleReport

#: predefined roles whose members reach beyond the tables they were granted, and what each one gives
PREDEFINED_ROLES: dict[str, tuple[str, ...]] = {
    "pg_read_server_files": ("can_read_server_files",),
    "pg_write_server_files": ("can_write_server_files",),
    "pg_execute_server_program": ("can_run_server_programs",),
    "pg_signal_backend": ("can_signal_sessions",),
    "pg_write_all_data": ("can_write",),
    "pg_checkpoint": ("can_change_settings",),
}
#: predefined roles that only read more than the platform needs: named in the findings, no capability
READ_MORE_ROLES = ("pg_monitor", "pg_read_all_settings", "pg_read_all_stats", "pg_read_all_data")

#: functions revoked from PUBLIC by default; EXECUTE granted on one gives the capability (signatures in pg_catalog)
FUNCTIONS: dict[str, str] = {
    "pg_read_file(text)": "can_read_server_files",
    "pg_read_file(text,bigint,bigint)": "can_read_server_files",
    "pg_read_binary_file(text)": "can_read_server_files",
    "pg_ls_dir(text)": "can_read_server_files",
    "pg_stat_file(text)": "can_read_server_files",
    "lo_import(text)": "can_read_server_files",
    "lo_export(oid,text)": "can_write_server_files",
    "pg_reload_conf()": "can_change_settings",
    "pg_rotate_logfile()": "can_change_settings",
    "pg_switch_wal()": "can_change_settings",
    "pg_promote(boolean,integer)": "can_change_settings",
}

_SYSTEM_SCHEMAS = """n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"""

_PARAMETERS_15 = """(SELECT coalesce(array_agg(a.parname::text ORDER BY a.parname), '{}')
          FROM pg_catalog.pg_parameter_acl a
         WHERE pg_catalog.has_parameter_privilege(a.parname, 'ALTER SYSTEM')
            OR pg_catalog.has_parameter_privilege(a.parname, 'SET'))"""

ROLE_SQL = f"""
WITH me AS (
    SELECT r.rolname::text AS rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls
      FROM pg_catalog.pg_roles r
     WHERE r.rolname = current_user
),
writable AS (
    SELECT n.nspname::text AS schema_name, c.relname::text AS relation_name,
           CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          WHEN 'f' THEN 'foreign table' ELSE 'table' END AS kind,
           array_remove(ARRAY[
               CASE WHEN c.relkind = 'S' THEN NULL WHEN pg_catalog.has_any_column_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
               CASE WHEN c.relkind = 'S' THEN NULL WHEN pg_catalog.has_any_column_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
               CASE WHEN c.relkind = 'S' THEN NULL WHEN pg_catalog.has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
               CASE WHEN c.relkind = 'S' THEN NULL WHEN pg_catalog.has_table_privilege(c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
               CASE WHEN c.relkind = 'S' THEN NULL WHEN pg_catalog.has_table_privilege(c.oid, 'TRIGGER') THEN 'TRIGGER' END,
               CASE WHEN c.relkind <> 'S' THEN NULL WHEN pg_catalog.has_sequence_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
               CASE WHEN c.relkind <> 'S' THEN NULL WHEN pg_catalog.has_sequence_privilege(c.oid, 'USAGE') THEN 'USAGE' END
           ], NULL) AS privileges
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
       AND {_SYSTEM_SCHEMAS}
       AND NOT (SELECT rolsuper FROM me)
),
written AS (
    SELECT * FROM writable WHERE cardinality(privileges) > 0
),
creatable AS (
    SELECT n.nspname::text AS schema_name
      FROM pg_catalog.pg_namespace n
     WHERE {_SYSTEM_SCHEMAS}
       AND pg_catalog.has_schema_privilege(n.oid, 'CREATE')
       AND NOT (SELECT rolsuper FROM me)
)
SELECT me.rolname, me.rolsuper, me.rolcreaterole, me.rolcreatedb, me.rolreplication, me.rolbypassrls,
       (SELECT coalesce(array_agg(g.rolname::text ORDER BY g.rolname), '{{}}')
          FROM pg_catalog.pg_roles g
         WHERE g.rolname = ANY (%(predefined)s)
           AND pg_catalog.pg_has_role(current_user, g.oid, 'MEMBER')) AS predefined_roles,
       (SELECT coalesce(array_agg(f.signature ORDER BY f.signature), '{{}}')
          FROM unnest(%(functions)s::text[]) AS f(signature)
         WHERE pg_catalog.has_function_privilege(
                   pg_catalog.to_regprocedure('pg_catalog.' || f.signature)::oid, 'EXECUTE')) AS functions,
       {{parameters}} AS parameters,
       current_database()::text AS database_name,
       pg_catalog.has_database_privilege(current_database(), 'CREATE') AS database_create,
       (SELECT count(*) FROM creatable) AS creatable_schema_count,
       (SELECT coalesce(array_agg(schema_name ORDER BY schema_name), '{{}}')
          FROM (SELECT schema_name FROM creatable ORDER BY schema_name LIMIT {MAX_LISTED}) s) AS creatable_schemas,
       (SELECT count(*) FROM written) AS written_count,
       (SELECT coalesce(array_agg(format('%%s on %%s %%I.%%I', array_to_string(w.privileges, ', '), w.kind,
                                         w.schema_name, w.relation_name)
                                  ORDER BY w.schema_name, w.relation_name), '{{}}')
          FROM (SELECT * FROM written ORDER BY schema_name, relation_name LIMIT {MAX_LISTED}) w) AS written,
       current_setting('transaction_read_only') = 'on' AS transaction_read_only,
       current_setting('default_transaction_read_only') = 'on' AS default_transaction_read_only
  FROM me
"""


def role_sql(server_version_num: int) -> str:
    """The statement for this server: pg_parameter_acl (ALTER SYSTEM / SET grants) exists from PostgreSQL 15 on;
    before that only a superuser may change server settings, which `rolsuper` already says."""
    return ROLE_SQL.replace("{parameters}", _PARAMETERS_15 if server_version_num >= 150000 else "'{}'::text[]")


def role_params() -> dict[str, Any]:
    return {"predefined": list(PREDEFINED_ROLES) + list(READ_MORE_ROLES), "functions": list(FUNCTIONS)}


def read_role(row: Mapping[str, Any] | None) -> RoleCapabilities:
    """The capabilities one row of ROLE_SQL describes (no row: the session's role is not in pg_roles)."""
    if row is None:
        return RoleCapabilities.not_reported("current_user is not in pg_roles")
    report = RoleReport(principal=row["rolname"])
    if row["rolsuper"]:
        report.grant("superuser", "rolsuper: every privilege check is bypassed")
        for capability in CAPABILITIES[1:]:
            report.grant(capability, "as superuser")
        return _with_session(report, row)
    if row["rolcreaterole"]:
        report.grant("can_manage_roles", "CREATEROLE: may create roles and grant them")
    if row["rolcreatedb"]:
        report.grant("can_write", "CREATEDB: may create databases")
    for role in row["predefined_roles"]:
        for capability in PREDEFINED_ROLES.get(role, ()):
            report.grant(capability, f"member of {role}")  # type: ignore[arg-type]
        if role in READ_MORE_ROLES:
            report.note(f"member of {role}: reads more than its granted tables (settings, statistics, other sessions)")
    for signature in row["functions"]:
        report.grant(FUNCTIONS[signature], f"EXECUTE on {signature}")  # type: ignore[arg-type]
    for parameter in row["parameters"]:
        report.grant("can_change_settings", f"ALTER SYSTEM or SET granted on parameter {parameter}")
    if row["database_create"]:
        report.grant("can_write", f"CREATE on database {row['database_name']}")
    report.grant_each("can_write", [f"CREATE on schema {s}" for s in row["creatable_schemas"]], row["creatable_schema_count"])
    report.grant_each("can_write", row["written"], row["written_count"])
    if row["rolreplication"]:
        report.note("REPLICATION: may open replication connections, which stream every table of the cluster")
    if row["rolbypassrls"]:
        report.note("BYPASSRLS: row-level security policies do not filter what it reads")
    report.deny(*CAPABILITIES)  # everything above was checked: what no reason granted, the role does not hold
    return _with_session(report, row)


def _with_session(report: RoleReport, row: Mapping[str, Any]) -> RoleCapabilities:
    report.read_only_session = bool(row["transaction_read_only"])
    if row["transaction_read_only"]:
        setting = "on" if row["default_transaction_read_only"] else "off"
        report.note(f"session: transactions are READ ONLY (default_transaction_read_only={setting})")
    return report.result()

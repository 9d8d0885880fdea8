"""What the connected Databricks principal may do beyond reading, from Unity Catalog's information_schema.

`system.information_schema` spans every catalog of the metastore the principal can see. Its *_PRIVILEGES views
list grants (grantee, privilege_type, inherited_from) and CATALOGS / SCHEMATA / TABLES name each object's owner; a
grant counts when its grantee is the principal (`current_user()`) or a group it belongs to
(`is_account_group_member`). One statement keeps only the privileges that go beyond reading, and ownership (an owner
may do anything to the object). `is_member('admins')` says whether the principal is a workspace admin.

What SQL cannot say, and stays unknown: warehouse permissions (CAN MANAGE lets a principal stop others' queries and
change the warehouse), external locations (READ FILES / WRITE FILES live in the metastore's own views), and cluster
policies. A workspace without Unity Catalog has no information_schema: then nothing is reported (legacy table ACLs
are per object, `SHOW GRANTS ON TABLE ...`, and are not walked).
"""

from __future__ import annotations

from typing import Any, Sequence

from connectors.capabilities import RoleCapabilities, RoleReport

PRINCIPAL_SQL = "SELECT current_user() AS principal, is_member('admins') AS workspace_admin"

_MINE = "(grantee = current_user() OR is_account_group_member(grantee))"
_OWNED = "({0} = current_user() OR is_account_group_member({0}))"
#: privileges that only read: not reported
GRANTS_LIMIT = 500
READ_PRIVILEGES = ("SELECT", "USE CATALOG", "USE SCHEMA", "BROWSE", "EXECUTE", "USE CONNECTION", "READ METADATA", "USAGE")

GRANTS_SQL = f"""
SELECT level, object_name, privilege_type FROM (
    SELECT 'catalog' AS level, catalog_name AS object_name, privilege_type
      FROM system.information_schema.catalog_privileges WHERE {_MINE}
    UNION ALL
    SELECT 'schema', concat_ws('.', catalog_name, schema_name), privilege_type
      FROM system.information_schema.schema_privileges WHERE {_MINE}
    UNION ALL
    SELECT 'table', concat_ws('.', table_catalog, table_schema, table_name), privilege_type
      FROM system.information_schema.table_privileges WHERE {_MINE}
    UNION ALL
    SELECT 'volume', concat_ws('.', volume_catalog, volume_schema, volume_name), privilege_type
      FROM system.information_schema.volume_privileges WHERE {_MINE}
    UNION ALL
    SELECT 'catalog', catalog_name, 'OWNERSHIP'
      FROM system.information_schema.catalogs WHERE {_OWNED.format('catalog_owner')}
    UNION ALL
    SELECT 'schema', concat_ws('.', catalog_name, schema_name), 'OWNERSHIP'
      FROM system.information_schema.schemata WHERE {_OWNED.format('schema_owner')}
    UNION ALL
    SELECT 'table', concat_ws('.', table_catalog, table_schema, table_name), 'OWNERSHIP'
      FROM system.information_schema.tables WHERE {_OWNED.format('table_owner')}
) grants
 WHERE privilege_type NOT IN ({', '.join(repr(p) for p in READ_PRIVILEGES)})
 ORDER BY level, object_name, privilege_type
 LIMIT {GRANTS_LIMIT}
"""


def read_role(principal: Any, workspace_admin: Any, grants: Sequence[Sequence[Any]] | None, *, unavailable: str | None = None) -> RoleCapabilities:
    """The capabilities the principal's grants describe; `grants` None = information_schema unavailable (`unavailable`
    says why)."""
    report = RoleReport(principal=str(principal) if principal else None)
    report.read_only_session = False
    if workspace_admin:
        report.grant("superuser", "member of the workspace admins group")
    writes: list[str] = []
    for level, name, privilege in grants or ():
        privilege = str(privilege).upper()
        where = f"{privilege} on {level} {name}"
        if privilege == "READ VOLUME":
            report.grant("can_read_server_files", where)
        elif privilege == "WRITE VOLUME":
            report.grant("can_write_server_files", where)
            writes.append(where)
        elif privilege == "MANAGE":
            report.grant("can_manage_roles", where)
        elif privilege == "ALL PRIVILEGES":
            if level in ("catalog", "schema", "volume"):  # includes READ VOLUME and WRITE VOLUME
                report.grant("can_read_server_files", where)
                report.grant("can_write_server_files", where)
            writes.append(where)
        else:  # MODIFY, CREATE ..., OWNERSHIP, APPLY TAG, REFRESH, ...
            writes.append(where)
    report.grant_each("can_write", writes)
    if grants is not None and len(grants) >= GRANTS_LIMIT:
        report.note(f"only the first {GRANTS_LIMIT} grants were read")
    if grants is None:
        report.note(f"grants not read: {unavailable}")
    else:
        report.deny("can_write", "can_read_server_files", "can_write_server_files", "can_manage_roles")
        if workspace_admin is not None:
            report.deny("superuser")
    for capability, why in (
        ("can_signal_sessions", "warehouse permissions (CAN MANAGE) are workspace ACLs, not visible from SQL"),
        ("can_change_settings", "warehouse and workspace settings are workspace ACLs, not visible from SQL"),
        ("can_run_server_programs", "cluster policies and workspace permissions are not visible from SQL"),
    ):
        report.cannot_say(capability, why)  # type: ignore[arg-type]
    report.note("session: Databricks has no read-only session; the SQL guard and the grants are the defences")
    return report.result()

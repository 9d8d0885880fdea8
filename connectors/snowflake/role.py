"""What the connected Snowflake user may do beyond reading, from SHOW GRANTS over its role hierarchy.

A Snowflake session acts with its primary role and, when secondary roles are on (`USE SECONDARY ROLES ALL`, the
default for users created since 2024), with every role granted to the user. So the roles read are the current
role, every role in `SHOW GRANTS TO USER <user>` and PUBLIC, then down the hierarchy: a `SHOW GRANTS TO ROLE r` row
with `granted_on = ROLE` is a role r inherits. Each role's rows (privilege, granted_on, name, grant_option) are
classified below; at most MAX_ROLES roles are read, the rest count as unread (capabilities nothing granted stay
unknown).

Snowflake has no read-only session and no server filesystem or programs: stages are its file area (READ / WRITE on
a stage, USAGE on an external stage, which also unloads), and a warehouse's OPERATE / OWNERSHIP lets a role abort
the queries running on it. fakesnow answers CURRENT_USER() / CURRENT_ROLE() but not SHOW GRANTS: there every
capability is reported unknown, with the reason.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Mapping, Sequence

from connectors.capabilities import CAPABILITIES, RoleCapabilities, RoleReport, refused

SESSION_SQL = "SELECT CURRENT_USER() AS user_name, CURRENT_ROLE() AS role_name"
#: at most this many roles are read (one SHOW GRANTS each)
MAX_ROLES = 30
#: roles whose holders bypass every grant
SUPER_ROLES = {"ACCOUNTADMIN", "ORGADMIN", "GLOBALORGADMIN"}
#: read-only privileges: nothing to report
READ_PRIVILEGES = {"SELECT", "USAGE", "REFERENCES", "MONITOR", "IMPORTED PRIVILEGES", "READ", "EVOLVE SCHEMA"}
WRITE_PRIVILEGES = {"INSERT", "UPDATE", "DELETE", "TRUNCATE", "MODIFY", "REBUILD", "APPLYBUDGET"}
MANAGE_PRIVILEGES = {"MANAGE GRANTS", "CREATE ROLE", "CREATE USER", "MANAGE ACCOUNT SUPPORT CASES"}
Run = Callable[[str], list[dict[str, Any]]]


def quoted(name: str) -> str:
    """A role or user name as a Snowflake identifier, exactly as SHOW / CURRENT_* returned it."""
    return '"' + name.replace('"', '""') + '"'


def grants_to_role_sql(role: str) -> str:
    return f"SHOW GRANTS TO ROLE {quoted(role)}"


def grants_to_user_sql(user: str) -> str:
    return f"SHOW GRANTS TO USER {quoted(user)}"


def read_grants(run: Run, user: str | None, primary_role: str | None) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """({role: its SHOW GRANTS TO ROLE rows}, roles that could not be read), walking the hierarchy breadth-first
    from the current role, the user's granted roles and PUBLIC. `run` raises for a statement that fails; a failure
    on the current role propagates (the source cannot answer at all), one on another role marks it unread."""
    start = [r for r in (primary_role,) if r]
    if user:
        try:
            start += [str(row["role"]) for row in run(grants_to_user_sql(user)) if row.get("role")]
        except Exception as exc:  # a user may not be allowed to list its own roles: the current role is still read
            if not refused(exc):
                raise
    start.append("PUBLIC")
    queue = deque(dict.fromkeys(start))
    seen: dict[str, list[dict[str, Any]]] = {}
    unread: list[str] = []
    while queue:
        role = queue.popleft()
        if role in seen or role in unread:
            continue
        if len(seen) >= MAX_ROLES:
            unread.append(role)
            continue
        try:
            rows = run(grants_to_role_sql(role))
        except Exception as exc:
            if role == primary_role or not refused(exc):
                raise
            unread.append(role)
            continue
        seen[role] = rows
        queue.extend(str(r["name"]) for r in rows if str(r.get("granted_on", "")).upper() == "ROLE")
    return seen, unread


def read_role(user: str | None, grants: Mapping[str, Sequence[Mapping[str, Any]]], unread: Sequence[str]) -> RoleCapabilities:
    """The capabilities the roles' SHOW GRANTS rows describe."""
    report = RoleReport(principal=user)
    report.read_only_session = False
    report.note("session: Snowflake has no read-only session; the SQL guard and the role's grants are the defences")
    supers = sorted(r for r in grants if r.upper() in SUPER_ROLES)
    if supers:
        report.grant("superuser", f"holds role {supers[0]}")
        for capability in CAPABILITIES[1:]:
            report.grant(capability, f"as {supers[0]}")
        return report.result()
    writes: list[str] = []
    for role, rows in grants.items():
        for row in rows:
            _classify(report, writes, role, row)
    report.grant_each("can_write", writes)
    for role in unread:
        report.note(f"role {role}: its grants could not be read")
    if not unread:
        report.deny(*CAPABILITIES)
    return report.result()


def _classify(report: RoleReport, writes: list[str], role: str, row: Mapping[str, Any]) -> None:
    privilege = str(row.get("privilege", "")).upper()
    on = str(row.get("granted_on", "")).upper().replace("_", " ")
    name = str(row.get("name", ""))
    where = f"{privilege} on {on.lower()} {name} (via role {role})"
    if on == "ROLE" and privilege == "USAGE":
        return  # role inheritance: walked, not a privilege of its own
    if str(row.get("grant_option", "")).lower() == "true":
        report.grant("can_manage_roles", f"may grant {where} to others")
    if on == "WAREHOUSE" and privilege in ("OPERATE", "OWNERSHIP", "ALL"):
        report.grant("can_signal_sessions", f"{where}: may abort the warehouse's queries")
    if on == "WAREHOUSE" and privilege in ("MODIFY", "OWNERSHIP", "ALL"):
        report.grant("can_change_settings", f"{where}: may resize or reconfigure it")
        return
    if on == "STAGE":
        if privilege in ("READ", "USAGE", "OWNERSHIP", "ALL"):
            report.grant("can_read_server_files", where)
        if privilege in ("WRITE", "USAGE", "OWNERSHIP", "ALL"):
            report.grant("can_write_server_files", where)
        return
    if privilege in MANAGE_PRIVILEGES or (privilege in ("OWNERSHIP", "ALL") and on in ("ROLE", "USER")):
        report.grant("can_manage_roles", where)
        return
    if (on == "ACCOUNT" and privilege.startswith("APPLY ")) or privilege in ("OWNERSHIP", "ALL"):
        writes.append(where)
        return
    if privilege in WRITE_PRIVILEGES or privilege.startswith("CREATE ") or privilege.startswith("ADD "):
        writes.append(where)
        return
    if privilege == "MONITOR" and on in ("WAREHOUSE", "ACCOUNT"):
        report.note(f"{where}: sees other sessions' queries")

"""The warning `introspect-data` records when the source's role may do more than read.

The SQL guard is the first defence between the analyst agent's SQL and the customer's data; the role's own
privileges are the second, and the one that does not depend on a parser. A role that may write, read server files
or signal other sessions turns any guard bypass into damage, so the platform says so, on every snapshot, naming
what the role may do and where (the connector's RoleCapabilities findings). A role whose privileges the source
cannot report (read_only=None) gets no warning: the README's "Read-only roles" section is the remedy either way.
"""

from __future__ import annotations

from connectors import RoleCapabilities
from store import SnapshotWarning

ROLE_NOT_READ_ONLY = "role_not_read_only"
#: how each capability reads in a warning message
CAPABILITY_WORDS = {
    "superuser": "is a superuser",
    "can_write": "can write",
    "can_read_server_files": "can read server files",
    "can_write_server_files": "can write server files",
    "can_run_server_programs": "can run server programs",
    "can_signal_sessions": "can cancel or kill other sessions",
    "can_change_settings": "can change server settings",
    "can_manage_roles": "can manage roles and grants",
}


def role_warning(role: RoleCapabilities | None, source_type: str) -> SnapshotWarning | None:
    """A `role_not_read_only` warning naming what the role may do, or None when it can only read (or nobody knows)."""
    if role is None or role.read_only is not False:
        return None
    held = role.beyond_read()
    who = f"{source_type} role {role.principal!r}" if role.principal else f"the {source_type} role"
    if "superuser" in held:  # every other capability follows; naming them adds nothing
        what, where = "is a superuser, which may do anything", ""
    else:
        what = ", ".join(CAPABILITY_WORDS[name] for name in held)
        shown = "; ".join(role.write_grants[:3]) + ("; ..." if len(role.write_grants) > 3 else "")
        where = f" ({shown})" if role.write_grants else ""
    return SnapshotWarning(
        code=ROLE_NOT_READ_ONLY,
        message=f"{who} is not read-only: it {what}{where}. Connect with a read-only role (README: Read-only roles).",
        details={
            "principal": role.principal,
            "capabilities": list(held),
            "write_grants": list(role.write_grants),
            "findings": list(role.findings),
        },
    )

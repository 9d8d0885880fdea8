"""What the connected role may do on the source beyond reading: the defence that does not depend on the SQL guard.

The guard parses SQL; a parser can be fooled. The role's own privileges cannot: a role that may only SELECT cannot
delete a row, read `/etc/passwd` or kill another session whatever spelling gets past the guard. So at
`test_connection()` every connector reads its role's privileges from the source's own catalog (PostgreSQL
`pg_roles`/`has_*_privilege`, MySQL `SHOW GRANTS`, SQL Server `HAS_PERMS_BY_NAME`, ...) and reports them in this
one shape; `introspect-data` warns when the role is not read-only.

Every capability is `bool | None`: True = the role may do it (a finding says why and where), False = the source's
catalog says it may not, None = the source cannot say (or could not be asked). `read_only` sums them up: False as
soon as one capability is True, True only when every one is known False, else None.

`read_only_session` is reported but does not count towards `read_only`: a read-only session or transaction is the
connector's own defence, and any role can switch it off (`SET SESSION CHARACTERISTICS ... READ WRITE`,
`SET SESSION TRANSACTION READ WRITE`) once a statement gets past the guard. The role's privileges are what remains.

How an embedded source reports (DuckDB, written in parallel): there is no role, the process's own access is what
counts. A database file opened with `read_only=True` (access_mode READ_ONLY) -> `can_write=False` and
`read_only_session=True`; `superuser`, `can_manage_roles`, `can_signal_sessions` -> False (no users, no other
sessions); `enable_external_access=false` -> `can_read_server_files=False`, `can_write_server_files=False`,
`can_run_server_programs=False` (it also stops INSTALL/LOAD of extensions), otherwise True (read_csv, COPY TO and
ATTACH reach the worker's disk); `can_change_settings` -> False once `lock_configuration=true`, else True. A read-only
file with external access off and the configuration locked is therefore `read_only=True`.
"""

from __future__ import annotations

from typing import Iterable, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, computed_field

from connectors.errors import NotFoundError, PermissionDeniedError, QueryCanceledError, QueryError, UnsupportedError

Capability = Literal[
    "superuser",
    "can_write",
    "can_read_server_files",
    "can_write_server_files",
    "can_run_server_programs",
    "can_signal_sessions",
    "can_change_settings",
    "can_manage_roles",
]
CAPABILITIES: tuple[Capability, ...] = get_args(Capability)

#: how many places a list names before it says "and N more" (a role may hold INSERT on ten thousand tables)
MAX_LISTED = 20


class RoleCapabilities(BaseModel):
    """What the connected role may do beyond reading what it was granted."""

    model_config = ConfigDict(extra="ignore")

    principal: str | None = Field(None, description="the role / user / principal the source says the session runs as")
    superuser: bool | None = Field(None, description="bypasses every privilege check (rolsuper, SUPER, sysadmin, ACCOUNTADMIN)")
    can_write: bool | None = Field(
        None, description="holds any privilege that changes data or schema: INSERT/UPDATE/DELETE/TRUNCATE/CREATE/ALTER/DROP"
    )
    write_grants: list[str] = Field(
        default_factory=list, description="where can_write comes from, e.g. 'INSERT on table public.orders'"
    )
    can_read_server_files: bool | None = Field(
        None, description="may read files on the server or the source's file area (pg_read_server_files, FILE, BULK)"
    )
    can_write_server_files: bool | None = Field(None, description="may write files there (COPY TO, INTO OUTFILE, BACKUP, UNLOAD)")
    can_run_server_programs: bool | None = Field(
        None, description="may run programs on the server (pg_execute_server_program, xp_cmdshell)"
    )
    can_signal_sessions: bool | None = Field(
        None, description="may cancel or terminate other sessions' statements (pg_signal_backend, KILL, OPERATE)"
    )
    can_change_settings: bool | None = Field(None, description="may change server-wide settings (ALTER SYSTEM, SET GLOBAL)")
    can_manage_roles: bool | None = Field(None, description="may create roles or users, or grant privileges to others")
    read_only_session: bool | None = Field(
        None, description="the connector's session/transaction is read-only (its own defence; not part of read_only)"
    )
    findings: list[str] = Field(default_factory=list, description="why each capability is what it is, in words")

    @computed_field(description="True: the role can only read; False: it can do more (see findings); None: unknown")
    @property
    def read_only(self) -> bool | None:
        values = [getattr(self, name) for name in CAPABILITIES]
        if any(v is True for v in values):
            return False
        if all(v is False for v in values):
            return True
        return None

    def beyond_read(self) -> list[Capability]:
        """The capabilities this role holds (those that are True), in a fixed order."""
        return [name for name in CAPABILITIES if getattr(self, name) is True]

    def unknown(self) -> list[Capability]:
        """The capabilities the source could not report."""
        return [name for name in CAPABILITIES if getattr(self, name) is None]

    @classmethod
    def not_reported(cls, reason: str, *, principal: str | None = None) -> "RoleCapabilities":
        """Every capability unknown, with the reason (a source without the catalog, or a probe that failed)."""
        return cls(principal=principal, findings=[reason])


def refused(error: BaseException) -> bool:
    """Whether a catalog statement failed because the source refused it (unknown view, no permission, unsupported
    syntax), which leaves a capability unknown, rather than because the connection or the run is going away."""
    if isinstance(error, QueryCanceledError):
        return False
    return isinstance(error, (QueryError, PermissionDeniedError, NotFoundError, UnsupportedError))


class RoleReport:
    """Collects what a source's catalog says, capability by capability, into a RoleCapabilities.

    A capability is True once any reason grants it (later denials do not undo that), False when the source checked
    and found nothing, and None when nobody said. Each grant and each unknown leaves a finding in words.
    """

    def __init__(self, principal: str | None = None) -> None:
        self.principal = principal
        self._values: dict[Capability, bool | None] = {name: None for name in CAPABILITIES}
        self._write_grants: list[str] = []
        self._findings: list[str] = []
        self.read_only_session: bool | None = None

    def grant(self, capability: Capability, reason: str) -> None:
        """The role holds `capability` because of `reason` ('member of pg_read_server_files'); said once."""
        self._values[capability] = True
        finding = f"{capability}: {reason}"
        if finding in self._findings:
            return
        self._findings.append(finding)
        if capability == "can_write":
            self._write_grants.append(reason)

    def grant_each(self, capability: Capability, reasons: Iterable[str], total: int | None = None) -> None:
        """`grant` for the first MAX_LISTED reasons; `total` (when the source counted more than it listed) makes the
        rest one "and N more" line."""
        listed = list(reasons)
        shown = listed[:MAX_LISTED]
        for reason in shown:
            self.grant(capability, reason)
        left = max(total if total is not None else 0, len(listed)) - len(shown)
        if left > 0:
            more = f"and {left} more"
            self._findings.append(f"{capability}: {more}")
            if capability == "can_write":
                self._write_grants.append(more)

    def deny(self, *capabilities: Capability) -> None:
        """The source checked: the role does not hold these (unless another reason already granted them)."""
        for capability in capabilities:
            if self._values[capability] is None:
                self._values[capability] = False

    def cannot_say(self, capability: Capability, reason: str) -> None:
        """The source cannot report this capability; it stays None unless something else grants it."""
        self._findings.append(f"{capability} unknown: {reason}")

    def note(self, text: str) -> None:
        """A finding that changes no capability (a replication role, a read-only session, ...); said once."""
        if text not in self._findings:
            self._findings.append(text)

    def result(self) -> RoleCapabilities:
        return RoleCapabilities(
            principal=self.principal,
            write_grants=self._write_grants,
            read_only_session=self.read_only_session,
            findings=self._findings,
            **self._values,
        )

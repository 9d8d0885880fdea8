"""What the connected MySQL / MariaDB account may do beyond reading, from `SHOW GRANTS`.

Why SHOW GRANTS and not information_schema.USER_PRIVILEGES / SCHEMA_PRIVILEGES / TABLE_PRIVILEGES: those views show
the account's own grants only, never what its roles give (checked on MariaDB 10.11: a role's INSERT does not appear
there even while the role is active), and roles are how privileges are handed out. SHOW GRANTS is the server's own
account of every grant, including role grants:
- MariaDB shows the account's grants plus those of the *active* role (nested roles expanded), and refuses
  `SHOW GRANTS FOR role` to an account without SELECT on `mysql`. So each role granted to the account is read by
  `SET ROLE` + `SHOW GRANTS` on a short-lived second connection: the connector's own session is never changed.
- MySQL 8 expands roles with `SHOW GRANTS FOR CURRENT_USER() USING role, ...`, allowed for the account's own roles.

Each GRANT line is read with sqlglot's MySQL tokenizer (quoted names, escaped backticks, column lists), not with a
regular expression: `GRANT <privileges> ON <object> TO <account> [WITH GRANT OPTION]`, or a role grant
`GRANT <role>[, <role>] TO <account> [WITH ADMIN OPTION]`. The lines also carry password hashes (`IDENTIFIED BY
PASSWORD '*...'`): only privilege names and objects are kept, never a line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import sqlglot
from sqlglot.tokens import Token, TokenType

from connectors.capabilities import CAPABILITIES, RoleCapabilities, RoleReport

CURRENT_USER_SQL = "SELECT CURRENT_USER()"
SHOW_GRANTS_SQL = "SHOW GRANTS"
#: one statement for the session's read-only state (the name differs by flavor and version) and the FILE limit
VARIABLES_SQL = (
    "SHOW SESSION VARIABLES WHERE Variable_name IN ('tx_read_only', 'transaction_read_only', 'secure_file_priv')"
)

#: at most this many roles are read (one SET ROLE + SHOW GRANTS each on MariaDB); the rest count as unread
MAX_ROLES = 50
#: privileges that change data or schema wherever they are granted
WRITE = {
    "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX", "CREATE VIEW", "CREATE ROUTINE",
    "ALTER ROUTINE", "TRIGGER", "EVENT", "DELETE HISTORY", "CREATE TABLESPACE", "BINLOG REPLAY", "ALL",
}
#: global privileges and the capability each one gives (ALL on *.* gives every capability, SUPER most)
GLOBAL: dict[str, tuple[str, ...]] = {
    "ALL": CAPABILITIES,
    "SUPER": ("superuser", "can_signal_sessions", "can_change_settings"),
    "FILE": ("can_read_server_files", "can_write_server_files"),
    "CONNECTION ADMIN": ("can_signal_sessions",),
    "CONNECTION_ADMIN": ("can_signal_sessions",),
    "SYSTEM_VARIABLES_ADMIN": ("can_change_settings",),
    "RELOAD": ("can_change_settings",),
    "SHUTDOWN": ("can_change_settings",),
    "READ_ONLY ADMIN": ("can_change_settings",),
    "BINLOG ADMIN": ("can_change_settings",),
    "BINLOG_ADMIN": ("can_change_settings",),
    "REPLICATION MASTER ADMIN": ("can_change_settings",),
    "REPLICATION SLAVE ADMIN": ("can_change_settings",),
    "REPLICATION_SLAVE_ADMIN": ("can_change_settings",),
    "FEDERATED ADMIN": ("can_change_settings",),
    "CREATE USER": ("can_manage_roles",),
    "CREATE ROLE": ("can_manage_roles",),
    "DROP ROLE": ("can_manage_roles",),
    "ROLE_ADMIN": ("can_manage_roles",),
    "SET USER": ("can_manage_roles",),
    "SET_USER_ID": ("can_manage_roles",),
}
#: privileges that manage others wherever they are granted
MANAGE = {"PROXY", "GRANT OPTION"}
#: read-only privileges that still see more than the granted tables: named in the findings, no capability
READ_MORE = {
    "PROCESS": "sees every session's running statement",
    "REPLICATION SLAVE": "may stream the binary log, every change to every table",
    "REPLICATION CLIENT": "sees replication state",
    "SLAVE MONITOR": "sees replication state",
}


@dataclass(frozen=True)
class Grant:
    """One GRANT line: privileges on an object, or roles (`roles` set, `privileges` empty)."""

    privileges: tuple[str, ...] = ()
    target: str = ""
    roles: tuple[tuple[str, str | None], ...] = ()  # (name, host); MariaDB roles have no host
    grant_option: bool = False
    admin_option: bool = False

    @property
    def is_global(self) -> bool:
        return self.target == "*.*"


def parse_grant(line: str) -> Grant | None:
    """A SHOW GRANTS line as a Grant; None for lines that grant nothing (REVOKE lines of partial revokes)."""
    tokens = sqlglot.Dialect.get_or_raise("mysql").tokenize(line)
    if not tokens or tokens[0].token_type != TokenType.GRANT:
        return None
    body = tokens[1:]
    to_at = _keyword_at(body, "TO")
    if to_at is None:
        return None
    head, tail = body[:to_at], body[to_at + 1 :]
    tail_words = [t.text.upper() for t in tail if t.token_type not in (TokenType.STRING, TokenType.IDENTIFIER)]
    with_option = " ".join(tail_words)
    on_at = _keyword_at(head, "ON")
    if on_at is None:  # GRANT role[, role] TO account
        roles = tuple(_account(item) for item in _items(head))
        return Grant(roles=roles, admin_option="WITH ADMIN OPTION" in with_option)
    privileges = tuple(_privilege(item) for item in _items(head[:on_at]))
    return Grant(
        privileges=privileges,
        target=_object_name(head[on_at + 1 :]),
        grant_option="WITH GRANT OPTION" in with_option,
    )


def _keyword_at(tokens: list[Token], word: str) -> int | None:
    """Index of an unquoted keyword outside parentheses."""
    depth = 0
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and token.token_type not in (TokenType.IDENTIFIER, TokenType.STRING) and token.text.upper() == word:
            return i
    return None


def _items(tokens: list[Token]) -> Iterable[list[Token]]:
    """The comma-separated items outside parentheses, each as its tokens."""
    item: list[Token] = []
    depth = 0
    for token in tokens:
        if depth == 0 and token.token_type == TokenType.COMMA:
            yield item
            item = []
            continue
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
        item.append(token)
    if item:
        yield item


def _privilege(item: list[Token]) -> str:
    """'CREATE TEMPORARY TABLES'; a column list is dropped ('UPDATE (a, b)' -> 'UPDATE')."""
    words = []
    for token in item:
        if token.token_type == TokenType.L_PAREN:
            break
        words.append(token.text.upper())
    return " ".join(words)


def _account(item: list[Token]) -> tuple[str, str | None]:
    """(name, host) of a role written `role` or `role`@`host`."""
    at = next((i for i, t in enumerate(item) if t.token_type == TokenType.PARAMETER and t.text == "@"), None)
    if at is None:
        return "".join(t.text for t in item), None
    return "".join(t.text for t in item[:at]), "".join(t.text for t in item[at + 1 :])


def _object_name(tokens: list[Token]) -> str:
    """`*.*`, `db.*`, `db.t`, `PROCEDURE db.p` from the tokens between ON and TO."""
    plain = (TokenType.IDENTIFIER, TokenType.VAR, TokenType.STAR, TokenType.DOT, TokenType.PARAMETER)
    return "".join(
        f"'{t.text}'" if t.token_type == TokenType.STRING else t.text if t.token_type in plain else f"{t.text.upper()} "
        for t in tokens
    )


def granted_roles(grants: Iterable[Grant]) -> list[tuple[str, str | None]]:
    """(name, host) of each role granted to the account, in the order the server listed them."""
    seen: list[tuple[str, str | None]] = []
    for grant in grants:
        for role in grant.roles:
            if role not in seen:
                seen.append(role)
    return seen


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def set_role_sql(role: tuple[str, str | None]) -> str:
    """MariaDB: make a granted role active on the second connection, so SHOW GRANTS lists what it gives."""
    return f"SET ROLE {_quoted(role[0])}"


def show_grants_using_sql(roles: list[tuple[str, str | None]]) -> str:
    """MySQL 8: the account's grants with these roles' privileges expanded."""
    using = ", ".join(_quoted(name) + ("" if host is None else "@" + _quoted(host)) for name, host in roles)
    return f"SHOW GRANTS FOR CURRENT_USER() USING {using}"


def role_label(role: tuple[str, str | None]) -> str:
    name, host = role
    return name if host is None else f"{name}@{host}"


def read_role(
    principal: str | None,
    lines: Iterable[str],
    variables: Mapping[str, str | None],
    *,
    unread_roles: Iterable[str] = (),
) -> RoleCapabilities:
    """The capabilities the SHOW GRANTS lines (the account's and its roles') describe. A role in `unread_roles` may
    hold anything: then what no line grants stays unknown instead of False."""
    report = RoleReport(principal=principal)
    grants = [g for g in (parse_grant(line) for line in dict.fromkeys(lines)) if g is not None]
    if any(is_superuser(g) for g in grants):
        report.grant("superuser", "ALL PRIVILEGES on *.*")
        for capability in CAPABILITIES[1:]:
            report.grant(capability, "as ALL PRIVILEGES on *.*")
        _session(report, variables)
        return report.result()
    file_priv = variables.get("secure_file_priv")
    writes: list[str] = []
    for grant in grants:
        for role in grant.roles:
            if grant.admin_option:
                report.grant("can_manage_roles", f"may grant role {role_label(role)} to others (WITH ADMIN OPTION)")
        if grant.grant_option:
            report.grant("can_manage_roles", f"WITH GRANT OPTION on {grant.target}")
        for privilege in grant.privileges:
            name = "ALL" if privilege in ("ALL", "ALL PRIVILEGES") else privilege
            where = f"{'ALL PRIVILEGES' if name == 'ALL' else name} on {grant.target}"
            if grant.is_global and name in GLOBAL:
                for capability in GLOBAL[name]:
                    report.grant(capability, _with_file_limit(where, capability, file_priv))  # type: ignore[arg-type]
            if name in WRITE and not (grant.is_global and name == "ALL"):
                writes.append(where)
                if grant.is_global or grant.target.split(".")[0] == "mysql":  # the grant tables are in `mysql`
                    report.grant("can_manage_roles", f"{where}: may edit the grant tables")
            if name in MANAGE:
                report.grant("can_manage_roles", where)
            if name in READ_MORE:
                report.note(f"{where}: {READ_MORE[name]}")
            if name == "EXECUTE":
                report.note(f"{where}: stored routines run with their definer's privileges")
    report.grant_each("can_write", writes)
    unread = list(unread_roles)
    for role in unread:
        report.note(f"role {role}: its grants could not be read")
    if not unread:  # every grant was read: what none of them gives, the account does not hold
        report.deny(*CAPABILITIES)
    _session(report, variables)
    return report.result()


def is_superuser(grant: Grant) -> bool:
    """ALL PRIVILEGES on *.*: every privilege, every capability (its roles need not be read)."""
    return grant.is_global and any(p in ("ALL", "ALL PRIVILEGES") for p in grant.privileges)


def _session(report: RoleReport, variables: Mapping[str, str | None]) -> None:
    read_only = variables.get("transaction_read_only", variables.get("tx_read_only"))
    if read_only is None:
        return
    report.read_only_session = str(read_only).upper() in ("ON", "1")
    if report.read_only_session:
        report.note("session: SET SESSION TRANSACTION READ ONLY, every statement in START TRANSACTION READ ONLY")


def _with_file_limit(where: str, capability: str, file_priv: str | None) -> str:
    if capability not in ("can_read_server_files", "can_write_server_files") or file_priv is None:
        return where
    if file_priv == "":
        return f"{where} (secure_file_priv is empty: any file the server can reach)"
    return f"{where} (limited to secure_file_priv={file_priv})"

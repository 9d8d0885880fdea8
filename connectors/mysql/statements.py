"""How a guarded statement is prepared for the server: which flavor it is, its server-side timeout, its row limit.

MariaDB and MySQL differ in the timeout they offer:
- MariaDB (10.1+): `SET STATEMENT max_statement_time=<seconds> FOR <statement>` scopes the limit to this one
  statement (no session state to restore) and covers every statement kind; the server stops it with error 1969.
- MySQL (5.7.8+): the `max_execution_time` session variable (milliseconds) is the session-wide form of the
  `MAX_EXECUTION_TIME` optimizer hint and applies to read-only SELECT statements, including `WITH ... SELECT`, where a
  hint would have to be spliced into the right query block; the server stops them with error 3024. The connector sets
  it only when the value changes, so it costs no round trip in the common case.
Either way the connector also arms a client watchdog (`KILL QUERY`) a little after the timeout, for the statements a
server-side limit does not cover (MySQL `SHOW`, servers older than the limit).

Row limit: a SELECT without a LIMIT gets `LIMIT max_rows+1` appended, so the server stops producing rows, not just the
client reading them. Anything else (SHOW, DESCRIBE, a query with its own larger LIMIT) is read from an unbuffered
cursor and stopped with `KILL QUERY` once max_rows+1 rows have arrived.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

Flavor = Literal["mariadb", "mysql"]

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class ServerInfo:
    """What the handshake tells about the server, parsed once per connection."""

    flavor: Flavor
    version: tuple[int, int, int]
    version_string: str

    @classmethod
    def parse(cls, raw: str) -> "ServerInfo":
        """From the handshake's version string, e.g. '5.5.5-10.11.19-MariaDB-0+deb12u1' or '8.0.36'.

        MariaDB before 11.0 prefixes '5.5.5-' so that old MySQL clients accept it; the real version follows.
        """
        text = raw[len("5.5.5-") :] if raw.startswith("5.5.5-") else raw
        flavor: Flavor = "mariadb" if "mariadb" in raw.lower() else "mysql"
        match = _VERSION.search(text)
        version = (int(match[1]), int(match[2]), int(match[3])) if match else (0, 0, 0)
        return cls(flavor=flavor, version=version, version_string=text)

    @property
    def has_statement_timeout(self) -> bool:
        """MariaDB 10.1+ `max_statement_time`, MySQL 5.7.8+ `max_execution_time`."""
        if self.flavor == "mariadb":
            return self.version >= (10, 1, 0)
        return self.version >= (5, 7, 8)

    @property
    def quotes_column_defaults(self) -> bool:
        """MariaDB 10.2.7+ shows COLUMN_DEFAULT as SQL (`'text'`, `NULL`, `current_timestamp()`); MySQL shows raw values."""
        return self.flavor == "mariadb" and self.version >= (10, 2, 7)

    @property
    def has_check_constraints_table(self) -> bool:
        """information_schema.CHECK_CONSTRAINTS with TABLE_NAME (MariaDB 10.2.22+), used to find MariaDB JSON columns."""
        return self.flavor == "mariadb" and self.version >= (10, 2, 22)


def with_mariadb_timeout(sql: str, timeout_s: float) -> str:
    """The statement wrapped so MariaDB stops it after `timeout_s` seconds."""
    return f"SET STATEMENT max_statement_time={timeout_s:.3f} FOR {sql}"


def mysql_execution_time_ms(timeout_s: float | None) -> int:
    """The `max_execution_time` value for a timeout (0 = no limit)."""
    if not timeout_s:
        return 0
    return max(1, int(round(timeout_s * 1000)))


_TRAILING = re.compile(r"[\s;]+$")


def push_row_limit(sql: str, limit: int) -> tuple[str, bool]:
    """`(sql_to_run, pushed)`: the statement with `LIMIT limit` added when it is a query without a LIMIT.

    The LIMIT is appended as text (the statement is not regenerated, so nothing else about it changes) and the result
    is re-parsed to prove the LIMIT landed on the outermost query; when in doubt the statement is left alone and the
    caller stops the stream itself. A query whose own LIMIT is already <= `limit` counts as pushed.
    """
    try:
        tree = sqlglot.parse_one(sql, read="mysql")
    except SqlglotError:
        return sql, False
    if not isinstance(tree, exp.Query):
        return sql, False
    existing = tree.args.get("limit")
    if existing is not None:
        count = _literal_limit(existing)
        return sql, count is not None and count <= limit
    candidate = f"{_TRAILING.sub('', sql)}\nLIMIT {limit}"
    try:
        check = sqlglot.parse_one(candidate, read="mysql")
    except SqlglotError:
        return sql, False
    landed = check.args.get("limit") if isinstance(check, exp.Query) else None
    if landed is None or _literal_limit(landed) != limit:
        return sql, False
    return candidate, True


def _literal_limit(node: exp.Expression) -> int | None:
    value = node.expression if isinstance(node, exp.Limit) else None
    if isinstance(value, exp.Literal) and value.is_int:
        return int(value.this)
    return None


__all__ = ["Flavor", "ServerInfo", "mysql_execution_time_ms", "push_row_limit", "with_mariadb_timeout"]

"""Which ODBC driver to use and the connection string to give it.

pyodbc talks to SQL Server through an ODBC driver installed on the machine: Microsoft's "ODBC Driver 18/17 for SQL
Server" where the user has it (not packaged by Debian), else FreeTDS (`apt-get install tdsodbc`, what CI has). The two
spell some options differently, so the connection string is built per driver family:

| setting                   | Microsoft driver                        | FreeTDS 1.x                                   |
|---------------------------|-----------------------------------------|-----------------------------------------------|
| host, port                | `Server=tcp:host,port`                  | `Server=host;Port=port`                       |
| named instance            | `Server=host\\instance` (SQL Browser)    | `Server=host\\instance` (port not sent)        |
| encrypt                   | `Encrypt=yes/no`                        | `Encryption=require/request`                  |
| trust server certificate  | `TrustServerCertificate=yes/no`         | not a connection-string option (see below)    |
| read-only routing         | `ApplicationIntent=ReadOnly`            | `ApplicationIntent=ReadOnly`                  |

FreeTDS only verifies the server certificate when a `ca file` is configured in freetds.conf; without one it encrypts
but does not verify, whatever `trust_server_certificate` says. The builder records that in `tls_verified=False`.

Values are wrapped in braces when they contain `;`, `{`, `}` or edge spaces (ODBC's quoting rule), so a password such
as `a;b}c` cannot inject another keyword.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from connectors.credentials import SQLServerCredentials
from connectors.errors import UnsupportedError

#: best first; any other driver whose name mentions SQL Server comes after these
PREFERRED_DRIVERS = (
    "ODBC Driver 18 for SQL Server",
    "ODBC Driver 17 for SQL Server",
    "FreeTDS",
)
FREETDS_TDS_VERSION = "7.4"  # SQL Server 2012+; needed for datetime2, date, time and MARS-free modern logins
APPLICATION_NAME = "analyst-taskpack"


class MissingODBCDriverError(UnsupportedError):
    """No usable SQL Server ODBC driver is installed (pyodbc itself is)."""

    code = "missing_odbc_driver"


def choose_driver(available: Iterable[str], requested: str | None = None) -> str:
    """The ODBC driver to use: the requested one if installed, else the best installed SQL Server driver."""
    installed = list(available)
    if requested:
        if requested in installed:
            return requested
        raise MissingODBCDriverError(
            f"the ODBC driver {requested!r} named in the credentials is not installed; installed drivers: "
            f"{', '.join(installed) or 'none'}",
            details={"requested": requested, "installed": installed},
        )
    for name in PREFERRED_DRIVERS:
        if name in installed:
            return name
    for name in installed:
        if "sql server" in name.lower() or "freetds" in name.lower():
            return name
    raise MissingODBCDriverError(
        "no SQL Server ODBC driver is installed: install Microsoft's 'ODBC Driver 18 for SQL Server' or FreeTDS "
        "(Debian: apt-get install tdsodbc)"
        + (f"; installed ODBC drivers: {', '.join(installed)}" if installed else ""),
        details={"installed": installed},
    )


def is_freetds(driver: str) -> bool:
    return "freetds" in driver.lower() or "tdsodbc" in driver.lower()


def odbc_value(value: str) -> str:
    """An ODBC connection-string value, braced when it holds characters that would end or confuse it."""
    if any(ch in value for ch in ";{}") or value != value.strip() or value.startswith("="):
        return "{" + value.replace("}", "}}") + "}"
    return value


@dataclass(frozen=True)
class ConnectionString:
    """The pieces of an ODBC connection string; `render()` is the only place the password is put in."""

    driver: str
    pairs: tuple[tuple[str, str], ...]
    password: str | None = field(default=None, repr=False)
    tls_verified: bool = True

    def render(self) -> str:
        items = [("DRIVER", self.driver), *self.pairs]
        if self.password is not None:
            items.append(("PWD", self.password))
        return ";".join(f"{k}={odbc_value(v)}" for k, v in items) + ";"

    def redacted(self) -> str:
        """The string as it may appear in a log: the password masked."""
        items = [("DRIVER", self.driver), *self.pairs]
        if self.password is not None:
            items.append(("PWD", "**********"))
        return ";".join(f"{k}={odbc_value(v)}" for k, v in items) + ";"


def build_connection_string(credentials: SQLServerCredentials, driver: str) -> ConnectionString:
    """The connection string for these credentials and this driver (see the module docstring for the mapping)."""
    c = credentials
    port_given = "port" in c.model_fields_set and c.port is not None
    pairs: list[tuple[str, str]] = []
    tls_verified = True
    if is_freetds(driver):
        if c.instance and not port_given:
            pairs.append(("Server", f"{c.host}\\{c.instance}"))
        else:  # FreeTDS takes a port or an instance, not both: an explicit port wins
            pairs += [("Server", c.host), ("Port", str(c.port or 1433))]
        pairs += [
            ("Database", c.database),
            ("UID", c.username),
            ("TDS_Version", FREETDS_TDS_VERSION),
            ("ClientCharset", "UTF-8"),
            ("Encryption", "require" if c.encrypt else "request"),
            ("ApplicationIntent", "ReadOnly"),
            ("APP", APPLICATION_NAME),
        ]
        tls_verified = False
    else:
        if c.instance:
            server = f"{c.host}\\{c.instance}" + (f",{c.port}" if port_given else "")
        else:
            server = f"tcp:{c.host},{c.port or 1433}"
        pairs += [
            ("Server", server),
            ("Database", c.database),
            ("UID", c.username),
            ("Encrypt", "yes" if c.encrypt else "no"),
            ("TrustServerCertificate", "yes" if c.trust_server_certificate else "no"),
            ("ApplicationIntent", "ReadOnly"),
            ("APP", APPLICATION_NAME),
        ]
        tls_verified = c.encrypt and not c.trust_server_certificate
    password = c.password.get_secret_value() if c.password is not None else None
    return ConnectionString(driver=driver, pairs=tuple(pairs), password=password, tls_verified=tls_verified)

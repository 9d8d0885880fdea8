"""What a DuckDB connection may do beyond reading, read from the live connection rather than from what the sandbox
meant to set up.

DuckDB has no users: it is a library in the worker's process, so the "role" is the worker's operating-system user
(the principal) plus what the connection's own settings let SQL reach. The report asks the connection, at
`test_connection()`, for `enable_external_access`, `lock_configuration`, `allowed_paths`, `allowed_directories` and
the attached databases (`duckdb_databases()`), and the operating system whether the worker's user may write the
source's files:

- `read_only_session`: every file-backed database is attached READ_ONLY and external access is off. Like a
  PostgreSQL read-only transaction it is the session's own defence, not a privilege: with the SQL guard bypassed,
  `ATTACH ':memory:' AS m; USE m; DETACH <db>; ATTACH '<db file>'` opens the file again read-write (DuckDB keeps an
  attached file on `allowed_paths` after external access is cut), and `COPY ... TO '<listed file>' (USE_TMP_FILE
  false)` overwrites a Parquet/CSV file the source lists. So:
- `can_write`: True when the worker's user may write the database file or a listed file (the file's permissions are
  what remains beneath the session, as a PostgreSQL role's grants are), or when another file-backed database is
  attached read-write; False when none of them is writable. The remedy is the README's: make the files read-only
  for the worker's user. A process running as root may write every file.
- `can_read_server_files`, `can_write_server_files`, `can_run_server_programs` (INSTALL/LOAD of extensions): True
  with external access on; with it off, True only when the connection may still reach a directory other than its
  own private spill directory, or a path other than the source's own files; else False.
- `can_change_settings`: False once `lock_configuration` is on, else True.
- `superuser`, `can_signal_sessions`, `can_manage_roles`: False (no users, no roles, no other sessions).

A read-only, locked connection to files the worker's user cannot write is therefore `read_only=True`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.capabilities import RoleCapabilities, RoleReport
from connectors.duckdb.sandbox import Sandbox

SETTINGS_SQL = (
    "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'),"
    " current_setting('allowed_paths'), current_setting('allowed_directories')"
)
DATABASES_SQL = "SELECT database_name, path, readonly FROM duckdb_databases() WHERE NOT internal ORDER BY database_name"
#: files DuckDB keeps beside a database file and puts on allowed_paths with it
WAL_SUFFIX = ".wal"


@dataclass(frozen=True)
class ConnectionState:
    """What the live connection says about itself."""

    external_access: bool
    configuration_locked: bool
    allowed_paths: tuple[str, ...]
    allowed_directories: tuple[str, ...]
    #: (name, path or None for an in-memory database, read-only), internal databases (system, temp) left out
    databases: tuple[tuple[str, str | None, bool], ...]

    @classmethod
    def from_rows(cls, settings: tuple[Any, ...], databases: list[tuple[Any, ...]]) -> "ConnectionState":
        external, locked, paths, directories = settings
        return cls(
            external_access=_flag(external),
            configuration_locked=_flag(locked),
            allowed_paths=tuple(paths or ()),
            allowed_directories=tuple(directories or ()),
            databases=tuple((str(name), path, bool(readonly)) for name, path, readonly in databases),
        )


def os_user() -> str:
    """The worker's effective operating-system user: who DuckDB acts as."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):  # no pwd module (Windows) or a uid without a name
        import getpass

        return getpass.getuser()


def may_write(path: Path) -> bool:
    """Whether the worker's user may open `path` for writing (root may write any file, whatever its mode)."""
    effective = os.access in os.supports_effective_ids
    return os.access(path, os.W_OK, effective_ids=effective)


def read_role(state: ConnectionState, sandbox: Sandbox, principal: str | None = None) -> RoleCapabilities:
    """The capabilities of a connection in `state`, opened by `sandbox` (module docstring)."""
    user = principal or os_user()
    report = RoleReport(principal=user)
    own_database = next((db for db in state.databases if db[0] == sandbox.database), None)
    database_path = Path(own_database[1]) if own_database and own_database[1] else None
    _file_writes(report, state, sandbox, database_path, user)
    _file_access(report, state, sandbox, database_path)
    if state.configuration_locked:
        report.deny("can_change_settings")
    else:
        report.grant("can_change_settings", "lock_configuration is off: SET may change the connection's settings")
    report.deny("superuser", "can_signal_sessions", "can_manage_roles")
    report.note("no users, roles or other sessions: DuckDB runs inside the worker's process as its OS user")
    file_backed = [db for db in state.databases if db[1]]
    report.read_only_session = bool(all(readonly for _, _, readonly in file_backed) and not state.external_access)
    if own_database is not None and own_database[2]:
        report.note(f"session: database {own_database[0]} attached READ_ONLY")
    return report.result()


def _file_writes(
    report: RoleReport, state: ConnectionState, sandbox: Sandbox, database_path: Path | None, user: str
) -> None:
    if database_path is not None and may_write(database_path):
        report.grant("can_write", f"database file {database_path} (writable by OS user {user})")
        report.note(
            "can_write: the session attaches the database file READ_ONLY, but past the SQL guard a statement could "
            "detach it and attach it again read-write; make the file read-only for the worker's OS user"
        )
    writable_files = [(view, path) for view, path in sorted(sandbox.files.items()) if may_write(path)]
    for view, path in writable_files:
        report.grant("can_write", f"file {path} of view {view} (writable by OS user {user})")
    if writable_files:
        report.note(
            "can_write: past the SQL guard, COPY ... TO could overwrite a listed file; make the listed files read-only "
            "for the worker's OS user"
        )
    for name, path, readonly in state.databases:
        if path and not readonly:
            report.grant("can_write", f"database {name} ({path}) attached read-write")
        elif not path and not readonly:
            report.note(f"database {name} is in memory: writable scratch that nothing keeps")
    report.deny("can_write")


def _file_access(report: RoleReport, state: ConnectionState, sandbox: Sandbox, database_path: Path | None) -> None:
    if state.external_access:
        for capability, what in (
            ("can_read_server_files", "read any file the worker can (read_csv, read_text, ATTACH)"),
            ("can_write_server_files", "write any file the worker can (COPY ... TO, EXPORT DATABASE)"),
            ("can_run_server_programs", "install and load extensions (native code)"),
        ):
            report.grant(capability, f"enable_external_access is on: SQL may {what}")
        return
    own_files = {str(path) for path in sandbox.files.values()}
    foreign_paths = [
        p for p in state.allowed_paths if p not in own_files and not _belongs_to_database(p, database_path)
    ]
    foreign_directories = [d for d in state.allowed_directories if not _same_directory(d, sandbox.temp_directory)]
    for place in [*foreign_paths, *foreign_directories]:
        reason = f"DuckDB still lets SQL reach {place} (allowed_paths / allowed_directories) with external access off"
        report.grant("can_read_server_files", reason)
        report.grant("can_write_server_files", reason)
    report.deny("can_read_server_files", "can_write_server_files", "can_run_server_programs")
    report.note("external access off: no other file, no network, no extension")


def _belongs_to_database(path: str, database_path: Path | None) -> bool:
    """The database file itself and the WAL files DuckDB keeps beside it (`.wal`, `.wal.recovery`, ...)."""
    if database_path is None:
        return False
    base = str(database_path)
    return path == base or path.startswith(base + WAL_SUFFIX)


def _same_directory(reported: str, directory: Path) -> bool:
    return Path(reported).resolve() == directory.resolve()


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1")


__all__ = ["ConnectionState", "DATABASES_SQL", "SETTINGS_SQL", "may_write", "os_user", "read_role"]

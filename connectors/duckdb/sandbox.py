"""The DuckDB connection every query runs on: the database file read-only, the listed files as views, nothing else.

DuckDB is a library inside the worker's process, so whatever SQL it runs, it runs with the worker's own access to
the machine: `read_text('/etc/passwd')`, `COPY ... TO`, `ATTACH`, `INSTALL` would all work on a default connection.
The SQL guard refuses those statements; this connection does not need the guard to stay closed:

1. a fresh in-memory DuckDB instance (the driver shares one instance between every `duckdb.connect(path)` of the
   same file in a process, settings included, so a file is never connected to directly), with extension
   autoloading and autoinstalling, community extensions and persistent secrets off from the start;
2. the database file attached `READ_ONLY` and made the default (`USE`), then the empty in-memory database detached,
   so there is no writable database left (only `temp`, which holds this connection's own views);
3. one temporary view per `files` entry (`read_parquet` / `read_csv` / `read_json` by suffix), created while files
   can still be read; a view may not hide a table or view of the database's `main` schema;
4. `allowed_paths` set to exactly those files (DuckDB still reads them for the views after the next step), then
   `enable_external_access = false`: no other file, no network, no extension can be reached from SQL;
5. `lock_configuration = true`: no `SET` can undo any of it, for the life of the connection.

A source with `files` and no `path` keeps the in-memory database as its (empty) default: DuckDB cannot attach an
in-memory database read-only. Its views live in `temp` all the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from connectors.base import close_quietly
from connectors.credentials import CredentialsError, DuckDBCredentials, duckdb_file_reader
from connectors.duckdb.errors import map_error, map_file_error
from connectors.duckdb.statements import allowed_paths_sql, attach_sql, file_view_sql, identifier
from connectors.errors import NotFoundError

log = logging.getLogger("connectors.duckdb")

#: settings DuckDB takes only when the instance starts
STARTUP_CONFIG: dict[str, object] = {
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "allow_persistent_secrets": False,
}
#: catalog names DuckDB reserves; a file named like one is attached under `<stem>_db`
RESERVED_CATALOGS = frozenset({"memory", "temp", "system", "main"})
#: the catalog holding the `files` views
FILES_CATALOG = "temp"


@dataclass(frozen=True)
class Sandbox:
    """An open, locked connection and what it exposes."""

    connection: duckdb.DuckDBPyConnection
    #: the catalog name of the attached database file, None for a files-only source
    database: str | None
    #: view name -> the file it reads
    files: dict[str, Path]

    @property
    def catalogs(self) -> list[str]:
        """The DuckDB catalogs the source's tables live in."""
        return ([self.database] if self.database else []) + ([FILES_CATALOG] if self.files else [])


def database_alias(path: Path) -> str:
    """The catalog name the file is attached as: its stem, as DuckDB itself would pick, unless DuckDB reserves it."""
    stem = path.name.split(".", 1)[0] or "database"
    return f"{stem}_db" if stem.lower() in RESERVED_CATALOGS else stem


def resolve_file(path: str, what: str) -> Path:
    """The absolute path of an existing regular file, or NotFoundError naming `what` it was meant to be."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        reason = "is a directory" if resolved.is_dir() else "does not exist"
        raise NotFoundError(f"{what} {resolved} {reason}", details={"path": str(resolved)})
    return resolved


def open_sandbox(credentials: DuckDBCredentials) -> Sandbox:
    """Open and lock the connection (module docstring); a typed error, and nothing left open, on any failure."""
    database_path = resolve_file(credentials.path, "DuckDB database file") if credentials.path else None
    files = {view: resolve_file(path, f"file for view {view!r}:") for view, path in credentials.files.items()}
    try:
        conn = duckdb.connect(":memory:", config=dict(STARTUP_CONFIG))
    except duckdb.Error as exc:
        raise map_error(exc, opening=True) from None
    try:
        database = _seal(conn, database_path, files)
    except duckdb.Error as exc:
        close_quietly(conn)
        raise map_error(exc, opening=True) from None
    except BaseException:
        close_quietly(conn)
        raise
    log.info("duckdb sandbox opened", extra={"source": "duckdb", "database": database, "file_views": len(files)})
    return Sandbox(connection=conn, database=database, files=files)


def _seal(conn: duckdb.DuckDBPyConnection, database_path: Path | None, files: dict[str, Path]) -> str | None:
    """Steps 2-5 of the module docstring on a fresh connection; the attached database's catalog name."""
    conn.execute("SET enable_progress_bar = false")  # it prints to the worker's terminal and slows interrupts
    database = None
    if database_path is not None:
        database = database_alias(database_path)
        conn.execute(attach_sql(database_path, database))
        conn.execute(f"USE {identifier(database)}")
        conn.execute("DETACH memory")
        _refuse_hidden_relations(conn, database, list(files))
    for view, path in files.items():
        try:
            conn.execute(file_view_sql(view, path, duckdb_file_reader(path.name) or "read_csv"))
        except duckdb.Error as exc:
            raise map_file_error(exc, view=view, path=path) from None
    if files:
        conn.execute(allowed_paths_sql(list(files.values())))
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")
    return database


def _refuse_hidden_relations(conn: duckdb.DuckDBPyConnection, database: str, views: list[str]) -> None:
    """CredentialsError when a `files` view would hide a table or view of the database's main schema: a temporary
    view wins name resolution, so queries meant for the table would silently read the file."""
    if not views:
        return
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = $db AND schema_name = 'main'"
        " UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = $db AND schema_name = 'main'",
        {"db": database},
    ).fetchall()
    existing = {name.lower() for (name,) in rows}
    hidden = sorted(view for view in views if view.lower() in existing)
    if hidden:
        raise CredentialsError(
            f"files view name(s) {', '.join(hidden)} would hide the database's own main.{hidden[0]}; choose other names",
            details={"errors": [{"field": "files", "message": f"view {name!r} hides a relation of the database"} for name in hidden]},
        )


__all__ = ["FILES_CATALOG", "Sandbox", "database_alias", "open_sandbox"]
